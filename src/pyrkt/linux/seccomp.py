"""OCI ``linux.seccomp`` through libseccomp, via ctypes.

:func:`compile_filter` validates the whole ``linux.seccomp`` object and
builds the libseccomp filter context up front, so a bad profile fails
``create`` with a message naming the field, before any process exists.
:meth:`SeccompFilter.load` then installs it in the calling process.

The runtime compiles a profile once, in the parent, with
:func:`compile_program`: the result, a :class:`BpfProgram`, is the BPF
program libseccomp exports plus the kernel's filter flags, and is loaded in
the container's init (or an exec'd process) with the bare ``seccomp(2)``
system call -- no libseccomp call there, and no second ~10 ms compile. The
process loads it before dropping capabilities when ``noNewPrivileges`` is
false (the kernel then wants CAP_SYS_ADMIN), else last, right before
``execve``; neither loader ever turns ``no_new_privs`` on (runc doesn't
either: the runtime decides).

``libseccomp.so.2`` is opened by soname on first use (never with
``ctypes.util.find_library``, which forks ``ldconfig``), and ``ctypes`` itself
is imported only then: configs without seccomp pay nothing.

Behaviour follows runc where the spec leaves room: a syscall name this
libseccomp does not know is skipped (and listed in
:attr:`SeccompFilter.skipped`); a rule whose action equals the default action
is skipped (libseccomp refuses it and it would change nothing); conditions on
the same argument index are added as separate rules (OR), others in one rule
(AND); ``errnoRet`` defaults to EPERM.

Seccomp user notification (``SCMP_ACT_NOTIFY``, the runtime spec's
``listenerPath``): a profile with a NOTIFY rule compiles to a program whose
flags carry SECCOMP_FILTER_FLAG_NEW_LISTENER, so :meth:`BpfProgram.load`
returns the listener's fd, which the runtime hands to the agent
(:mod:`pyrkt.oci.seccomp_notify`). As runc: NOTIFY needs ``listenerPath``, is
refused as the default action and for ``write`` (the process that loads the
filter must still be able to report the fd to the runtime).
"""

from __future__ import annotations

import errno
import os

from pyrkt.linux import syscalls

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

__all__ = ["SeccompError", "SeccompFilter", "BpfProgram", "compile_filter", "compile_program", "features", "libseccomp_version", "ACTIONS", "ARCHES", "OPERATORS", "FLAGS"]


class SeccompError(Exception):
    """An invalid or unsupported seccomp profile, or a libseccomp failure."""


# libseccomp action values (seccomp.h); ERRNO and TRACE carry a 16-bit data
_ACT_KILL_PROCESS = 0x80000000
_ACT_KILL_THREAD = 0x00000000
_ACT_TRAP = 0x00030000
_ACT_ERRNO = 0x00050000
_ACT_TRACE = 0x7FF00000
_ACT_LOG = 0x7FFC0000
_ACT_ALLOW = 0x7FFF0000
_ACT_NOTIFY = 0x7FC00000

ACTIONS: dict[str, int] = {
    "SCMP_ACT_KILL": _ACT_KILL_THREAD,
    "SCMP_ACT_KILL_THREAD": _ACT_KILL_THREAD,
    "SCMP_ACT_KILL_PROCESS": _ACT_KILL_PROCESS,
    "SCMP_ACT_TRAP": _ACT_TRAP,
    "SCMP_ACT_ERRNO": _ACT_ERRNO,
    "SCMP_ACT_TRACE": _ACT_TRACE,
    "SCMP_ACT_ALLOW": _ACT_ALLOW,
    "SCMP_ACT_LOG": _ACT_LOG,
    "SCMP_ACT_NOTIFY": _ACT_NOTIFY,
}
_WITH_ERRNO = ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE")

# enum scmp_compare
OPERATORS: dict[str, int] = {
    "SCMP_CMP_NE": 1,
    "SCMP_CMP_LT": 2,
    "SCMP_CMP_LE": 3,
    "SCMP_CMP_EQ": 4,
    "SCMP_CMP_GE": 5,
    "SCMP_CMP_GT": 6,
    "SCMP_CMP_MASKED_EQ": 7,
}

# OCI architecture names → libseccomp names (seccomp_arch_resolve_name)
ARCHES: dict[str, str] = {
    "SCMP_ARCH_" + n.upper(): n
    for n in (
        "x86", "x86_64", "x32", "arm", "aarch64", "mips", "mips64", "mips64n32", "mipsel",
        "mipsel64", "mipsel64n32", "ppc", "ppc64", "ppc64le", "s390", "s390x", "parisc",
        "parisc64", "riscv64", "loongarch64", "m68k", "sh", "sheb",
    )
}

