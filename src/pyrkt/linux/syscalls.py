"""Typed wrappers around the Linux system calls the runtime needs.

Python 3.11's `os` module has no unshare, setns, mount, pivot_root or capset,
so they are called in libc through `_ctypes`, the C half of ctypes. Every
wrapper raises OSError carrying errno and the call's name (and its main
argument), so a failure reads like `mount(proc, /proc): Operation not permitted`.

Why not `ctypes`: its package costs ~4 ms and ~0.7 MB to import (it builds
dozens of types and imports `struct`, `types`), on the container init's
critical path. The few C types these calls need are defined here, on first
use, the way ctypes defines them (`_SimpleCData` subclasses, a `CFuncPtr`
subclass with errno saved). libc is the running process's own handle
(dlopen(NULL)): no `ctypes.util.find_library` (it forks), no work at import.
`libc()` still gives a full `ctypes.CDLL` to the modules that want ctypes.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    import ctypes
    from typing import Any


class _LazyCtypes:
    """`ctypes`, imported on first use by `libc()` (for idmap, features and the like)."""

    def __getattr__(self, name: str) -> object:
        import ctypes as module

        globals()["ctypes"] = module
        return getattr(module, name)


if not TYPE_CHECKING:
    ctypes = _LazyCtypes()

# clone(2)/unshare(2)/setns(2) flags
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_NEWTIME = 0x00000080
CLONE_PARENT = 0x00008000
SIGCHLD = 17

# mount(2) flags
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_SYNCHRONOUS = 0x10
MS_REMOUNT = 0x20
MS_MANDLOCK = 0x40
MS_DIRSYNC = 0x80
MS_NOSYMFOLLOW = 0x100
MS_NOATIME = 0x400
MS_NODIRATIME = 0x800
MS_BIND = 0x1000
MS_MOVE = 0x2000
MS_REC = 0x4000
MS_SILENT = 0x8000
MS_UNBINDABLE = 0x20000
MS_PRIVATE = 0x40000
MS_SLAVE = 0x80000
MS_SHARED = 0x100000
MS_RELATIME = 0x200000
MS_STRICTATIME = 0x1000000
MS_LAZYTIME = 0x2000000

MNT_DETACH = 0x2
UMOUNT_NOFOLLOW = 0x8

# prctl(2) options
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_KEEPCAPS = 8
PR_SET_NAME = 15
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_CLEAR_ALL = 4

# keyctl(2)
KEYCTL_JOIN_SESSION_KEYRING = 1

# close_range(2)
CLOSE_RANGE_CLOEXEC = 1 << 2

# seccomp(2): the operation and the filter flags pyrkt passes (linux/seccomp.h)
SECCOMP_SET_MODE_FILTER = 1
SECCOMP_FILTER_FLAG_TSYNC = 1
SECCOMP_FILTER_FLAG_LOG = 2
SECCOMP_FILTER_FLAG_SPEC_ALLOW = 4
SECCOMP_FILTER_FLAG_NEW_LISTENER = 8  # seccomp(2) returns a user-notification fd (O_CLOEXEC)
_SOCK_FILTER_SIZE = 8  # struct sock_filter { __u16 code; __u8 jt, jf; __u32 k; }

_SYSCALLS = {
    # name: (x86_64, aarch64)
    "clone": (56, 220),
    "clone3": (435, 435),
    "pivot_root": (155, 41),
    "setns": (308, 268),
    "unshare": (272, 97),
    "keyctl": (250, 219),
    "close_range": (436, 436),
    "capget": (125, 90),
    "capset": (126, 91),
    "pidfd_open": (434, 434),
    "pidfd_send_signal": (424, 424),
    "pidfd_getfd": (438, 438),
    "personality": (135, 92),
    "seccomp": (317, 277),
}

_libc: ctypes.CDLL | None = None
_arch_index: int | None = None


def libc() -> ctypes.CDLL:
    """A full ctypes.CDLL of this process's libc, for callers that use ctypes types."""
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


