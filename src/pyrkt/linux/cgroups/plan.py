"""What the container sees of cgroups: the /sys/fs/cgroup mount plan, and the
`linux.cgroup` part of the runtime's `features` document.

Split from `pyrkt.linux.cgroups` (which re-exports these names): the
container's init needs the plan, `features` the other, create neither.
"""

from __future__ import annotations

import os

from pyrkt.linux.cgroups.base import CGROUP_ROOT, UNIFIED, _read_opt
from pyrkt.linux.cgroups.manager import CgroupManager, Layout, detect_layout
from pyrkt.linux.mounts import Bind, Cgroup, Cgroup2, MountOp, Symlink, Tmpfs

__all__ = ["features", "cgroup_mount_plan", "MountOp"]


def features(layout: Layout | None = None) -> dict[str, bool]:
    """The ``linux.cgroup`` object of the runtime-spec ``features`` document.

    ``systemd`` is true because ``slice:prefix:name`` paths are supported
    (written directly, without talking to systemd); ``systemdUser`` and
    ``rdma`` are true only when usable here.
    """
    layout = layout or detect_layout()
    names = {c for h in layout.hierarchies for c in h.controllers}
    rdma = "rdma" in names or (
        layout.mode == "v2" and "rdma" in (_read_opt(os.path.join(layout.hierarchies[0].mountpoint, "cgroup.controllers")) or "").split()
    )
    return {"v1": layout.mode == "v1", "v2": layout.mode == "v2", "systemd": True, "systemdUser": False, "rdma": rdma}


# --------------------------------------------------------------------------
# the /sys/fs/cgroup mount plan inside a container
# --------------------------------------------------------------------------

def cgroup_mount_plan(
    manager: CgroupManager,
    dest: str = CGROUP_ROOT,
    cgroupns: bool = True,
    layout: Layout | None = None,
) -> list[MountOp]:
    """What to mount at ``dest`` inside the container; data only, nothing is done.

    Operations of :mod:`pyrkt.linux.mounts`, applied in order by the runtime's
    mount code (``dest`` paths are inside the container root):

    - ``Tmpfs(dest)`` (mode 755, nosuid, nodev, noexec)
    - ``Cgroup(dest, controllers)`` — ``mount -t cgroup -o cpu,cpuacct cgroup dest``
    - ``Cgroup2(dest)`` — ``mount -t cgroup2 cgroup2 dest``
    - ``Bind(host_dir, dest)`` — bind the container's own cgroup dir;
      used instead of a cgroup mount when there is no cgroup namespace, so
      the container sees only its own cgroup, as runc does
    - ``Symlink(link_to, dest)`` — e.g. ``cpu -> cpu,cpuacct`` for
      co-mounted controllers

    v2: a single cgroup2 (or bind) op.  v1: a tmpfs, one op per hierarchy
    named after the host's mount directory, plus symlinks.
    """
    dest = dest.rstrip("/") or "/"
    dirs = manager._dirs
    if manager.mode == "v2":
        return [Cgroup2(dest)] if cgroupns else [Bind(dirs[UNIFIED], dest)]
    layout = layout or detect_layout()
    ops: list[MountOp] = [Tmpfs(dest)]
    links: list[MountOp] = []
    for h in layout.hierarchies:
        host = dirs.get(h.controllers[0])
        if host is None:
            continue
        sub = os.path.basename(h.mountpoint.rstrip("/")) or ",".join(h.controllers)
        target = f"{dest}/{sub}"
        if h.is_v2:
            ops.append(Cgroup2(target) if cgroupns else Bind(host, target))
            continue
        if cgroupns:
            ops.append(Cgroup(target, ",".join(h.controllers)))
        else:
            ops.append(Bind(host, target))
        if len(h.controllers) > 1:
            for c in h.controllers:
                name = c[len("name="):] if c.startswith("name=") else c
                if name != sub:
                    links.append(Symlink(sub, f"{dest}/{name}"))
    return ops + links
