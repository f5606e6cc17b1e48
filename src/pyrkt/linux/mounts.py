"""Mount options and safe paths inside a root filesystem.

`parse_options` turns an OCI mount's option list into mount(2) flags, the
propagation flags (applied in a separate call, as the kernel requires), and
the data string for the filesystem. It is pure and tested without root.

`resolve_in_root` resolves a path as if `root` were `/`: `..` never climbs
above it and symlinks (absolute or relative) are followed inside it. A mount
destination in an untrusted image is resolved this way, so a symlink such as
`/proc -> /` in the image can never redirect a mount onto the host.

The mount operations (`Overlay`, `Bind`, `Tmpfs`, `Cgroup2`, `Cgroup`,
`Symlink`) are what pyrkt's own code mounts, each a small value with its
options in one place and an `apply` that does it: stage1 and --private-users
mount app rootfses with `Overlay`, and the cgroup mount plan
(`pyrkt.linux.cgroups.plan`) is a list of them that the container's rootfs
code applies. Building one does nothing; comparing two compares their fields.
"""

from __future__ import annotations

import errno
import os
import stat

from pyrkt.linux import syscalls as sc
from pyrkt.linux.syscalls import (
    MS_BIND,
    MS_DIRSYNC,
    MS_LAZYTIME,
    MS_MANDLOCK,
    MS_NOATIME,
    MS_NODEV,
    MS_NODIRATIME,
    MS_NOEXEC,
    MS_NOSUID,
    MS_NOSYMFOLLOW,
    MS_PRIVATE,
    MS_RDONLY,
    MS_REC,
    MS_RELATIME,
    MS_REMOUNT,
    MS_SHARED,
    MS_SLAVE,
    MS_STRICTATIME,
    MS_SYNCHRONOUS,
    MS_UNBINDABLE,
)

# option -> (clear, flag): `clear` options remove the flag (rw, suid, ...)
FLAG_OPTIONS: dict[str, tuple[bool, int]] = {
    "async": (True, MS_SYNCHRONOUS),
    "atime": (True, MS_NOATIME),
    "bind": (False, MS_BIND),
    "defaults": (False, 0),
    "dev": (True, MS_NODEV),
    "diratime": (True, MS_NODIRATIME),
    "dirsync": (False, MS_DIRSYNC),
    "exec": (True, MS_NOEXEC),
    "lazytime": (False, MS_LAZYTIME),
    "nolazytime": (True, MS_LAZYTIME),
    "mand": (False, MS_MANDLOCK),
    "noatime": (False, MS_NOATIME),
    "nodev": (False, MS_NODEV),
    "nodiratime": (False, MS_NODIRATIME),
    "noexec": (False, MS_NOEXEC),
    "nomand": (True, MS_MANDLOCK),
    "norelatime": (True, MS_RELATIME),
    "nostrictatime": (True, MS_STRICTATIME),
    "nosuid": (False, MS_NOSUID),
    "nosymfollow": (False, MS_NOSYMFOLLOW),
    "rbind": (False, MS_BIND | MS_REC),
    "relatime": (False, MS_RELATIME),
    "remount": (False, MS_REMOUNT),
    "ro": (False, MS_RDONLY),
    "rw": (True, MS_RDONLY),
    "strictatime": (False, MS_STRICTATIME),
    "suid": (True, MS_NOSUID),
    "sync": (False, MS_SYNCHRONOUS),
}

PROPAGATION_OPTIONS: dict[str, int] = {
    "private": MS_PRIVATE,
    "rprivate": MS_PRIVATE | MS_REC,
    "shared": MS_SHARED,
    "rshared": MS_SHARED | MS_REC,
    "slave": MS_SLAVE,
    "rslave": MS_SLAVE | MS_REC,
    "unbindable": MS_UNBINDABLE,
    "runbindable": MS_UNBINDABLE | MS_REC,
}

# options that are runtime extensions, not passed to the kernel
EXTENSION_OPTIONS = frozenset({"tmpcopyup", "copy-symlink", "notmpcopyup", "idmap", "ridmap"})

# recursive mount attributes, applied with mount_setattr(AT_RECURSIVE) (kernel 5.12+):
# option -> (MOUNT_ATTR_* bits to set, bits to clear); the atime ones replace the atime field
_ATIME = 0x70
RECURSIVE_ATTRS: dict[str, tuple[int, int]] = {
    "rro": (0x1, 0), "rrw": (0, 0x1), "rnosuid": (0x2, 0), "rsuid": (0, 0x2), "rnodev": (0x4, 0), "rdev": (0, 0x4),
    "rnoexec": (0x8, 0), "rexec": (0, 0x8), "rnodiratime": (0x80, 0), "rdiratime": (0, 0x80),
    "rrelatime": (0, _ATIME), "rnoatime": (0x10, _ATIME), "rstrictatime": (0x20, _ATIME),
    "rnosymfollow": (0x200000, 0), "rsymfollow": (0, 0x200000),
}
# recursive mount attributes that we do not apply (no single meaning for mount_setattr)
RECURSIVE_ATTR_OPTIONS = frozenset({"ratime", "rnorelatime", "rnostrictatime"})


