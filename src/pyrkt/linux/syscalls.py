"""Typed wrappers around the Linux system calls the runtime needs.

Python 3.11's `os` module has no unshare, setns, mount, pivot_root or capset,
so they are called through ctypes on the already-loaded libc. Every wrapper
raises OSError carrying errno and the call's name (and its main argument), so
a failure reads like `mount(proc, /proc): Operation not permitted`.

libc is opened lazily, by handle of the running process (`CDLL(None)`): no
`ctypes.util.find_library` (it forks a subprocess) and no work at import time.
"""

from __future__ import annotations

import os


class _LazyCtypes:
    """`ctypes`, imported on first use: ~3 ms and ~0.8 MB that `run`, `delete`
    and `state` do not need in the runtime process (clone uses `_ctypes` alone)."""

    def __getattr__(self, name: str) -> object:
        import ctypes as module

        globals()["ctypes"] = module
        return getattr(module, name)


TYPE_CHECKING = False
if TYPE_CHECKING:
    import ctypes
    from typing import Any
else:
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

_SYSCALLS = {
    # name: (x86_64, aarch64)
    "clone": (56, 220),
    "pivot_root": (155, 41),
    "setns": (308, 268),
    "unshare": (272, 97),
    "keyctl": (250, 219),
    "close_range": (436, 436),
    "capget": (125, 90),
    "capset": (126, 91),
    "pidfd_open": (434, 434),
    "pidfd_send_signal": (424, 424),
    "personality": (135, 92),
}

_libc: ctypes.CDLL | None = None
_arch_index: int | None = None


def libc() -> ctypes.CDLL:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


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
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return result


def _b(s: str | bytes | None) -> bytes | None:
    if s is None:
        return None
    return s if isinstance(s, bytes) else os.fsencode(s)


def unshare(flags: int) -> None:
    _check(libc().unshare(ctypes.c_int(flags)), "unshare")


def setns(fd: int, nstype: int = 0) -> None:
    _check(libc().setns(ctypes.c_int(fd), ctypes.c_int(nstype)), "setns")


def mount(source: str | None, target: str, fstype: str | None, flags: int = 0, data: str | None = None) -> None:
    res = libc().mount(_b(source), _b(target), _b(fstype), ctypes.c_ulong(flags), _b(data))
    if res == -1:
        err = ctypes.get_errno()
        what = f"mount({source or fstype or ''}, {target})"
        raise OSError(err, f"{what}: {os.strerror(err)}")


def umount2(target: str, flags: int = 0) -> None:
    _check(libc().umount2(_b(target), ctypes.c_int(flags)), f"umount2({target})")


def pivot_root(new_root: str, put_old: str) -> None:
    _check(libc().syscall(syscall_number("pivot_root"), _b(new_root), _b(put_old)), f"pivot_root({new_root})")


def sethostname(name: str) -> None:
    raw = name.encode()
    _check(libc().sethostname(raw, ctypes.c_size_t(len(raw))), "sethostname")


def setdomainname(name: str) -> None:
    raw = name.encode()
    _check(libc().setdomainname(raw, ctypes.c_size_t(len(raw))), "setdomainname")


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    c = ctypes.c_ulong
    return _check(libc().prctl(ctypes.c_int(option), c(arg2), c(arg3), c(arg4), c(arg5)), f"prctl({option})")


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
    pid = _light_syscall()(_c_long(syscall_number("clone")), _c_ulong(flags), None, None, None, None)  # type: ignore[no-untyped-call]
    if pid == -1:
        import _ctypes

        err = _ctypes.get_errno()
        raise OSError(err, f"clone: {os.strerror(err)}")
    return int(pid)


_c_long: type = object
_c_ulong: type = object
_syscall_fn = None


def _light_syscall():  # type: ignore[no-untyped-def]
    """libc's syscall(2) through `_ctypes` only (no `ctypes` package), for the
    runtime process's one system call that `os` lacks: clone."""
    global _syscall_fn, _c_long, _c_ulong
    if _syscall_fn is None:
        from _ctypes import FUNCFLAG_CDECL, FUNCFLAG_USE_ERRNO, CFuncPtr, _SimpleCData, dlopen

        class c_long(_SimpleCData):  # type: ignore[type-arg]
            _type_ = "l"

        class c_ulong(_SimpleCData):  # type: ignore[type-arg]
            _type_ = "L"

        class Func(CFuncPtr):
            _flags_ = FUNCFLAG_CDECL | FUNCFLAG_USE_ERRNO
            _restype_ = c_long

        class Self:
            _handle = dlopen(None, 0)  # type: ignore[arg-type]

        _c_long, _c_ulong = c_long, c_ulong
        _syscall_fn = Func(("syscall", Self))  # type: ignore[arg-type]
    return _syscall_fn


def keyctl_join_session_keyring(name: str | None) -> int:
    return _check(
        libc().syscall(syscall_number("keyctl"), KEYCTL_JOIN_SESSION_KEYRING, _b(name)),
        "keyctl(KEYCTL_JOIN_SESSION_KEYRING)",
    )


def close_range_cloexec(first: int) -> None:
    """Mark every fd >= first close-on-exec (kernel 5.11+); falls back to a scan of /proc/self/fd."""
    res = libc().syscall(syscall_number("close_range"), ctypes.c_uint(first), ctypes.c_uint(0xFFFFFFFF), ctypes.c_uint(CLOSE_RANGE_CLOEXEC))
    if res == 0:
        return
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd >= first:
            try:
                os.set_inheritable(fd, False)
            except OSError:
                pass


def personality(persona: int) -> int:
    return _check(libc().syscall(syscall_number("personality"), ctypes.c_ulong(persona)), "personality")


_cap_types: tuple[Any, Any] | None = None


def _cap_structs() -> tuple[Any, Any]:
    """(header, data) structures of capget/capset, defined on first use."""
    global _cap_types
    if _cap_types is None:

        class _CapHeader(ctypes.Structure):
            _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

        class _CapData(ctypes.Structure):
            _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]

        _cap_types = (_CapHeader, _CapData)
    return _cap_types


_LINUX_CAPABILITY_VERSION_3 = 0x20080522


def capset(effective: int, permitted: int, inheritable: int) -> None:
    """Set this thread's capability sets from 64-bit masks."""
    _CapHeader, _CapData = _cap_structs()
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    data[0].effective = effective & 0xFFFFFFFF
    data[0].permitted = permitted & 0xFFFFFFFF
    data[0].inheritable = inheritable & 0xFFFFFFFF
    data[1].effective = effective >> 32
    data[1].permitted = permitted >> 32
    data[1].inheritable = inheritable >> 32
    _check(libc().syscall(syscall_number("capset"), ctypes.byref(header), data), "capset")


def capget(pid: int = 0) -> tuple[int, int, int]:
    """Return (effective, permitted, inheritable) masks of a thread."""
    _CapHeader, _CapData = _cap_structs()
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, pid)
    data = (_CapData * 2)()
    _check(libc().syscall(syscall_number("capget"), ctypes.byref(header), data), "capget")
    eff = data[0].effective | (data[1].effective << 32)
    perm = data[0].permitted | (data[1].permitted << 32)
    inh = data[0].inheritable | (data[1].inheritable << 32)
    return eff, perm, inh
