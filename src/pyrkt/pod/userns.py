"""`--private-users`: the pod in a user namespace of its own, root inside an unprivileged range outside.

rkt gives such a pod a random range of 65536 host uids/gids (a multiple of
65536) and shifts the pod's files into it. pyrkt shifts nothing on disk: the
image layers (shared by every pod, read-only) and the app's upper dir are
attached through idmapped mounts carrying the pod's mapping, and the overlay
is built on those, so a file owned by uid N on disk is owned by N inside the
pod (host uid shift+N) and files the app creates land on disk with their
in-pod owners. That keeps the store's trees untouched and `rkt export` of such
an app unchanged.

Two details the kernel imposes on that overlay:
- overlayfs itself cannot be idmapped (its layers can, since Linux 5.19);
- overlayfs does its work in the upper dir (creating `work/`, copying up) with
  the credentials of whoever mounted it, and host uid 0 has no mapping in the
  idmapped upper (EOVERFLOW, and the overlay falls back to read-only). So the
  overlay is mounted by a short-lived child whose fsuid/fsgid are the range's
  root (shift), keeping its capabilities (SECBIT_NO_SETUID_FIXUP).

The pod init creates the user namespace together with the pod's other
namespaces, so they all belong to it, and each app joins it first (OCI
`linux.namespaces` by path), before the others.
"""

from __future__ import annotations

import os

from pyrkt.records import dataclass

TYPE_CHECKING = False  # bench/README.md "Speed rules"
if TYPE_CHECKING:
    from pyrkt.linux.mounts import Overlay

RANGE = 65536
PR_SET_SECUREBITS = 28
SECBIT_NO_SETUID_FIXUP = 1 << 2


class UsernsError(Exception):
    """One-line error setting up a pod's user namespace."""


@dataclass(frozen=True)
class UserRange:
    """Pod uid/gid 0..count-1 are host shift..shift+count-1 (the same for gids)."""

    shift: int
    count: int = RANGE

    def to_json(self) -> dict[str, int]:
        return {"shift": self.shift, "count": self.count}

    @classmethod
    def from_json(cls, obj: dict[str, int]) -> "UserRange":
        return cls(int(obj["shift"]), int(obj.get("count", RANGE)))

    def map_line(self) -> str:
        return f"0 {self.shift} {self.count}\n"

    def overlaps(self, start: int, count: int) -> bool:
        return self.shift < start + count and start < self.shift + self.count


def check_supported() -> None:
    """User namespaces are on in this kernel (rkt's check, with its words)."""
    try:
        with open("/proc/sys/user/max_user_namespaces") as f:
            limit = int(f.read().strip() or "0")
    except (OSError, ValueError):
        limit = 1 if os.path.exists("/proc/self/ns/user") else 0
    if limit <= 0:
        raise UsernsError("--private-users is not supported, kernel compiled without user namespace support")


def subid_ranges() -> list[tuple[int, int]]:
    """Ranges handed to users in /etc/subuid and /etc/subgid: never give those to a pod."""
    out = []
    for path in ("/etc/subuid", "/etc/subgid"):
        try:
            with open(path) as f:
                for line in f:
                    parts = line.strip().split(":")
                    if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
                        out.append((int(parts[1]), int(parts[2])))
        except OSError:
            continue
    return out


def _pod_ranges(pods_dir: str) -> list[tuple[int, int]]:
    """Ranges of the pods that may still run (prepared or running)."""
    import json

    out = []
    for state in ("prepared", "run"):
        base = os.path.join(pods_dir, state)
        try:
            names = os.listdir(base)
        except OSError:
            continue
        for name in names:
            try:
                with open(os.path.join(base, name, "runtime.json")) as f:
                    pu = json.load(f).get("private_users")
            except (OSError, ValueError):
                continue
            if isinstance(pu, dict) and "shift" in pu:
                out.append((int(pu["shift"]), int(pu.get("count", RANGE))))
    return out


def choose(pods_dir: str) -> UserRange:
    """A random range of 65536 ids, aligned on 65536, above the first two blocks, free of other pods and subids."""
    import random

    taken = subid_ranges() + _pod_ranges(pods_dir)
    rng = random.SystemRandom()
    for _ in range(1000):
        candidate = UserRange(rng.randrange(2, 65534) * RANGE)
        if not any(candidate.overlaps(start, count) for start, count in taken):
            return candidate
    raise UsernsError("--private-users: no free range of host uids left for the pod")


def write_maps(pid: int, rng: UserRange) -> None:
    """Map the user namespace of `pid` (written from outside, by root: setgroups stays allowed)."""
    for name in ("uid_map", "gid_map"):
        try:
            with open(f"/proc/{pid}/{name}", "w") as f:
                f.write(rng.map_line())
        except OSError as exc:
            raise UsernsError(f"--private-users: writing {name} of the pod init: {exc.strerror}") from None


def _idmapped(source: str, target: str, rng: UserRange) -> None:
    from pyrkt.oci.config import IDMapping
    from pyrkt.oci.idmap import IdmapError, bind

    os.makedirs(target, exist_ok=True)
    maps = [IDMapping(0, rng.shift, rng.count)]
    try:
        bind(source, target, maps, maps, False)  # type: ignore[arg-type]
    except (IdmapError, OSError) as exc:
        raise UsernsError(f"--private-users needs idmapped mounts (Linux 5.12+, ext4/xfs/btrfs/tmpfs): {exc}") from None