class MountOptionError(ValueError):
    pass


class MountOptions:
    """The parsed form of an OCI mount's `options`."""

    __slots__ = ("flags", "propagation", "data", "extensions", "rattr_set", "rattr_clr")

    def __init__(self, flags: int, propagation: list[int], data: str, extensions: frozenset[str]) -> None:
        self.flags = flags
        self.propagation = propagation
        self.data = data
        self.extensions = extensions
        self.rattr_set = 0  # RECURSIVE_ATTRS, for mount_setattr(AT_RECURSIVE)
        self.rattr_clr = 0

    @property
    def is_bind(self) -> bool:
        return bool(self.flags & MS_BIND)

    def __repr__(self) -> str:
        return f"MountOptions(flags={self.flags:#x}, propagation={self.propagation}, data={self.data!r}, extensions={sorted(self.extensions)})"


def parse_options(options: list[str] | None) -> MountOptions:
    flags = 0
    propagation: list[int] = []
    data: list[str] = []
    extensions: set[str] = set()
    rset = rclr = 0
    for opt in options or ():
        known = FLAG_OPTIONS.get(opt)
        if known is not None:
            clear, flag = known
            if clear:
                flags &= ~flag
            else:
                flags |= flag
            continue
        prop = PROPAGATION_OPTIONS.get(opt)
        if prop is not None:
            propagation.append(prop)
            continue
        if opt in EXTENSION_OPTIONS:
            extensions.add(opt)
            continue
        rattr = RECURSIVE_ATTRS.get(opt)
        if rattr is not None:
            rset = (rset & ~rattr[0] & ~rattr[1]) | rattr[0]
            rclr = (rclr & ~rattr[0]) | rattr[1]
            continue
        if opt in RECURSIVE_ATTR_OPTIONS:
            raise MountOptionError(f"mount option {opt!r} (recursive mount attribute) is not supported")
        data.append(opt)
    parsed = MountOptions(flags, propagation, ",".join(data), frozenset(extensions))
    parsed.rattr_set, parsed.rattr_clr = rset, rclr
    return parsed


class PathEscapeError(ValueError):
    pass


MAX_SYMLINKS = 255


def resolve_in_root(root: str, unsafe: str) -> str:
    """Return the host path of `unsafe` as seen with `root` as `/`.

    Every existing component is checked with lstat; symlinks are expanded
    relative to the root, and `..` at the root stays at the root. Components
    that do not exist yet are appended as they are (the caller creates them,
    and creates them inside what was resolved so far).
    """
    root = os.path.abspath(root)
    parts = [p for p in unsafe.split("/") if p]
    resolved: list[str] = []
    links = 0
    while parts:
        part = parts.pop(0)
        if part == ".":
            continue
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = root + "/" + "/".join(resolved + [part]) if resolved else root + "/" + part
        try:
            st = os.lstat(candidate)
        except FileNotFoundError:
            resolved.append(part)
            continue
        except NotADirectoryError:
            raise PathEscapeError(f"{unsafe}: a component is not a directory") from None
        if stat.S_ISLNK(st.st_mode):
            links += 1
            if links > MAX_SYMLINKS:
                raise PathEscapeError(f"{unsafe}: too many levels of symbolic links")
            target = os.readlink(candidate)
            if target.startswith("/"):
                resolved = []
            parts = [p for p in target.split("/") if p] + parts
            continue
        resolved.append(part)
    return root + ("/" + "/".join(resolved) if resolved else "")


def mkdir_all_in_root(root: str, path_in_root: str, mode: int = 0o755) -> str:
    """Create `path_in_root` (resolved safely) as a directory chain; return its host path."""
    target = resolve_in_root(root, path_in_root)
    rel = target[len(os.path.abspath(root)):].strip("/")
    current = os.path.abspath(root)
    for part in rel.split("/") if rel else ():
        current = current + "/" + part
        try:
            os.mkdir(current, mode)
        except FileExistsError:
            st = os.lstat(current)
            if stat.S_ISLNK(st.st_mode):
                # a symlink appeared after resolution: refuse rather than follow it
                raise PathEscapeError(f"{path_in_root}: {current} changed into a symlink") from None
    return target


# --------------------------------------------------------------------------
# mount operations
# --------------------------------------------------------------------------


