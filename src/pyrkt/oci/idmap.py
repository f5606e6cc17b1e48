"""Idmapped bind mounts: a mount's `uidMappings`/`gidMappings` (or the `idmap`/`ridmap` options).

The new mount API does it: `open_tree(OPEN_TREE_CLONE)` detaches a copy of
the source, `mount_setattr(MOUNT_ATTR_IDMAP)` attaches a user namespace that
carries the mappings (made by a short-lived child that unshares a user
namespace and whose maps we write), and `move_mount` puts it at the
destination. Needs kernel 5.12+ and a source filesystem that allows idmapped
mounts (ext4, xfs, btrfs, tmpfs 6.3+, overlayfs 5.19+); otherwise one clear
error. Runs in the container init, before pivot_root.
"""

from __future__ import annotations

import ctypes
import os

from pyrkt.linux import syscalls as sc

_NR = {"x86_64": (428, 429, 442), "aarch64": (428, 429, 442)}
OPEN_TREE_CLONE = 1
OPEN_TREE_CLOEXEC = os.O_CLOEXEC
AT_EMPTY_PATH = 0x1000
AT_RECURSIVE = 0x8000
AT_FDCWD = -100
MOVE_MOUNT_F_EMPTY_PATH = 0x4
MOVE_MOUNT_T_EMPTY_PATH = 0x40
MOUNT_ATTR_IDMAP = 0x00100000


class IdmapError(Exception):
    pass


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64), ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


def _nr(index: int) -> int:
    machine = os.uname().machine
    if machine not in _NR:
        raise IdmapError(f"idmapped mounts: unsupported architecture {machine}")
    return _NR[machine][index]


def _call(index: int, name: str, *args: object) -> int:
    res = sc.libc().syscall(_nr(index), *args)
    if res < 0:
        err = ctypes.get_errno()
        if err == 38:
            raise IdmapError(f"idmapped mounts need {name}(2), which this kernel lacks (5.12+)")
        raise OSError(err, f"{name}: {os.strerror(err)}")
    return int(res)


def userns_fd(uid_maps: list[object], gid_maps: list[object]) -> int:
    """An fd of a new user namespace carrying these mappings (IDMapping objects)."""
    r, w = os.pipe()
    pr, pw = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(w)
        os.close(pr)
        try:
            # /proc may be the host's while our pid namespace is not: name ourselves as /proc sees us
            os.write(pw, os.readlink("/proc/self").encode())
            os.close(pw)
            sc.unshare(sc.CLONE_NEWUSER)
        except OSError:
            os._exit(1)
        os.read(r, 1)  # wait until the parent has opened our namespace
        os._exit(0)
    os.close(r)
    os.close(pw)
    try:
        seen = os.read(pr, 32)
        os.close(pr)
        if not seen:
            raise IdmapError("idmapped mount: the helper process died")
        proc_pid = int(seen)
        target = f"/proc/{proc_pid}/ns/user"
        own = os.readlink("/proc/self/ns/user")
        for _ in range(2000):  # until the child has unshared
            try:
                if os.readlink(target) != own:
                    break
            except OSError:
                pass
            done, _st = os.waitpid(pid, os.WNOHANG)
            if done:
                raise IdmapError("idmapped mount: could not create a user namespace for the mapping")
            import time

            time.sleep(0.001)
        for name, maps in (("uid_map", uid_maps), ("gid_map", gid_maps)):
            text = "".join(m.line() for m in maps)  # type: ignore[attr-defined]
            try:
                with open(f"/proc/{proc_pid}/{name}", "w") as f:
                    f.write(text)
            except OSError as exc:
                raise IdmapError(f"idmapped mount: writing {name} ({text.strip()!r}): {exc.strerror}") from None
        return os.open(target, os.O_RDONLY | os.O_CLOEXEC)
    finally:
        os.close(w)
        os.waitpid(pid, 0)


def clone_tree(source: str, recursive: bool) -> int:
    """open_tree(OPEN_TREE_CLONE): a detached copy of the mount at `source`, attachable in another
    mount namespace (a plain O_PATH fd is not: mount(2) refuses a source of another namespace)."""
    flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (AT_RECURSIVE if recursive else 0)
    return _call(0, "open_tree", ctypes.c_int(AT_FDCWD), os.fsencode(source), ctypes.c_uint(flags))


def attach_tree(tree: int, target: str) -> None:
    """move_mount the detached tree `tree` onto `target`."""
    if target.startswith("/proc/self/fd/"):
        to_fd, to_path, extra = int(target.rsplit("/", 1)[1]), b"", MOVE_MOUNT_T_EMPTY_PATH
    else:
        to_fd, to_path, extra = AT_FDCWD, os.fsencode(target), 0
    _call(1, "move_mount", ctypes.c_int(tree), b"", ctypes.c_int(to_fd), to_path, ctypes.c_uint(MOVE_MOUNT_F_EMPTY_PATH | extra))


def set_recursive_attrs(target: str, attr_set: int, attr_clr: int) -> None:
    """mount_setattr(AT_RECURSIVE) on the mount at `target`: the `rro`, `rnosuid`, ... options."""
    attr = _MountAttr(attr_set, attr_clr, 0, 0)
    try:
        _call(2, "mount_setattr", ctypes.c_int(AT_FDCWD), os.fsencode(target), ctypes.c_uint(AT_RECURSIVE),
              ctypes.byref(attr), ctypes.c_size_t(ctypes.sizeof(attr)))
    except IdmapError:
        raise IdmapError("recursive mount options (rro, rnosuid, ...) need mount_setattr(2), which this kernel lacks (5.12+)") from None


def bind(source: str, target: str, uid_maps: list[object], gid_maps: list[object], recursive: bool) -> None:
    """Bind `source` on `target` (an existing mount point path) through an idmapping."""
    if not uid_maps or not gid_maps:
        raise IdmapError("idmapped mount needs both uidMappings and gidMappings")
    ns = userns_fd(uid_maps, gid_maps)
    tree = -1
    try:
        flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (AT_RECURSIVE if recursive else 0)
        tree = _call(0, "open_tree", ctypes.c_int(AT_FDCWD), os.fsencode(source), ctypes.c_uint(flags))
        attr = _MountAttr(MOUNT_ATTR_IDMAP, 0, 0, ns)
        try:
            _call(2, "mount_setattr", ctypes.c_int(tree), b"", ctypes.c_uint(AT_EMPTY_PATH | (AT_RECURSIVE if recursive else 0)),
                  ctypes.byref(attr), ctypes.c_size_t(ctypes.sizeof(attr)))
        except OSError as exc:
            if exc.errno == 22:
                raise IdmapError(f"idmapped mount of {source}: its filesystem does not support idmapped mounts (EINVAL)") from None
            raise IdmapError(f"idmapped mount of {source}: {exc.strerror}") from None
        try:
            if target.startswith("/proc/self/fd/"):  # an O_PATH fd of the mount point: move onto it directly
                to_fd, to_path, extra = int(target.rsplit("/", 1)[1]), b"", MOVE_MOUNT_T_EMPTY_PATH
            else:
                to_fd, to_path, extra = AT_FDCWD, os.fsencode(target), 0
            _call(1, "move_mount", ctypes.c_int(tree), b"", ctypes.c_int(to_fd), to_path, ctypes.c_uint(MOVE_MOUNT_F_EMPTY_PATH | extra))
        except OSError as exc:
            raise IdmapError(f"idmapped mount on {target}: {exc.strerror}") from None
    finally:
        if tree >= 0:
            os.close(tree)
        os.close(ns)
