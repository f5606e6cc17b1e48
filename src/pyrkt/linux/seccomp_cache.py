"""A cache of compiled seccomp programs, shared by every runtime process on the host.

Compiling podman's default profile (376 names) costs ~18 ms per container:
~9 ms of libseccomp rule building and ~9 ms of BPF generation. Yet nearly every
container carries one of a handful of profiles (podman's, containerd's, rkt's
default whitelist for every pod app), so :func:`cached_program` keeps each
compiled :class:`~pyrkt.linux.seccomp.BpfProgram` in a file and a later runtime
reads it back instead: no libseccomp (not even ``ctypes``) is loaded on a hit.

The key is the sha256 of

- :data:`FORMAT_VERSION` (bumped whenever the file format or the compiler's
  behaviour changes),
- the identity of the ``libseccomp.so.2`` the dynamic loader would map (its
  real path, which names the version, e.g. ``libseccomp.so.2.5.4``, plus device,
  inode, size and mtime: an upgrade or a rebuilt library is a new key), found
  by looking at the files, never by loading it,
- the native architecture (``uname -m`` and the interpreter's multiarch triple:
  libseccomp's "native" is the library's own ABI) and the kernel release
  (libseccomp probes the kernel's API level),
- the ``linux.seccomp`` object serialised canonically (JSON, sorted keys, no
  whitespace). Only objects made of exact JSON types are cached: a tuple or a
  non-string key would serialise like a list or a string that validation
  treats differently, so such a profile is just compiled.

A profile with SCMP_ACT_NOTIFY rules is cached like any other: the entry keeps
the program's flags, SECCOMP_FILTER_FLAG_NEW_LISTENER among them, so a hit loads
the filter with its listener exactly as a miss does; ``listenerPath`` and
``listenerMetadata`` are part of the key (a hit needs no validation of them).

A bad profile never reaches the cache: a miss compiles (validating it, with the
same errors as without a cache) before anything is written, and a hit can only
come from a profile that compiled. A hit gives byte for byte the program a miss
gives (the file holds the exported program itself, with a checksum).

Where: :data:`DEFAULT_DIR` (``/run/pyrkt/seccomp``, created 0700 on demand),
or ``$PYRKT_SECCOMP_CACHE`` (empty: no cache), or the ``cache_dir`` argument.
The directory is used only if it is a real directory (opened with
``O_NOFOLLOW``, so not a symlink) owned by our effective uid with no group or
other write bit: anyone else able to write there could hand every container a
filter of their choosing. Otherwise the program is compiled, silently, as
without a cache. Any failure to read or write an entry is likewise a miss.
"""

from __future__ import annotations

import os
import sys

from pyrkt.linux.seccomp import BpfProgram, compile_program

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

__all__ = ["DEFAULT_DIR", "ENV", "FORMAT_VERSION", "cache_key", "cached_program", "read_entry", "write_entry"]

#: bumped whenever the entry format, the key or compile_program's output changes
FORMAT_VERSION = 3  # 2: syscalls above the profile's newest get ENOSYS; 3: NOTIFY rules (flag NEW_LISTENER)
DEFAULT_DIR = "/run/pyrkt/seccomp"
#: overrides DEFAULT_DIR; set but empty disables the cache
ENV = "PYRKT_SECCOMP_CACHE"

# An entry: MAGIC, flags (u32 LE), instruction count (u32 LE), sha256 of the
# program, then the program; 48 bytes of header, a whole number of instructions.
_MAGIC = b"PYRKTBPF"
_HEADER = len(_MAGIC) + 4 + 4 + 32
_INSN = 8  # sizeof(struct sock_filter)
_MAX_INSNS = 0xFFFF  # what syscalls.seccomp_set_mode_filter accepts (the kernel takes up to 4096)
_KNOWN_FLAGS = 15  # TSYNC | LOG | SPEC_ALLOW | NEW_LISTENER: what compile_program can produce

_LIBRARY = "libseccomp.so.2"


def _sha256(data: bytes) -> bytes:
    """sha256 from the built-in ``_sha256`` module: ``hashlib`` pulls in OpenSSL's
    ``_hashlib`` (~2 ms of imports on this start-up path)."""
    try:
        from _sha256 import sha256  # type: ignore[import-not-found,unused-ignore]
    except ImportError:  # pragma: no cover - Python 3.12+ renamed it _sha2
        from hashlib import sha256
    return sha256(data).digest()  # type: ignore[no-any-return]