# enum scmp_filter_attr
_ATTR_ACT_DEFAULT = 1
_ATTR_CTL_NNP = 3
_ATTR_CTL_TSYNC = 4
_ATTR_CTL_LOG = 6
_ATTR_CTL_SSB = 7
_ATTR_API_SYSRAWRC = 9

# OCI flags libseccomp can express through a filter attribute
FLAGS: dict[str, int] = {
    "SECCOMP_FILTER_FLAG_TSYNC": _ATTR_CTL_TSYNC,
    "SECCOMP_FILTER_FLAG_LOG": _ATTR_CTL_LOG,
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW": _ATTR_CTL_SSB,
}
# the same flags as seccomp(2) takes them (SECCOMP_FILTER_FLAG_* of linux/seccomp.h), for
# loading an exported program without libseccomp; exactly the set FLAGS accepts
KERNEL_FLAGS: dict[str, int] = {
    "SECCOMP_FILTER_FLAG_TSYNC": syscalls.SECCOMP_FILTER_FLAG_TSYNC,  # 1
    "SECCOMP_FILTER_FLAG_LOG": syscalls.SECCOMP_FILTER_FLAG_LOG,  # 2
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW": syscalls.SECCOMP_FILTER_FLAG_SPEC_ALLOW,  # 4
}
#: set on a program with a SCMP_ACT_NOTIFY rule (never taken from linux.seccomp.flags)
NEW_LISTENER = syscalls.SECCOMP_FILTER_FLAG_NEW_LISTENER  # 8
_KNOWN_UNSUPPORTED_FLAGS = ("SECCOMP_FILTER_FLAG_NEW_LISTENER", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", "SECCOMP_FILTER_FLAG_TSYNC_ESRCH")

_U64 = 2**64


# --------------------------------------------------------------------------
# the library, loaded on first use
# --------------------------------------------------------------------------

_lib: Any = None
_ArgCmp: Any = None


def _libseccomp() -> Any:
    global _lib, _ArgCmp
    if _lib is not None:
        return _lib
    import ctypes

    try:
        lib = ctypes.CDLL("libseccomp.so.2", use_errno=True)
    except OSError as e:
        raise SeccompError(f"linux.seccomp needs libseccomp.so.2 (Debian package libseccomp2): {e}") from e

    class ArgCmp(ctypes.Structure):
        # struct scmp_arg_cmp { unsigned int arg; enum scmp_compare op;
        #                       scmp_datum_t datum_a, datum_b; }  (24 bytes)
        _fields_ = [
            ("arg", ctypes.c_uint),
            ("op", ctypes.c_int),
            ("datum_a", ctypes.c_uint64),
            ("datum_b", ctypes.c_uint64),
        ]

    class Version(ctypes.Structure):
        _fields_ = [("major", ctypes.c_uint), ("minor", ctypes.c_uint), ("micro", ctypes.c_uint)]

    vp, u32, i = ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int
    sigs: dict[str, tuple[Any, list[Any]]] = {
        "seccomp_init": (vp, [u32]),
        "seccomp_release": (None, [vp]),
        "seccomp_arch_add": (i, [vp, u32]),
        "seccomp_arch_native": (u32, []),
        "seccomp_arch_resolve_name": (u32, [ctypes.c_char_p]),
        "seccomp_attr_set": (i, [vp, ctypes.c_int, u32]),
        "seccomp_syscall_resolve_name": (i, [ctypes.c_char_p]),
        "seccomp_rule_add_array": (i, [vp, u32, i, ctypes.c_uint, ctypes.POINTER(ArgCmp)]),
        "seccomp_arch_remove": (i, [vp, u32]),
        "seccomp_merge": (i, [vp, vp]),
        "seccomp_load": (i, [vp]),
        "seccomp_export_bpf": (i, [vp, i]),
        "seccomp_api_get": (ctypes.c_uint, []),
        "seccomp_version": (ctypes.POINTER(Version), []),
    }
    for name, (res, args) in sigs.items():
        fn = getattr(lib, name)
        fn.restype = res
        fn.argtypes = args
    _ArgCmp = ArgCmp
    _lib = lib
    return lib


def libseccomp_version() -> tuple[int, int, int]:
    """(major, minor, micro) of the loaded libseccomp."""
    v = _libseccomp().seccomp_version().contents
    return (v.major, v.minor, v.micro)


def features() -> dict[str, Any]:
    """The ``linux.seccomp`` object of the runtime-spec ``features`` document.

    ``supportedFlags`` and the architectures are what this libseccomp can
    really do (NOTIFY with ``listenerPath`` included, as runc lists it).
    Without libseccomp, ``{"enabled": false}``.
    """
    try:
        lib = _libseccomp()
    except SeccompError:
        return {"enabled": False}
    api = lib.seccomp_api_get()
    archs = [name for name, lname in ARCHES.items() if lib.seccomp_arch_resolve_name(lname.encode()) != 0]
    supported = [f for f, need in (("SECCOMP_FILTER_FLAG_TSYNC", 2), ("SECCOMP_FILTER_FLAG_LOG", 3), ("SECCOMP_FILTER_FLAG_SPEC_ALLOW", 4)) if api >= need]
    return {
        "enabled": True,
        "actions": sorted(ACTIONS),
        "operators": sorted(OPERATORS),
        "archs": sorted(archs),
        "knownFlags": sorted(list(FLAGS) + list(_KNOWN_UNSUPPORTED_FLAGS)),
        "supportedFlags": supported,
    }


def _check(rc: int, what: str) -> None:
    if rc < 0:
        raise SeccompError(f"{what}: {os.strerror(-rc)}")


# --------------------------------------------------------------------------
# validation (pure)
# --------------------------------------------------------------------------


def _uint(value: Any, where: str, limit: int = _U64) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < limit:
        raise SeccompError(f"linux.seccomp: {where} must be an integer in [0, {limit}), got {value!r}")
    return value


def _action(name: Any, errno_ret: Any, where: str) -> int:
    if not isinstance(name, str) or name not in ACTIONS:
        raise SeccompError(f"linux.seccomp: {where} {name!r} is not a seccomp action (one of {', '.join(ACTIONS)})")
    if name == "SCMP_ACT_NOTIFY" and where == "defaultAction":
        raise SeccompError("linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be used as default action")
    if errno_ret is not None and name not in _WITH_ERRNO:
        raise SeccompError(f"linux.seccomp: {where} {name} does not take an errno (errnoRet is only for SCMP_ACT_ERRNO and SCMP_ACT_TRACE)")
    if name in _WITH_ERRNO:
        ret = errno.EPERM if errno_ret is None else _uint(errno_ret, where + " errnoRet", 1 << 16)
        return ACTIONS[name] | ret
    return ACTIONS[name]


class _Rule:
    __slots__ = ("names", "action", "args")

    def __init__(self, names: list[str], action: int, args: list[tuple[int, int, int, int]]) -> None:
        self.names = names
        self.action = action
        self.args = args  # (index, op, value, valueTwo)


def _validate(seccomp: Any) -> tuple[int, list[str], list[tuple[str, int]], list[_Rule]]:
    if not isinstance(seccomp, dict):
        raise SeccompError("linux.seccomp must be an object")
    known = {"defaultAction", "defaultErrnoRet", "architectures", "flags", "listenerPath", "listenerMetadata", "syscalls"}
    unknown = set(seccomp) - known
    if unknown:
        raise SeccompError(f"linux.seccomp: unknown field(s) {', '.join(sorted(unknown))}")
    for field in ("listenerPath", "listenerMetadata"):
        if seccomp.get(field) is not None and not isinstance(seccomp[field], str):
            raise SeccompError(f"linux.seccomp.{field} must be a string")
    if "defaultAction" not in seccomp:
        raise SeccompError("linux.seccomp.defaultAction is required")
    default = _action(seccomp["defaultAction"], seccomp.get("defaultErrnoRet"), "defaultAction")
    arches = []
    for a in seccomp.get("architectures") or []:
        if a not in ARCHES:
            raise SeccompError(f"linux.seccomp.architectures: unknown architecture {a!r} (one of {', '.join(ARCHES)})")
        arches.append(ARCHES[a])
    flags = []
    for fl in seccomp.get("flags") or []:
        if fl in FLAGS:
            flags.append((fl, FLAGS[fl]))
        elif fl == "SECCOMP_FILTER_FLAG_NEW_LISTENER":
            raise SeccompError(f"linux.seccomp.flags: {fl} is not supported by pyrkt as a flag (a SCMP_ACT_NOTIFY rule with listenerPath sets it)")
        elif fl in _KNOWN_UNSUPPORTED_FLAGS:
            raise SeccompError(f"linux.seccomp.flags: {fl} is not supported by pyrkt (libseccomp has no attribute for it)")
        else:
            raise SeccompError(f"linux.seccomp.flags: unknown flag {fl!r}")
    rules = []
    syscalls = seccomp.get("syscalls") or []
    if not isinstance(syscalls, list):
        raise SeccompError("linux.seccomp.syscalls must be a list")
    for n, sc in enumerate(syscalls):
        where = f"syscalls[{n}]"
        if not isinstance(sc, dict):
            raise SeccompError(f"linux.seccomp.{where} must be an object")
        names = sc.get("names")
        if not isinstance(names, list) or not names or not all(isinstance(x, str) and x for x in names):
            raise SeccompError(f"linux.seccomp.{where}.names must be a non-empty list of syscall names")
        if "action" not in sc:
            raise SeccompError(f"linux.seccomp.{where}.action is required")
        act = _action(sc["action"], sc.get("errnoRet"), f"{where}.action")
        if act == _ACT_NOTIFY:
            if not seccomp.get("listenerPath"):
                raise SeccompError(f"linux.seccomp.{where}: SCMP_ACT_NOTIFY needs linux.seccomp.listenerPath (the seccomp agent's socket): listenerPath is not set")
            if "write" in names:
                raise SeccompError(f"linux.seccomp.{where}: SCMP_ACT_NOTIFY cannot be used for the write syscall")
        args = []
        for k, a in enumerate(sc.get("args") or []):
            aw = f"{where}.args[{k}]"
            if not isinstance(a, dict):
                raise SeccompError(f"linux.seccomp.{aw} must be an object")
            idx = _uint(a.get("index"), aw + ".index", 6)
            op = a.get("op")
            if op not in OPERATORS:
                raise SeccompError(f"linux.seccomp.{aw}.op {op!r} is not one of {', '.join(OPERATORS)}")
            val = _uint(a.get("value", 0), aw + ".value")
            val2 = _uint(a.get("valueTwo", 0), aw + ".valueTwo")
            args.append((idx, OPERATORS[op], val, val2))
        rules.append(_Rule(list(names), act, args))
    if any(r.action == _ACT_NOTIFY for r in rules) and any(name == "SECCOMP_FILTER_FLAG_TSYNC" for name, _ in flags):
        raise SeccompError("linux.seccomp.flags: SECCOMP_FILTER_FLAG_TSYNC cannot be used with SCMP_ACT_NOTIFY (the kernel refuses it with a listener)")
    return default, arches, flags, rules


# --------------------------------------------------------------------------
# the filter
# --------------------------------------------------------------------------


class SeccompFilter:
    """A built libseccomp filter, ready to :meth:`load`.

    ``skipped`` lists syscall names this libseccomp could not resolve (they
    were left out, as runc does, so a profile naming newer syscalls still
    works on an older system); ``conflicts`` the rules dropped on one
    secondary architecture only (see :func:`compile_filter`).
    """

    def __init__(self, ctx: int, skipped: list[str]) -> None:
        self._ctx: int | None = ctx
        self.skipped = skipped
        #: (architecture, syscall, rule index) left out on that one
        #: non-native architecture because it collided with an earlier rule
        self.conflicts: list[tuple[str, str, int]] = []
        #: the profile's flags as seccomp(2) filter flags (see :meth:`program`)
        self.kernel_flags = 0

    def load(self) -> None:
        """Install the filter in the calling process (and, with TSYNC, all its threads)."""
        if self._ctx is None:
            raise SeccompError("seccomp filter was released")
        lib = _libseccomp()
        rc = lib.seccomp_load(self._ctx)
        if rc == -errno.EACCES or rc == -errno.EPERM:
            raise SeccompError(f"seccomp_load: {os.strerror(-rc)}{_NEEDS_NNP}")
        _check(rc, "seccomp_load")

    def program(self) -> BpfProgram:
        """The filter as the kernel takes it, for a process that loads it without libseccomp."""
        return BpfProgram(self.export_bpf(), self.kernel_flags)

    def export_bpf(self) -> bytes:
        """The BPF program the filter compiles to (for debugging and tests)."""
        if self._ctx is None:
            raise SeccompError("seccomp filter was released")
        lib = _libseccomp()
        fd = os.memfd_create("pyrkt-seccomp-bpf", os.MFD_CLOEXEC)
        try:
            _check(lib.seccomp_export_bpf(self._ctx, fd), "seccomp_export_bpf")
            os.lseek(fd, 0, os.SEEK_SET)
            chunks = []
            while True:
                b = os.read(fd, 65536)
                if not b:
                    break
                chunks.append(b)
            return b"".join(chunks)
        finally:
            os.close(fd)

    def release(self) -> None:
        """Free the libseccomp context (also done when garbage-collected)."""
        if self._ctx is not None and _lib is not None:
            _lib.seccomp_release(self._ctx)
        self._ctx = None

    def __del__(self) -> None:
        try:
            self.release()
        except Exception:  # pragma: no cover - interpreter shutdown
            pass


_NEEDS_NNP = " (a process without CAP_SYS_ADMIN must set no_new_privs before loading a filter)"


class BpfProgram:
    """A compiled filter, ready for the bare ``seccomp(2)``: no libseccomp needed to load it.

    ``code`` is libseccomp's exported program (``struct sock_filter``s),
    ``flags`` the ``SECCOMP_FILTER_FLAG_*`` bits of the profile's
    ``linux.seccomp.flags``. The runtime builds it before it clones or forks
    the process that loads it, which inherits it in its copy of the memory.
    """

    __slots__ = ("code", "flags")

    def __init__(self, code: bytes, flags: int = 0) -> None:
        self.code = code
        self.flags = flags

    def load(self) -> int:
        """Install the filter in the calling thread (and, with TSYNC, all its threads).

        Returns the user-notification fd (O_CLOEXEC) of a program with
        :data:`NEW_LISTENER` in its flags, else -1. Failures are SeccompErrors carrying the kernel's errno in the text;
        EACCES (and EPERM) say what is missing, as :meth:`SeccompFilter.load` does.
        """
        try:
            return syscalls.seccomp_set_mode_filter(self.code, self.flags)
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.EPERM):
                raise SeccompError(f"{exc.strerror}{_NEEDS_NNP}") from None
            raise SeccompError(str(exc.strerror)) from None


