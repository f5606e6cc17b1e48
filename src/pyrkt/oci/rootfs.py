"""Building the container's root filesystem, inside its new mount namespace.

Runs in the container's init before pivot_root: propagation, the rootfs bind
mount, `mounts` in order, /dev (devices and symlinks), then pivot_root (or
chroot with --no-pivot). After pivot_root: masked and read-only paths and the
read-only root. Every destination is resolved inside the rootfs
(`resolve_in_root`) and mounted through an O_PATH descriptor checked to lie
inside the rootfs, so a symlink in the image never redirects a mount out.
"""

from __future__ import annotations

import os
import stat

from pyrkt.linux import syscalls as sc
from pyrkt.linux.mounts import MountOptions, PathEscapeError, mkdir_all_in_root, parse_options, resolve_in_root
from pyrkt.oci.config import Config, Device, Mount

TYPE_CHECKING = False  # bench/README.md "Speed rules"
if TYPE_CHECKING:
    from collections.abc import Callable

    from pyrkt.linux.cgroups import CgroupManager

DEFAULT_DEVICES = (
    # path, major, minor
    ("/dev/null", 1, 3),
    ("/dev/zero", 1, 5),
    ("/dev/full", 1, 7),
    ("/dev/random", 1, 8),
    ("/dev/urandom", 1, 9),
    ("/dev/tty", 5, 0),
)

DEV_SYMLINKS = (
    ("/proc/self/fd", "/dev/fd"),
    ("/proc/self/fd/0", "/dev/stdin"),
    ("/proc/self/fd/1", "/dev/stdout"),
    ("/proc/self/fd/2", "/dev/stderr"),
)

_PROPAGATION = {
    "private": sc.MS_PRIVATE,
    "rprivate": sc.MS_PRIVATE | sc.MS_REC,
    "shared": sc.MS_SHARED,
    "rshared": sc.MS_SHARED | sc.MS_REC,
    "slave": sc.MS_SLAVE,
    "rslave": sc.MS_SLAVE | sc.MS_REC,
    "unbindable": sc.MS_UNBINDABLE,
    "runbindable": sc.MS_UNBINDABLE | sc.MS_REC,
}

# flags a remount must keep when they are locked (inherited into a user namespace)
_LOCKABLE = sc.MS_RDONLY | sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC


class RootfsError(Exception):
    pass


