"""`events`: a container's resource usage and OOM kills as JSON lines, like runc.

`--stats` prints one `{"type":"stats","id":ID,"data":{...}}` line and exits;
otherwise a stats line every `--interval` (Go duration: 5s, 500ms, 1m) and an
`{"type":"oom","id":ID}` line whenever the kernel's OOM killer hits the
container, until the container stops.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time

from pyrkt.oci import lifecycle
from pyrkt.oci.errors import RuntimeFailure
from pyrkt.oci.state import ContainerState, open_container

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """A Go time.Duration string in seconds."""
    parts = re.findall(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", text)
    if not parts or "".join(a + b for a, b in parts) != text:
        raise RuntimeFailure(f"invalid duration {text!r}: use a Go duration such as 5s, 500ms or 1m")
    seconds = sum(float(a) * _UNITS[b] for a, b in parts)
    if seconds <= 0:
        raise RuntimeFailure("duration must be greater than 0")
    return seconds


def _load(root: str, container_id: str) -> tuple[ContainerState, str]:
    sd, state, status = open_container(root, container_id, shared=True)
    sd.close()
    if state is None:
        raise RuntimeFailure(f"container {container_id} is still being created")
    return state, status


def stats(state: ContainerState) -> dict[str, object]:
    data: dict[str, object] = {}
    if state.cgroup_paths:
        from pyrkt.linux.cgroups import CgroupError, CgroupManager

        try:
            data = CgroupManager.from_paths(state.cgroup_paths).stats()
        except CgroupError as exc:
            raise RuntimeFailure(f"events: {exc}") from None
    data.setdefault("intel_rdt", {})
    data.setdefault("network_interfaces", None)
    return data


def _oom_count(state: ContainerState) -> int:
    paths = state.cgroup_paths
    try:
        if paths.get("memory"):
            with open(os.path.join(paths["memory"], "memory.oom_control")) as f:
                for line in f:
                    if line.startswith("oom_kill "):
                        return int(line.split()[1])
        elif paths.get(""):
            with open(os.path.join(paths[""], "memory.events")) as f:
                for line in f:
                    if line.startswith("oom_kill "):
                        return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _emit(doc: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(doc, separators=(",", ":")) + "\n")  # runc's compact lines
    sys.stdout.flush()


def events(root: str, container_id: str, once: bool, interval: float) -> None:
    state, status = _load(root, container_id)
    if status == lifecycle.STOPPED:
        raise RuntimeFailure(f"container {container_id} is not running")
    if once:
        _emit({"type": "stats", "id": container_id, "data": stats(state)})
        return
    ooms = _oom_count(state)
    next_stats = time.monotonic()
    while True:
        # an OOM kill often stops the container: report it before noticing that
        now_ooms = _oom_count(state)
        if now_ooms > ooms:
            _emit({"type": "oom", "id": container_id})
            ooms = now_ooms
        _, status = _load(root, container_id)
        if status == lifecycle.STOPPED:
            return
        if time.monotonic() >= next_stats:
            try:
                _emit({"type": "stats", "id": container_id, "data": stats(state)})
            except RuntimeFailure:
                return  # the cgroup went away with the container
            next_stats += interval
        time.sleep(min(0.2, interval))