def compile_program(seccomp: dict[str, Any]) -> BpfProgram:
    """Validate and compile an OCI ``linux.seccomp`` object into a :class:`BpfProgram`.

    :func:`compile_filter`, then the exported program; libseccomp's context is
    released at once. Raises :class:`SeccompError` as :func:`compile_filter` does.
    """
    filt = compile_filter(seccomp)
    try:
        return filt.program()
    finally:
        filt.release()


def compile_filter(seccomp: dict[str, Any]) -> SeccompFilter:
    """Validate an OCI ``linux.seccomp`` object and build its filter.

    Raises :class:`SeccompError` naming the offending field for anything
    invalid or unsupported (SCMP_ACT_NOTIFY without listenerPath, flags libseccomp
    cannot set, architectures this libseccomp does not know), before any
    library call that could leave a half-built filter behind.
    """
    default, arches, flags, rules = _validate(seccomp)
    lib = _libseccomp()
    arch_tokens = []
    for a in arches:
        tok = lib.seccomp_arch_resolve_name(a.encode())
        if tok == 0:
            raise SeccompError(f"linux.seccomp.architectures: {a} is not supported by this libseccomp {libseccomp_version()}")
        arch_tokens.append((a, tok))
    native = lib.seccomp_arch_native()
    extra: list[tuple[str, int]] = []
    for a, tok in arch_tokens:
        if tok != native and tok not in [t for _, t in extra]:
            extra.append((a, tok))
    main_ctx = _new_ctx(lib, default, flags, seccomp["defaultAction"])
    filt = SeccompFilter(main_ctx, [])
    for name, _attr in flags:
        filt.kernel_flags |= KERNEL_FLAGS[name]
    if any(rule.action == _ACT_NOTIFY for rule in rules):
        filt.kernel_flags |= NEW_LISTENER  # as libseccomp's seccomp_load and runc do
    try:
        _add_rules(lib, main_ctx, rules, default, filt, None)
        if default not in (_ACT_ALLOW, _ACT_LOG):
            _enosys_above_newest(lib, main_ctx, rules, default)
        # One context per extra architecture, merged into the native one:
        # a rule that collides only on one architecture (x86's socketcall
        # multiplexer cannot see socket()'s arguments, so two
        # argument-filtered socket rules with different actions collide
        # there) is then dropped for that architecture alone and listed in
        # ``conflicts``, instead of failing the whole profile.
        for a, tok in extra:
            ctx = _new_ctx(lib, default, flags, seccomp["defaultAction"])
            try:
                _check(lib.seccomp_arch_add(ctx, tok), f"seccomp_arch_add({a})")
                _check(lib.seccomp_arch_remove(ctx, native), "seccomp_arch_remove(native)")
                _add_rules(lib, ctx, rules, default, filt, a)
                _check(lib.seccomp_merge(main_ctx, ctx), f"seccomp_merge({a})")
            except BaseException:
                lib.seccomp_release(ctx)
                raise
    except BaseException:
        filt.release()
        raise
    return filt