# --------------------------------------------------------------------------
# the key
# --------------------------------------------------------------------------


def _json_native(obj: Any) -> bool:
    """True if ``obj`` is made of exact JSON types only (dicts with str keys, lists,
    str, int, bool, float, None), i.e. if its JSON text determines it."""
    t = type(obj)
    if t is dict:
        for k, v in obj.items():
            if type(k) is not str or not _json_native(v):
                return False
        return True
    if t is list:
        for v in obj:
            if not _json_native(v):
                return False
        return True
    return t is str or t is int or t is bool or t is float or obj is None


def _canonical(obj: Any) -> bytes:
    """json.dumps(obj, sort_keys=True, separators=(",", ":")), on ``_json``'s C encoder
    alone (``import json`` costs ~8 ms; see pyrkt.fastjson)."""
    try:
        import _json
    except ImportError:  # pragma: no cover - CPython always has it
        import json

        return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()

    def default(o: object) -> object:
        raise TypeError(f"Object of type {o.__class__.__name__} is not JSON serializable")

    enc = _json.make_encoder({}, default, _json.encode_basestring_ascii, None, ":", ",", True, False, True)
    return "".join(enc(obj, 0)).encode()


def _library_candidates() -> list[str]:
    """Where the dynamic loader would find libseccomp.so.2: LD_LIBRARY_PATH, then the
    usual Debian/multiarch directories in ld.so.conf's order, then the defaults."""
    dirs = [d for d in os.environ.get("LD_LIBRARY_PATH", "").split(":") if d]
    triple = getattr(sys.implementation, "_multiarch", "")
    if triple:
        dirs += [f"/usr/local/lib/{triple}", "/usr/local/lib", f"/lib/{triple}", f"/usr/lib/{triple}"]
    else:  # pragma: no cover - every Debian python has a triple
        dirs.append("/usr/local/lib")
    dirs += ["/lib64", "/usr/lib64", "/lib", "/usr/lib"]
    return [d + "/" + _LIBRARY for d in dirs]


def _library_identity() -> str | None:
    """The libseccomp the loader would map, as ``realpath dev ino size mtime``; None
    if not found (then nothing is cached: a miss would fail anyway)."""
    for path in _library_candidates():
        try:
            st = os.stat(path)  # most candidates are missing: one failed stat each
        except OSError:
            continue
        return f"{os.path.realpath(path)} {st.st_dev} {st.st_ino} {st.st_size} {st.st_mtime_ns}"
    return None


def _loaded_library_identity() -> str | None:
    """The libseccomp this process has really mapped (from /proc/self/maps), in the
    form of :func:`_library_identity`: an entry is written only if the two agree,
    so a key never names a library other than the one that compiled it."""
    try:
        with open("/proc/self/maps", "rb") as f:
            maps = f.read()
    except OSError:
        return None
    for line in maps.split(b"\n"):
        path = line.split(None, 5)[5:]
        if path and b"/" + _LIBRARY.encode() in path[0]:
            try:
                real = os.path.realpath(os.fsdecode(path[0].strip()))
                st = os.stat(real)
            except OSError:
                return None
            return f"{real} {st.st_dev} {st.st_ino} {st.st_size} {st.st_mtime_ns}"
    return None


def cache_key(seccomp: Any, library: str | None = None) -> str | None:
    """The entry name (64 hex digits) for a ``linux.seccomp`` object, or None when the
    object cannot be cached (not exact JSON types, no libseccomp found)."""
    if not _json_native(seccomp):
        return None
    if library is None:
        library = _library_identity()
        if library is None:
            return None
    uts = os.uname()
    triple = getattr(sys.implementation, "_multiarch", "")
    head = f"pyrkt-seccomp {FORMAT_VERSION}\0{library}\0{uts.machine} {triple} {uts.release}\0"
    return _sha256(head.encode() + _canonical(seccomp)).hex()


# --------------------------------------------------------------------------
# the directory and its entries
# --------------------------------------------------------------------------


def _cache_dir(cache_dir: str | None) -> str | None:
    if cache_dir is not None:
        return cache_dir or None
    env = os.environ.get(ENV)
    if env is not None:
        return env or None
    return DEFAULT_DIR


