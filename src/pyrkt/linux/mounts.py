"""Mount options and safe paths inside a root filesystem.

`parse_options` turns an OCI mount's option list into mount(2) flags, the
propagation flags (applied in a separate call, as the kernel requires), and
the data string for the filesystem. It is pure and tested without root.

`resolve_in_root` resolves a path as if `root` were `/`: `..` never climbs
above it and symlinks (absolute or relative) are followed inside it. A mount
destination in an untrusted image is resolved this way, so a symlink such as
`/proc -> /` in the image can never redirect a mount onto the host.
"""

from __future__ import annotations

import os
import stat

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