def _new_ctx(lib: Any, default: int, flags: list[tuple[str, int]], default_name: str) -> int:
    ctx = lib.seccomp_init(default)
    if not ctx:
        raise SeccompError(f"seccomp_init: default action {default_name} is not supported by this kernel or libseccomp")
    try:
        # the runtime decides about no_new_privs (process.noNewPrivileges)
        _check(lib.seccomp_attr_set(ctx, _ATTR_CTL_NNP, 0), "seccomp_attr_set(SCMP_FLTATR_CTL_NNP)")
        # report the kernel's own errno from seccomp_load (libseccomp >= 2.5)
        lib.seccomp_attr_set(ctx, _ATTR_API_SYSRAWRC, 1)
        for name, attr in flags:
            _check(lib.seccomp_attr_set(ctx, attr, 1), f"linux.seccomp.flags: {name} (libseccomp {libseccomp_version()}, API level {lib.seccomp_api_get()})")
    except BaseException:
        lib.seccomp_release(ctx)
        raise
    return int(ctx)


def _add_rules(lib: Any, ctx: int, rules: list[_Rule], default: int, filt: SeccompFilter, arch: str | None) -> None:
    """Add every rule to ``ctx``; ``arch`` is None for the native context."""
    for n, rule in enumerate(rules):
        if rule.action == default:
            continue  # libseccomp refuses it, and it would change nothing (runc)
        groups = _conditions(rule.args)
        for name in rule.names:
            # -1 is "unknown"; other negative numbers are libseccomp's
            # pseudo-syscalls (e.g. socketcall on x86_64), valid for the
            # architectures that have them
            nr = lib.seccomp_syscall_resolve_name(name.encode())
            if nr == -1:
                if arch is None and name not in filt.skipped:
                    filt.skipped.append(name)
                continue
            for group in groups:
                arr = (_ArgCmp * max(1, len(group)))(*[_ArgCmp(i, op, a, b) for i, op, a, b in group])
                rc = lib.seccomp_rule_add_array(ctx, rule.action, nr, len(group), arr)
                if rc == -errno.EEXIST and arch is not None:
                    filt.conflicts.append((arch, name, n))
                    continue
                if rc < 0:
                    where = f" on {arch}" if arch else ""
                    raise SeccompError(f"linux.seccomp.syscalls[{n}]: adding rule for {name}{where} failed: {os.strerror(-rc)}")


