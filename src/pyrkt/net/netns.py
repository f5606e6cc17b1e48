"""The pod's network namespace, bind-mounted at `<pod dir>/netns`.

The pod init creates the namespace (clone with CLONE_NEWNET); the bind mount
keeps it alive after the init is gone, so that CNI DEL can still enter it at
pod exit or in `rkt gc` (ptp removes its veth and its masquerade rule only
from inside the namespace), and so that `enter`, `stop` and `gc` find it by
path. The mount moves with the pod dir when the pod changes state (rename(2)
of a directory carries the mounts below it).
"""

from __future__ import annotations

import os

from pyrkt.linux import syscalls as sc

NAME = "netns"


def path(pod_dir: str) -> str:
    return os.path.join(pod_dir, NAME)


def bind(pod_dir: str, pid: int) -> str:
    """Bind /proc/PID/ns/net to the pod's netns file; returns its path."""
    target = path(pod_dir)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o444)
    os.close(fd)
    sc.mount(f"/proc/{pid}/ns/net", target, None, sc.MS_BIND)
    return target


def is_bound(pod_dir: str) -> bool:
    """True when the netns file is a mount (a namespace is held there)."""
    target = path(pod_dir)
    try:
        st = os.stat(target)
        parent = os.stat(pod_dir)
    except OSError:
        return False
    return st.st_dev != parent.st_dev


def release(pod_dir: str) -> None:
    """Unmount and remove the netns file (the namespace goes when nothing else holds it); idempotent."""
    target = path(pod_dir)
    for _ in range(3):
        if not is_bound(pod_dir):
            break
        try:
            sc.umount2(target, 2)  # MNT_DETACH
        except OSError:
            break
    try:
        os.unlink(target)
    except OSError:
        pass