class _FFI:
    """The C types and libc functions of this module, on `_ctypes` alone (built by `_ffi()`)."""

    def __init__(self) -> None:
        from _ctypes import FUNCFLAG_CDECL, FUNCFLAG_USE_ERRNO, CFuncPtr, Structure, _SimpleCData, byref, dlopen, get_errno

        class c_int(_SimpleCData):  # type: ignore[type-arg]
            _type_ = "i"

        class c_uint(_SimpleCData):  # type: ignore[type-arg]
            _type_ = "I"

        class c_long(_SimpleCData):  # type: ignore[type-arg]
            _type_ = "l"

        class c_ulong(_SimpleCData):  # type: ignore[type-arg]
            _type_ = "L"

        class IntFunc(CFuncPtr):
            _flags_ = FUNCFLAG_CDECL | FUNCFLAG_USE_ERRNO
            _restype_ = c_int

        class LongFunc(CFuncPtr):
            _flags_ = FUNCFLAG_CDECL | FUNCFLAG_USE_ERRNO
            _restype_ = c_long

        class Libc:
            _handle = dlopen(None, 0)  # type: ignore[arg-type]

        self.c_int, self.c_uint, self.c_long, self.c_ulong = c_int, c_uint, c_long, c_ulong
        self.byref, self.get_errno = byref, get_errno
        self._structure, self._simple = Structure, _SimpleCData
        self._int_func, self._long_func, self._libc = IntFunc, LongFunc, Libc
        self._funcs: dict[str, Any] = {}
        self._caps: tuple[Any, Any] | None = None
        self._fprog: Any = None

    def cap_structs(self) -> tuple[Any, Any]:
        """capget/capset's header and data structures (defined on first use: only the init needs them)."""
        if self._caps is None:

            class CapHeader(self._structure):  # type: ignore[name-defined,misc]
                _fields_ = [("version", self.c_uint), ("pid", self.c_int)]

            class CapData(self._structure):  # type: ignore[name-defined,misc]
                _fields_ = [("effective", self.c_uint), ("permitted", self.c_uint), ("inheritable", self.c_uint)]

            self._caps = (CapHeader, CapData)
        return self._caps

    def sock_fprog(self) -> Any:
        """seccomp(2)'s ``struct sock_fprog`` (defined on first use: only a process loading a filter needs it).

        ``filter`` is declared as a ``char *`` (``z``) rather than a ``struct
        sock_filter *``: a bytes object assigned to it is pointed to in place
        (and kept alive by the structure), so the program is not copied
        again; the kernel reads ``len`` 8-byte instructions from it.
        """
        if self._fprog is None:

            class c_ushort(self._simple):  # type: ignore[name-defined,misc]
                _type_ = "H"

            class c_char_p(self._simple):  # type: ignore[name-defined,misc]
                _type_ = "z"

            class SockFprog(self._structure):  # type: ignore[name-defined,misc]
                _fields_ = [("len", c_ushort), ("filter", c_char_p)]

            self._fprog = SockFprog
        return self._fprog

    def func(self, name: str) -> Any:
        """libc's `name`, returning a C int (`syscall` returns a long)."""
        f = self._funcs.get(name)
        if f is None:
            kind = self._long_func if name == "syscall" else self._int_func
            f = self._funcs[name] = kind((name, self._libc))  # type: ignore[arg-type]  # any object with _handle
        return f


_ffi_instance: _FFI | None = None


def _ffi() -> _FFI:
    global _ffi_instance
    if _ffi_instance is None:
        _ffi_instance = _FFI()
    return _ffi_instance


def preload() -> None:
    """Define the C types and look up libc now (the init does, before pivot_root and `go`)."""
    ffi = _ffi()
    ffi.cap_structs()
    for name in ("mount", "umount2", "unshare", "setns", "syscall", "prctl", "sethostname", "setdomainname"):
        ffi.func(name)


def syscall_number(name: str) -> int:
    global _arch_index
    if _arch_index is None:
        machine = os.uname().machine
        if machine in ("x86_64", "amd64"):
            _arch_index = 0
        elif machine in ("aarch64", "arm64"):
            _arch_index = 1
        else:
            raise OSError(f"unsupported architecture {machine}")
    return _SYSCALLS[name][_arch_index]


def _check(result: int, what: str) -> int:
    if result == -1:
        err = _ffi().get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return result


def _b(s: str | bytes | None) -> bytes | None:
    if s is None:
        return None
    return s if isinstance(s, bytes) else os.fsencode(s)


def _call(name: str, *args: object) -> int:
    return int(_ffi().func(name)(*args))


def unshare(flags: int) -> None:
    _check(_call("unshare", _ffi().c_int(flags)), "unshare")