NATIVE_SYSCALL_LIMIT = 512  # x86_64 and arm64 number their syscalls below it (x32's are above 512 | bit 30)


def _enosys_above_newest(lib: Any, ctx: int, rules: list[_Rule], default: int) -> None:
    """Syscalls newer than every one the profile names fail with ENOSYS, not the default errno.

    As runc does: a profile written before clone3 or openat2 existed would otherwise
    return EPERM for them, and glibc falls back to the older call on ENOSYS only."""
    newest = -1
    for rule in rules:
        for name in rule.names:
            newest = max(newest, lib.seccomp_syscall_resolve_name(name.encode()))
    if newest < 0:
        return
    action = _ACT_ERRNO | errno.ENOSYS
    if action == default:
        return  # the profile's default is ENOSYS already (containers-common's)
    none = (_ArgCmp * 1)()
    for nr in range(newest + 1, NATIVE_SYSCALL_LIMIT):
        rc = lib.seccomp_rule_add_array(ctx, action, nr, 0, none)
        if rc < 0 and rc != -errno.EEXIST:
            raise SeccompError(f"linux.seccomp: adding the ENOSYS rule for syscall {nr} failed: {os.strerror(-rc)}")


def _conditions(args: list[tuple[int, int, int, int]]) -> list[list[tuple[int, int, int, int]]]:
    """Group a rule's conditions into libseccomp rules.

    libseccomp cannot AND two comparisons of the same argument, so (like
    runc) a rule with a repeated index becomes one rule per condition (OR);
    otherwise all conditions go into one rule (AND).
    """
    if not args:
        return [[]]
    idx = [a[0] for a in args]
    if len(set(idx)) != len(idx):
        return [[a] for a in args]
    return [list(args)]