class Rootfs:
    """The mount plan of one container, performed step by step."""

    def __init__(
        self, cfg: Config, bundle: str, in_userns: bool, new_netns: bool, new_cgroupns: bool, cgroups: CgroupManager | None = None
    ) -> None:
        self.cfg = cfg
        self.cgroups = cgroups
        self.bundle = bundle
        self.root = cfg.root_path
        self.in_userns = in_userns
        self.new_netns = new_netns
        self.new_cgroupns = new_cgroupns
        self.dev_bound = any(m.destination.rstrip("/") == "/dev" and _is_bind(m) for m in cfg.mounts)
        self.dev_readonly_flags = 0  # a tmpfs /dev asked read-only: remounted so in finalize()
        self.host_mntns = cfg.ns("mount") is None  # chroot only: config.py refuses anything that would mount


    # -- before pivot_root ------------------------------------------------
    def prepare(self) -> None:
        if self.host_mntns:
            self._mkdir_cwd()
            return
        prop = _PROPAGATION.get(self.cfg.rootfs_propagation or "", sc.MS_SLAVE | sc.MS_REC)
        if self.cfg.rootfs_propagation and self.cfg.rootfs_propagation not in _PROPAGATION:
            raise RootfsError(f"linux.rootfsPropagation {self.cfg.rootfs_propagation!r} is not a propagation mode")
        sc.mount(None, "/", None, prop)
        if prop & sc.MS_SHARED:
            # pivot_root refuses a new root whose parent mount is shared
            sc.mount(None, _mount_point_of(self.root), None, sc.MS_PRIVATE)
        sc.mount(self.root, self.root, None, sc.MS_BIND | sc.MS_REC)
        for m in self.cfg.mounts:
            self.mount(m)
        if not self.dev_bound:
            self.create_devices()
            self.dev_symlinks()
        self._mkdir_cwd()

    def _mkdir_cwd(self) -> None:
        cwd = self.cfg.process.cwd
        if cwd != "/":
            try:
                mkdir_all_in_root(self.root, cwd)
            except OSError:
                pass  # reported by chdir later, in the container's own words

    def mount(self, m: Mount) -> None:
        opts = parse_options(m.options)
        if m.type in ("proc", "sysfs"):
            # as runc: never through a symlink (or onto a file) that the image put there
            literal = os.path.join(self.root, os.path.normpath(m.destination).lstrip("/"))
            if os.path.lexists(literal) and (os.path.islink(literal) or not os.path.isdir(literal)):
                raise RootfsError(f"mount {m.type} on {m.destination}: filesystem {m.type!r} must be mounted on ordinary directory")
        try:
            dest = resolve_in_root(self.root, m.destination)
        except PathEscapeError as exc:
            raise RootfsError(f"mount destination {m.destination}: {exc}") from None
        if m.uid_mappings or m.gid_mappings or "idmap" in opts.extensions or "ridmap" in opts.extensions:
            if not (opts.is_bind or m.type == "bind"):
                raise RootfsError(f"mount {m.destination}: idmapped mounts are supported for bind mounts only")
            if not (m.uid_mappings and m.gid_mappings):
                raise RootfsError(f"mount {m.destination}: an idmapped mount needs uidMappings and gidMappings")
            if self.in_userns:
                raise RootfsError(f"mount {m.destination}: idmapped mounts in a container with a user namespace are not supported yet")
        if opts.is_bind or m.type == "bind":
            self._bind(m, dest, opts.flags | sc.MS_BIND, opts.propagation)
            self._recursive_attrs(m, dest, opts)
            return
        if m.type == "cgroup" or m.type == "cgroup2":
            self._cgroup(m, dest, opts.flags)
            return
        _mkdir_target(self.root, dest)
        flags = opts.flags
        if flags & sc.MS_RDONLY and m.type == "tmpfs" and os.path.normpath(m.destination) == "/dev":
            # read-only only at the end (runc): /dev/pts, /dev/shm and the device nodes go in first
            flags &= ~sc.MS_RDONLY
            self.dev_readonly_flags = flags | sc.MS_RDONLY
        data = opts.data
        with _SafeTarget(self.root, dest) as target:
            if "tmpcopyup" in opts.extensions and m.type == "tmpfs":
                self._tmpcopyup(target, dest, flags, data)
            else:
                try:
                    sc.mount(m.source or m.type, target, m.type, flags, data or None)
                except OSError as exc:
                    if m.type == "sysfs" and exc.errno in (1, 13) and not self.new_netns:
                        # sysfs cannot be mounted without a network namespace of one's own
                        # in a user namespace: bind the host's, read-only as asked
                        sc.mount("/sys", target, None, sc.MS_BIND | sc.MS_REC)
                    elif m.type == "mqueue" and exc.errno in (1, 13):
                        sc.mount("/dev/mqueue", target, None, sc.MS_BIND)
                    else:
                        raise RootfsError(f"mount {m.type} on {m.destination}: {exc.strerror}") from None
                    self._after(dest, lambda t: _remount(t, flags | sc.MS_BIND))
        self._after(dest, lambda t: _propagate(t, opts.propagation))
        self._recursive_attrs(m, dest, opts)

    def _recursive_attrs(self, m: Mount, dest: str, opts: MountOptions) -> None:
        if not (opts.rattr_set or opts.rattr_clr):
            return
        from pyrkt.oci import idmap

        def apply(target: str) -> None:
            try:
                idmap.set_recursive_attrs(target, opts.rattr_set, opts.rattr_clr)
            except (OSError, idmap.IdmapError) as exc:
                raise RootfsError(f"mount {m.destination}: recursive mount options: {exc}") from None

        self._after(dest, apply)

    def _bind(self, m: Mount, dest: str, flags: int, propagation: list[int]) -> None:
        source = m.source
        if not source.startswith("/"):
            source = os.path.join(self.bundle, source)
        if m.source_fd >= 0:
            source = f"/proc/self/fd/{m.source_fd}"  # a detached tree create made before the user namespace
        try:
            st = os.stat(source)
        except OSError as exc:
            raise RootfsError(f"mount source {m.source} for {m.destination}: {exc.strerror}") from None
        if stat.S_ISDIR(st.st_mode):
            _mkdir_target(self.root, dest)
        else:
            _mkfile_target(self.root, dest)
        with _SafeTarget(self.root, dest) as target:
            try:
                if m.uid_mappings:
                    from pyrkt.oci import idmap

                    try:
                        idmap.bind(source, target, m.uid_mappings, m.gid_mappings, bool(flags & sc.MS_REC) or "ridmap" in m.options)  # type: ignore[arg-type]
                    except idmap.IdmapError as exc:
                        raise RootfsError(f"mount {m.destination}: {exc}") from None
                elif m.source_fd >= 0:
                    from pyrkt.oci import idmap

                    idmap.attach_tree(m.source_fd, target)
                else:
                    sc.mount(source, target, None, sc.MS_BIND | (flags & sc.MS_REC))
            except OSError as exc:
                raise RootfsError(f"bind mount {m.source} on {m.destination}: {exc.strerror}") from None
        if flags & ~(sc.MS_BIND | sc.MS_REC):
            self._after(dest, lambda t: _remount(t, flags))
        self._after(dest, lambda t: _propagate(t, propagation))

    def _after(self, dest: str, action: "Callable[[str], object]") -> None:
        """Act on the mount now at `dest` (a fresh descriptor: the one used to
        mount still names the directory underneath)."""
        with _SafeTarget(self.root, dest) as target:
            action(target)

    def _tmpcopyup(self, target: str, dest: str, flags: int, data: str) -> None:
        """Mount a tmpfs with a copy of what the image had at the destination."""
        import shutil
        import tempfile

        staging = tempfile.mkdtemp(prefix=".pyrkt-tmpcopyup-", dir="/tmp")
        try:
            sc.mount("tmpfs", staging, "tmpfs", flags & ~sc.MS_RDONLY, data or None)
            for name in os.listdir(target):
                src = os.path.join(target, name)
                if os.path.isdir(src) and not os.path.islink(src):
                    shutil.copytree(src, os.path.join(staging, name), symlinks=True)
                else:
                    shutil.copy2(src, os.path.join(staging, name), follow_symlinks=False)
            sc.mount(staging, target, None, sc.MS_MOVE)
            if flags & sc.MS_RDONLY:
                self._after(dest, lambda t: _remount(t, flags | sc.MS_BIND))
        finally:
            try:
                os.rmdir(staging)
            except OSError:
                pass

    def _cgroup(self, m: Mount, dest: str, flags: int) -> None:
        """Show the container its own cgroups at the destination, as their roots.

        cgroup v2: a cgroup2 mount in a cgroup namespace of its own, else a
        bind of the container's cgroup directory. v1 (or hybrid): a tmpfs with
        a bind of the container's directory in each hierarchy, and symlinks
        for co-mounted controllers (cpu -> cpu,cpuacct), as runc does -- with
        or without a cgroup namespace: the bind shows the same tree a fresh
        v1 mount inside the namespace would, and it needs neither the
        namespace nor the init's placement in the cgroups, so it can be done
        before `go` (see init). The directories come from the container's
        cgroup manager, never from /proc/self/cgroup, which inside a cgroup
        namespace says "/" (binding the host's root hierarchies instead).
        """
        from pyrkt.linux.cgroups.plan import cgroup_mount_plan
        from pyrkt.linux.mounts import Bind, Cgroup2, Symlink, Tmpfs

        _mkdir_target(self.root, dest)
        manager = self.cgroups if self.cgroups is not None else _own_cgroup_manager()
        cgroupns = self.new_cgroupns and manager.mode == "v2"
        sub_flags = flags | sc.MS_BIND | sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC
        v1 = False
        for op in cgroup_mount_plan(manager, dest=dest, cgroupns=cgroupns):
            target_path = op.dest
            if isinstance(op, Symlink):
                op.apply()
                continue
            top = target_path == dest
            if not top:
                os.mkdir(target_path, 0o755)
            with _SafeTarget(self.root, target_path) as target:
                if isinstance(op, Tmpfs):
                    v1 = True
                    op.apply(target, flags & ~sc.MS_RDONLY)  # read-only once its mount points exist (below)
                elif isinstance(op, Cgroup2):
                    op.apply(target, flags)
                elif isinstance(op, Bind):
                    op.apply(target)  # the flags come with the remount
                else:
                    raise RootfsError(f"mount {m.destination}: unexpected cgroup mount {op!r}")
            if isinstance(op, Bind):
                remount = (flags | sc.MS_BIND) if top else sub_flags
                self._after(target_path, lambda t: _remount(t, remount))
        if v1 and flags & sc.MS_RDONLY:
            self._after(dest, lambda t: _remount(t, sub_flags))

    def create_devices(self) -> None:
        devices: dict[str, Device] = {}
        for path, major, minor in DEFAULT_DEVICES:
            devices[path] = Device(path, "c", major, minor, 0o666, 0, 0)
        for dev in self.cfg.devices:
            devices[dev.path] = dev
        for dev in devices.values():
            self._create_device(dev)

    def _create_device(self, dev: Device) -> None:
        try:
            dest = resolve_in_root(self.root, dev.path)
        except PathEscapeError as exc:
            raise RootfsError(f"device {dev.path}: {exc}") from None
        parent = os.path.dirname(dest)
        if not os.path.isdir(parent):
            mkdir_all_in_root(self.root, os.path.dirname(dev.path))
        if self.in_userns:
            # mknod is not allowed in a user namespace: bind the host's node
            _mkfile_target(self.root, dest)
            with _SafeTarget(self.root, dest) as target:
                sc.mount(dev.path, target, None, sc.MS_BIND)
            return
        kind = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}[dev.type]
        mode = (dev.file_mode if dev.file_mode is not None else 0o666) & 0o7777
        try:
            os.unlink(dest)
        except FileNotFoundError:
            pass
        except IsADirectoryError:
            raise RootfsError(f"device {dev.path}: a directory is in the way") from None
        old = os.umask(0)
        try:
            os.mknod(dest, kind | mode, os.makedev(dev.major, dev.minor) if dev.type != "p" else 0)
        except OSError as exc:
            raise RootfsError(f"mknod {dev.path}: {exc.strerror}") from None
        finally:
            os.umask(old)
        os.chown(dest, dev.uid or 0, dev.gid or 0)

    def dev_symlinks(self) -> None:
        dev = resolve_in_root(self.root, "/dev")
        if not os.path.isdir(dev):
            return
        links = list(DEV_SYMLINKS)
        if os.path.exists("/proc/kcore"):
            links.append(("/proc/kcore", "/dev/core"))
        for target, link in links:
            path = resolve_in_root(self.root, link)
            try:
                os.symlink(target, path)
            except FileExistsError:
                pass
        ptmx = resolve_in_root(self.root, "/dev/ptmx")
        if os.path.isdir(resolve_in_root(self.root, "/dev/pts")):
            try:
                os.unlink(ptmx)
            except FileNotFoundError:
                pass
            os.symlink("pts/ptmx", ptmx)

    def pivot(self, no_pivot: bool) -> None:
        if self.host_mntns:
            os.chroot(self.root)
            os.chdir("/")
            return
        if no_pivot:
            _hide_host_proc_and_sys(self.root)
            os.chdir(self.root)
            sc.mount(self.root, "/", None, sc.MS_MOVE)
            os.chroot(".")
            os.chdir("/")
            return
        old_root = os.open("/", os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
        new_root = os.open(self.root, os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
        try:
            os.fchdir(new_root)
            sc.pivot_root(".", ".")
            # the old root is now stacked under the new one: detach it
            os.fchdir(old_root)
            sc.mount(None, ".", None, sc.MS_SLAVE | sc.MS_REC)
            sc.umount2(".", sc.MNT_DETACH)
            os.chdir("/")
        finally:
            os.close(old_root)
            os.close(new_root)

    # -- after pivot_root -------------------------------------------------
    def finalize(self) -> None:
        if self.host_mntns:
            return
        for path in self.cfg.readonly_paths:
            _readonly_path(path)
        for path in self.cfg.masked_paths:
            _mask_path(path)
        if self.cfg.root_readonly:
            _remount("/", sc.MS_BIND | sc.MS_RDONLY)
        if self.dev_readonly_flags:
            _remount("/dev", self.dev_readonly_flags & ~sc.MS_BIND)


def _hide_host_proc_and_sys(root: str) -> None:
    """--no-pivot leaves the old root reachable under the chroot: detach the host's full proc
    and sysfs mounts first (as runc does), or the kernel lets a nested user namespace mount a
    fresh, unmasked proc, since a full one is visible in the mount namespace."""
    top = root.rstrip("/") + "/"
    hide = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _sep, right = line.partition(" - ")
            fields, fstype = left.split(), right.split()[0] if right else ""
            point = fields[4].replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")
            if fields[3] == "/" and fstype in ("proc", "sysfs") and point != root and not point.startswith(top):
                hide.append(point)
    for point in hide:
        try:
            sc.mount(None, point, None, sc.MS_SLAVE | sc.MS_REC)  # the unmount must not reach the host
        except OSError as exc:
            if exc.errno in (2, 22):  # gone with a parent detached before it
                continue
            raise
        try:
            sc.umount2(point, sc.MNT_DETACH)
        except OSError as exc:
            if exc.errno not in (1, 22):
                raise
            sc.mount("tmpfs", point, "tmpfs", 0)  # not ours to unmount (a locked mount): cover it


def _is_bind(m: Mount) -> bool:
    return m.type == "bind" or "bind" in m.options or "rbind" in m.options


def _mkdir_target(root: str, dest: str) -> None:
    if os.path.isdir(dest):
        return
    mkdir_all_in_root(root, dest[len(root):] or "/")


def _mkfile_target(root: str, dest: str) -> None:
    if os.path.lexists(dest):
        if os.path.isdir(dest):
            raise RootfsError(f"cannot mount a file on directory {dest[len(root):]}")
        return
    mkdir_all_in_root(root, os.path.dirname(dest[len(root):]) or "/")
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    os.close(fd)


class _SafeTarget:
    """An O_PATH descriptor of a mount target, verified to lie inside the rootfs.

    Mounting onto /proc/self/fd/N acts on the object opened, not on whatever
    the path names by the time mount(2) runs, closing the race in which an
    image swaps a directory for a symlink.
    """

    def __init__(self, root: str, dest: str) -> None:
        self.root = root
        self.dest = dest
        self.fd = -1

    def __enter__(self) -> str:
        self.fd = os.open(self.dest, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
        real = os.readlink(f"/proc/self/fd/{self.fd}")
        if real != self.root and not real.startswith(self.root.rstrip("/") + "/"):
            os.close(self.fd)
            raise RootfsError(f"mount target {self.dest} resolved outside the rootfs ({real})")
        return f"/proc/self/fd/{self.fd}"

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)


def _propagate(target: str, propagation: list[int]) -> None:
    for prop in propagation:
        sc.mount(None, target, None, prop)


def _remount(target: str, flags: int) -> None:
    """Remount a bind mount with `flags`, keeping flags the kernel has locked."""
    flags |= sc.MS_REMOUNT | sc.MS_BIND
    try:
        sc.mount(None, target, None, flags)
    except OSError as exc:
        if exc.errno != 1:
            raise
        current = os.statvfs(target).f_flag & _LOCKABLE
        sc.mount(None, target, None, flags | current)


def _readonly_path(path: str) -> None:
    try:
        sc.mount(path, path, None, sc.MS_BIND | sc.MS_REC)
    except OSError as exc:
        if exc.errno == 2:
            return
        raise
    _remount(path, sc.MS_BIND | sc.MS_RDONLY | sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC)


def _mask_path(path: str) -> None:
    try:
        st = os.stat(path)
    except OSError:
        return
    if stat.S_ISDIR(st.st_mode):
        sc.mount("tmpfs", path, "tmpfs", sc.MS_RDONLY, "size=0k")
    else:
        sc.mount("/dev/null", path, None, sc.MS_BIND)


def _own_cgroup_manager() -> CgroupManager:
    """This process's own cgroups, for a Rootfs built without the container's manager."""
    from pyrkt.linux.cgroups import CgroupManager, detect_layout

    layout = detect_layout()
    dirs = {c: h.host_dir(h.own) for h in layout.hierarchies for c in h.controllers}
    return CgroupManager(layout.mode, dirs)


def _mount_point_of(path: str) -> str:
    """The mount point that contains `path` (longest match in mountinfo)."""
    best = "/"
    path = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split(" ", 5)[4].replace("\\040", " ")
            if (path == mp or path.startswith(mp.rstrip("/") + "/")) and len(mp) > len(best):
                best = mp
    return best