def _open_dir(path: str, create: bool) -> int | None:
    """A read-only fd on the cache directory if it is safe to use, else None.

    Opened with O_NOFOLLOW|O_DIRECTORY (a symlink fails: ELOOP/ENOTDIR) and
    checked on the fd itself, so nothing can be swapped in between the check
    and the use: owned by our euid, no group/other write bit.
    """
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        if not create:
            return None
        try:
            parent = os.path.dirname(path.rstrip("/"))
            if parent and not os.path.isdir(parent):
                os.makedirs(parent, mode=0o700, exist_ok=True)
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass
        except OSError:
            return None
        try:
            fd = os.open(path, flags)
        except OSError:
            return None
    except OSError:
        return None
    st = os.fstat(fd)
    if st.st_uid != os.geteuid() or st.st_mode & 0o022:
        os.close(fd)
        return None
    return fd


def _decode(data: bytes) -> BpfProgram | None:
    """The program in an entry, or None if the entry is not a well-formed one."""
    if len(data) <= _HEADER or (len(data) - _HEADER) % _INSN or data[: len(_MAGIC)] != _MAGIC:
        return None
    flags = int.from_bytes(data[8:12], "little")
    count = int.from_bytes(data[12:16], "little")
    code = data[_HEADER:]
    if flags & ~_KNOWN_FLAGS or count != len(code) // _INSN or not 0 < count <= _MAX_INSNS:
        return None
    if _sha256(code) != data[16:_HEADER]:
        return None
    return BpfProgram(code, flags)


def _encode(program: BpfProgram) -> bytes:
    code = program.code
    head = _MAGIC + program.flags.to_bytes(4, "little") + (len(code) // _INSN).to_bytes(4, "little")
    return head + _sha256(code) + code


def read_entry(dir_fd: int, key: str) -> BpfProgram | None:
    """The entry ``<key>.bpf`` in the directory, or None (missing, not a regular
    file, a symlink, torn or corrupt: the caller compiles and rewrites it)."""
    try:
        fd = os.open(key + ".bpf", os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        limit = _HEADER + _MAX_INSNS * _INSN
        if (st.st_mode & 0o170000) != 0o100000 or st.st_size > limit:
            return None
        data = os.read(fd, limit + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    return _decode(data)


def write_entry(dir_fd: int, key: str, program: BpfProgram) -> None:
    """Store ``program`` as ``<key>.bpf``: a temporary file in the same directory,
    written, then renamed over the name, so a reader sees either no entry, the old
    one or the whole new one, and concurrent writers of one key (identical content)
    just replace each other.

    No fsync: the default directory is normally on tmpfs (/run), where there is no
    disk to sync to and nothing survives a reboot; on a disk-backed /run (this
    project's VM has one) or override, a crash can
    leave a torn or empty entry, which the header and checksum reject and the next
    runtime rewrites. Errors (a full or read-only file system) are ignored: the
    caller already has its program.
    """
    tmp = f".{key}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=dir_fd)
    except OSError:
        return
    try:
        try:
            data = _encode(program)
            while data:
                data = data[os.write(fd, data):]
        finally:
            os.close(fd)
        os.rename(tmp, key + ".bpf", src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except OSError:
        try:
            os.unlink(tmp, dir_fd=dir_fd)
        except OSError:
            pass


def cached_program(seccomp: dict[str, Any], cache_dir: str | None = None) -> BpfProgram:
    """:func:`~pyrkt.linux.seccomp.compile_program`, with the result kept across runs.

    ``cache_dir`` overrides ``$PYRKT_SECCOMP_CACHE`` and :data:`DEFAULT_DIR`
    (``""``: no cache). Raises :class:`~pyrkt.linux.seccomp.SeccompError` exactly
    as compile_program does, and caches nothing then.
    """
    path = _cache_dir(cache_dir)
    if path is None:
        return compile_program(seccomp)
    library = _library_identity()
    key = cache_key(seccomp, library) if library is not None else None
    if key is None:
        return compile_program(seccomp)
    dir_fd = _open_dir(path, create=False)
    try:
        if dir_fd is not None:
            hit = read_entry(dir_fd, key)
            if hit is not None:
                return hit
        program = compile_program(seccomp)  # raises for a bad profile: nothing is written
        if _loaded_library_identity() != library:
            return program  # the loader mapped another libseccomp than the key names
        if dir_fd is None:
            dir_fd = _open_dir(path, create=True)
            if dir_fd is None:
                return program
        write_entry(dir_fd, key, program)
        return program
    finally:
        if dir_fd is not None:
            os.close(dir_fd)