def setns(fd: int, nstype: int = 0) -> None:
    ffi = _ffi()
    _check(_call("setns", ffi.c_int(fd), ffi.c_int(nstype)), "setns")


def mount(source: str | None, target: str, fstype: str | None, flags: int = 0, data: str | None = None) -> None:
    ffi = _ffi()
    res = _call("mount", _b(source), _b(target), _b(fstype), ffi.c_ulong(flags), _b(data))
    if res == -1:
        err = ffi.get_errno()
        what = f"mount({source or fstype or ''}, {target})"
        raise OSError(err, f"{what}: {os.strerror(err)}")


def umount2(target: str, flags: int = 0) -> None:
    _check(_call("umount2", _b(target), _ffi().c_int(flags)), f"umount2({target})")


def pivot_root(new_root: str, put_old: str) -> None:
    _check(_syscall("pivot_root", _b(new_root), _b(put_old)), f"pivot_root({new_root})")


def _syscall(name: str, *args: object) -> int:
    return _call("syscall", _ffi().c_long(syscall_number(name)), *args)


def sethostname(name: str) -> None:
    raw = name.encode()
    _check(_call("sethostname", raw, _ffi().c_ulong(len(raw))), "sethostname")


def setdomainname(name: str) -> None:
    raw = name.encode()
    _check(_call("setdomainname", raw, _ffi().c_ulong(len(raw))), "setdomainname")


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    ffi = _ffi()
    c = ffi.c_ulong
    return _check(_call("prctl", ffi.c_int(option), c(arg2), c(arg3), c(arg4), c(arg5)), f"prctl({option})")


def clone(flags: int) -> int:
    """fork(2) with namespace flags: returns the child's pid, or 0 in the child.

    The raw system call with a NULL stack behaves like fork() (the child runs
    on a copy-on-write copy of this stack), but can create the new pid and
    user namespaces in the same step, so the container's init is pid 1 of its
    namespace and a direct child of the caller, as the OCI spec and conmon
    expect. The process is single-threaded here, so skipping glibc's fork
    handlers is safe.
    """
    flags |= SIGCHLD
    ffi = _ffi()  # built here, the child inherits it ready
    pid = _syscall("clone", ffi.c_ulong(flags), None, None, None, None)
    if pid == -1:
        err = ffi.get_errno()
        raise OSError(err, f"clone: {os.strerror(err)}")
    return pid


CLONE_INTO_CGROUP = 0x200000000
_CLONE_ARGS_SIZE = 88  # struct clone_args up to .cgroup (CLONE_ARGS_SIZE_VER2)


def clone_into_cgroup(flags: int, cgroup_fd: int) -> int:
    """clone3(2) that places the child in the cgroup2 directory `cgroup_fd` at birth.

    Like clone() above (a NULL stack: fork semantics, the namespace flags in
    the same step), but the child starts in the container's cgroup: no
    cgroup.procs write, hence no RCU grace period for it (crun does this).
    Raises OSError (ENOSYS before Linux 5.7, E2BIG, EINVAL...) for the caller
    to fall back to clone() and a write.
    """
    ffi = _ffi()
    args = b"".join(v.to_bytes(8, "little" if sys.byteorder == "little" else "big") for v in (
        flags | CLONE_INTO_CGROUP, 0, 0, 0, SIGCHLD, 0, 0, 0, 0, 0, cgroup_fd,
    ))
    pid = _syscall("clone3", args, ffi.c_ulong(_CLONE_ARGS_SIZE))
    if pid == -1:
        err = ffi.get_errno()
        raise OSError(err, f"clone3: {os.strerror(err)}")
    return pid


def keyctl_join_session_keyring(name: str | None) -> int:
    return _check(_syscall("keyctl", KEYCTL_JOIN_SESSION_KEYRING, _b(name)), "keyctl(KEYCTL_JOIN_SESSION_KEYRING)")


def close_range_cloexec(first: int) -> None:
    """Mark every fd >= first close-on-exec (kernel 5.11+); falls back to a scan of /proc/self/fd."""
    c = _ffi().c_uint
    if _syscall("close_range", c(first), c(0xFFFFFFFF), c(CLOSE_RANGE_CLOEXEC)) == 0:
        return
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd >= first:
            try:
                os.set_inheritable(fd, False)
            except OSError:
                pass