def _detach(path: str) -> None:
    from pyrkt.linux import syscalls as sc

    try:
        sc.umount2(path, sc.MNT_DETACH)
    except OSError:
        pass
    try:
        os.rmdir(path)
    except OSError:
        pass


def mount_overlay(app_dir: str, lowerdirs: list[str], rng: UserRange) -> str:
    """The app's overlay rootfs, built on idmapped views of its layers and upper dir; returns its path."""
    rootfs = os.path.join(app_dir, "rootfs")
    for d in (rootfs, os.path.join(app_dir, "upper"), os.path.join(app_dir, "work")):
        os.makedirs(d, exist_ok=True)
    if os.path.ismount(rootfs):
        return rootfs
    stage = os.path.join(app_dir, "idmap")
    os.makedirs(stage, exist_ok=True)
    staged: list[str] = []
    try:
        rw = os.path.join(stage, "rw")
        _idmapped(app_dir, rw, rng)
        staged.append(rw)
        lowers = []
        for i, lower in enumerate(lowerdirs):
            target = os.path.join(stage, str(i))
            _idmapped(lower, target, rng)
            staged.append(target)
            lowers.append(target)
        from pyrkt.linux.mounts import Overlay

        _mount_as(rng.shift, Overlay(rootfs, lowers, f"{rw}/upper", f"{rw}/work"))
    finally:
        # the overlay holds private clones of its layers: the staging mounts can go at once
        for path in reversed(staged):
            _detach(path)
        try:
            os.rmdir(stage)
        except OSError:
            pass
    return rootfs


def _mount_as(root_id: int, overlay: Overlay) -> None:
    """mount(overlay) from a child whose fsuid/fsgid are the pod's root, capabilities kept."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        code = 0
        try:
            from pyrkt.linux import syscalls as sc

            sc.prctl(PR_SET_SECUREBITS, SECBIT_NO_SETUID_FIXUP)
            os.setresgid(0, root_id, 0)
            os.setresuid(0, root_id, 0)
            overlay.apply()
        except BaseException as exc:  # noqa: BLE001 - reported to the parent as one line
            try:
                os.write(w, str(getattr(exc, "strerror", None) or exc).encode()[:500])
            except OSError:
                pass
            code = 1
        os._exit(code)
    os.close(w)
    try:
        message = b""
        while chunk := os.read(r, 512):
            message += chunk
    finally:
        os.close(r)
        _, status = os.waitpid(pid, 0)
    if status != 0:
        raise UsernsError(f"--private-users: mounting the shifted overlay rootfs: {message.decode(errors='replace') or 'failed'} (try --no-overlay)")


def bind_rootfs(rootfs: str, rng: UserRange) -> str:
    """--no-overlay: the app's own copy of the image, seen through an idmapped mount on itself."""
    if not _is_idmapped(rootfs):
        _idmapped(rootfs, rootfs, rng)
    return rootfs


def _is_idmapped(path: str) -> bool:
    real = os.path.realpath(path)
    return any(point == real and "idmapped" in options.split(",") for point, options in _mount_points())


VIEW_ROOT = "/run/pyrkt-pods-userns"


def view_of(pod_dir: str) -> str:
    return os.path.join(VIEW_ROOT, os.path.basename(pod_dir.rstrip("/")))


def expose(pod_dir: str) -> str:
    """The pod dir (with its apps' rootfs mounts), bound where the pod's root can reach it; returns that path.

    The app's init joins the pod's user namespace before it mounts anything, and
    from then on host directories count as "other" to it: every directory above
    its rootfs and volumes needs o+x. The data dir's ancestors may not give that
    (a 0700 home, pytest's tmp dirs, rkt's own 0750 pods/), so the apps get their
    bundles through this bind under a 0711 directory of ours.
    """
    from pyrkt.linux import syscalls as sc

    os.makedirs(VIEW_ROOT, mode=0o711, exist_ok=True)
    os.chmod(VIEW_ROOT, 0o711)
    view = view_of(pod_dir)
    os.makedirs(view, mode=0o711, exist_ok=True)
    if not any(point == view for point, _ in _mount_points()):
        sc.mount(pod_dir, view, None, sc.MS_BIND | sc.MS_REC)
        sc.mount(None, view, None, sc.MS_PRIVATE | sc.MS_REC)
    return view


def _mount_points() -> list[tuple[str, str]]:
    """(mount point, per-mount options) of our mount namespace, innermost last.

    os.path.ismount cannot see these: a bind or idmapped mount of a directory
    of the same filesystem has the same st_dev as its parent.
    """
    out = []
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                fields = line.split()
                if len(fields) > 5:
                    point = fields[4].replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")
                    out.append((point, fields[5]))
    except OSError:
        pass
    return out


def unexpose(pod_dir: str) -> None:
    """Undo expose() and the idmapped rootfs binds of --no-overlay apps; harmless when there is nothing to undo."""
    from pyrkt.linux import syscalls as sc

    view = view_of(pod_dir)
    apps = os.path.join(os.path.realpath(pod_dir), "apps") + "/"
    for point, options in reversed(_mount_points()):
        if point == view or (point.startswith(apps) and point.endswith("/rootfs") and "idmapped" in options.split(",")):
            try:
                sc.umount2(point, sc.MNT_DETACH)
            except OSError:
                pass
    try:
        os.rmdir(view)
    except OSError:
        pass