class MountOp:
    """One mount (or link) at `dest`; subclasses name their fields in `__slots__`.

    `apply(target, flags)` performs it at `target` (default `dest`; the rootfs
    code passes a safe /proc/self/fd path for the same place) with `flags`
    (MS_*) added to the operation's own.
    """

    __slots__ = ("dest",)

    def __init__(self, dest: str) -> None:
        self.dest = dest

    def _fields(self) -> tuple[object, ...]:
        names = [n for cls in reversed(type(self).__mro__) for n in getattr(cls, "__slots__", ())]
        return tuple(getattr(self, n) for n in names)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MountOp) and type(other) is type(self) and other._fields() == self._fields()

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._fields()))

    def __repr__(self) -> str:
        return f"{type(self).__name__}{self._fields()!r}"

    def apply(self, target: str | None = None, flags: int = 0) -> None:
        raise NotImplementedError


class Overlay(MountOp):
    """An overlayfs of `lowerdirs` (bottom layer first, as images list them) under `upperdir`.

    overlayfs wants the top layer first in `lowerdir=`; `options()` is the one
    place that string is built. `volatile` skips the syncs of the upper dir
    (see pyrkt.pod.stage1 for why a pod's rootfs may); kernels before 5.10
    refuse the option with EINVAL, and `apply` then mounts without it.
    """

    __slots__ = ("lowerdirs", "upperdir", "workdir", "volatile")

    def __init__(self, dest: str, lowerdirs: list[str] | tuple[str, ...], upperdir: str, workdir: str, volatile: bool = False) -> None:
        super().__init__(dest)
        self.lowerdirs = tuple(lowerdirs)
        self.upperdir = upperdir
        self.workdir = workdir
        self.volatile = volatile

    def options(self, volatile: bool | None = None) -> str:
        data = f"lowerdir={':'.join(reversed(self.lowerdirs))},upperdir={self.upperdir},workdir={self.workdir}"
        return data + ",volatile" if (self.volatile if volatile is None else volatile) else data

    def apply(self, target: str | None = None, flags: int = 0) -> None:
        where = target or self.dest
        if self.volatile:
            try:
                sc.mount("overlay", where, "overlay", flags, self.options())
                return
            except OSError as exc:
                if exc.errno != errno.EINVAL:
                    raise
        sc.mount("overlay", where, "overlay", flags, self.options(volatile=False))


class Bind(MountOp):
    """A bind mount of `source` (with everything mounted below it when `recursive`).

    The kernel ignores other flags on a bind: read-only and the like need a
    remount after it, which the caller does.
    """

    __slots__ = ("source", "recursive")

    def __init__(self, source: str, dest: str, recursive: bool = True) -> None:
        super().__init__(dest)
        self.source = source
        self.recursive = recursive

    def apply(self, target: str | None = None, flags: int = 0) -> None:
        sc.mount(self.source, target or self.dest, None, MS_BIND | (MS_REC if self.recursive else 0) | flags)


class Tmpfs(MountOp):
    """A tmpfs with its data `options` (e.g. `mode=755`) and its own MS_* `flags`."""

    __slots__ = ("options", "flags")

    def __init__(self, dest: str, options: str = "mode=755", flags: int = MS_NOSUID | MS_NODEV | MS_NOEXEC) -> None:
        super().__init__(dest)
        self.options = options
        self.flags = flags

    def apply(self, target: str | None = None, flags: int = 0) -> None:
        sc.mount("tmpfs", target or self.dest, "tmpfs", self.flags | flags, self.options or None)


class Cgroup2(MountOp):
    """The cgroup2 filesystem (in a cgroup namespace: the container's own cgroup as its root)."""

    __slots__ = ()

    def apply(self, target: str | None = None, flags: int = 0) -> None:
        sc.mount("cgroup2", target or self.dest, "cgroup2", flags)


class Cgroup(MountOp):
    """A cgroup v1 hierarchy: `controllers` as mount options (`cpu,cpuacct`, `name=systemd`)."""

    __slots__ = ("controllers",)

    def __init__(self, dest: str, controllers: str) -> None:
        super().__init__(dest)
        self.controllers = controllers

    def apply(self, target: str | None = None, flags: int = 0) -> None:
        sc.mount("cgroup", target or self.dest, "cgroup", flags, self.controllers)


class Symlink(MountOp):
    """A symbolic link at `dest` pointing to `link_to` (e.g. cpu -> cpu,cpuacct); an existing entry is left."""

    __slots__ = ("link_to",)

    def __init__(self, link_to: str, dest: str) -> None:
        super().__init__(dest)
        self.link_to = link_to

    def apply(self, target: str | None = None, flags: int = 0) -> None:
        where = target or self.dest
        if not os.path.lexists(where):
            os.symlink(self.link_to, where)