def personality(persona: int) -> int:
    return _check(_syscall("personality", _ffi().c_ulong(persona)), "personality")


_LINUX_CAPABILITY_VERSION_3 = 0x20080522


def capset(effective: int, permitted: int, inheritable: int) -> None:
    """Set this thread's capability sets from 64-bit masks."""
    ffi = _ffi()
    cap_header, cap_data = ffi.cap_structs()
    header = cap_header(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (cap_data * 2)()
    data[0].effective = effective & 0xFFFFFFFF
    data[0].permitted = permitted & 0xFFFFFFFF
    data[0].inheritable = inheritable & 0xFFFFFFFF
    data[1].effective = effective >> 32
    data[1].permitted = permitted >> 32
    data[1].inheritable = inheritable >> 32
    _check(_syscall("capset", ffi.byref(header), data), "capset")


def capget(pid: int = 0) -> tuple[int, int, int]:
    """Return (effective, permitted, inheritable) masks of a thread."""
    ffi = _ffi()
    cap_header, cap_data = ffi.cap_structs()
    header = cap_header(_LINUX_CAPABILITY_VERSION_3, pid)
    data = (cap_data * 2)()
    _check(_syscall("capget", ffi.byref(header), data), "capget")
    eff = data[0].effective | (data[1].effective << 32)
    perm = data[0].permitted | (data[1].permitted << 32)
    inh = data[0].inheritable | (data[1].inheritable << 32)
    return eff, perm, inh


def seccomp_set_mode_filter(program: bytes, flags: int = 0) -> int:
    """Install a classic-BPF seccomp filter in the calling thread: seccomp(SECCOMP_SET_MODE_FILTER, flags, &prog).

    ``program`` is the filter's instructions as the kernel takes them (an
    array of ``struct sock_filter``, e.g. libseccomp's ``seccomp_export_bpf``),
    ``flags`` the ``SECCOMP_FILTER_FLAG_*`` bits. The bare system call, so a
    process that was handed a compiled program needs no libseccomp (and none
    of its ~10 ms of compiling) to load it; like libseccomp with its NNP
    attribute off, it never sets no_new_privs itself: without it the kernel
    wants CAP_SYS_ADMIN (EACCES). Raises OSError with the kernel's errno;
    with TSYNC, a thread that could not be synchronised (the kernel returns
    its id) is reported as ESRCH. Returns the user-notification fd with
    SECCOMP_FILTER_FLAG_NEW_LISTENER, else -1.
    """
    count, rest = divmod(len(program), _SOCK_FILTER_SIZE)
    if rest or not 0 < count <= 0xFFFF:  # EINVAL, as the kernel would say
        raise OSError(22, f"seccomp(SECCOMP_SET_MODE_FILTER): {len(program)} bytes is not a BPF program (1 to 65535 instructions of 8 bytes)")
    ffi = _ffi()
    prog = ffi.sock_fprog()(count, program)
    res = _syscall("seccomp", ffi.c_uint(SECCOMP_SET_MODE_FILTER), ffi.c_uint(flags), ffi.byref(prog))
    if res == -1:
        err = ffi.get_errno()
        raise OSError(err, f"seccomp(SECCOMP_SET_MODE_FILTER): {os.strerror(err)}")
    if flags & SECCOMP_FILTER_FLAG_NEW_LISTENER:
        return int(res)  # the listener's fd (the kernel refuses TSYNC with it)
    if res > 0:  # ESRCH: the id of a thread TSYNC could not move to the new filter
        raise OSError(3, f"seccomp(SECCOMP_SET_MODE_FILTER): thread {res} could not be synchronised (SECCOMP_FILTER_FLAG_TSYNC)")
    return -1


def pidfd_getfd(pid: int, fd: int) -> int:
    """A copy of process ``pid``'s file descriptor ``fd`` (O_CLOEXEC): pidfd_open + pidfd_getfd (Linux 5.6).

    Needs ptrace access to the process (PTRACE_MODE_ATTACH_REALCREDS), as a
    parent that is root, or owns the process's user namespace, has.
    """
    pidfd = _check(_syscall("pidfd_open", pid, 0), f"pidfd_open({pid})")
    try:
        return _check(_syscall("pidfd_getfd", pidfd, fd, 0), f"pidfd_getfd({pid}, {fd})")
    finally:
        os.close(pidfd)
