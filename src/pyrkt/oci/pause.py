"""`pause` and `resume`: freeze and thaw every process of a container (cgroup v1 freezer or v2 cgroup.freeze)."""

from __future__ import annotations

from pyrkt.oci import lifecycle
from pyrkt.oci.errors import RuntimeFailure
from pyrkt.oci.state import open_container


def _set(root: str, container_id: str, op: str) -> None:
    sd, state, status = open_container(root, container_id)
    try:
        lifecycle.check(op, status, container_id)
        assert state is not None
        if not state.cgroup_paths:
            raise RuntimeFailure(f"container {container_id} has no cgroup: cannot {op} it")
        from pyrkt.linux.cgroups import CgroupError, CgroupManager

        try:
            mgr = CgroupManager.from_paths(state.cgroup_paths)
            if op == "pause":
                mgr.freeze()
            else:
                mgr.thaw()
        except CgroupError as exc:
            raise RuntimeFailure(f"{op}: {exc}") from None
    finally:
        sd.close()


def pause(root: str, container_id: str) -> None:
    _set(root, container_id, "pause")


def resume(root: str, container_id: str) -> None:
    _set(root, container_id, "resume")
