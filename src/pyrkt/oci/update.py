"""`update`: change a container's cgroup limits while it runs.

`--resources FILE` (or `-` for stdin, what containerd's shim sends) takes an
OCI `linux.resources` object; the single flags (`--memory 64M`,
`--cpu-quota`, `--pids-limit`, ...) override fields of it. The new values
are written through the same cgroup layer as at create, then merged into the
container's recorded config so later commands see them.
"""

from __future__ import annotations

import json
import sys

from pyrkt.oci import lifecycle
from pyrkt.oci.errors import RuntimeFailure
from pyrkt.oci.state import open_container

_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}

# flag dest -> (section, key, kind)
FLAG_FIELDS: dict[str, tuple[str, str, str]] = {
    "blkio_weight": ("blockIO", "weight", "uint"),
    "cpu_period": ("cpu", "period", "uint"),
    "cpu_quota": ("cpu", "quota", "int"),
    "cpu_share": ("cpu", "shares", "uint"),
    "cpu_rt_period": ("cpu", "realtimePeriod", "uint"),
    "cpu_rt_runtime": ("cpu", "realtimeRuntime", "int"),
    "cpuset_cpus": ("cpu", "cpus", "str"),
    "cpuset_mems": ("cpu", "mems", "str"),
    "memory": ("memory", "limit", "bytes"),
    "memory_reservation": ("memory", "reservation", "bytes"),
    "memory_swap": ("memory", "swap", "bytes"),
    "kernel_memory": ("memory", "kernel", "bytes"),
    "kernel_memory_tcp": ("memory", "kernelTCP", "bytes"),
    "pids_limit": ("pids", "limit", "int"),
}


def parse_bytes(text: str) -> int:
    """runc's RAMInBytes: 64m, 1G, 512KiB, 1024 (binary units); -1 for unlimited."""
    import re

    t = text.strip().lower()
    if t == "-1":
        return -1
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b)?", t)
    if m is None:
        raise RuntimeFailure(f"invalid size {text!r}: use a number with an optional k, m, g, t suffix")
    return int(float(m.group(1)) * _UNITS[m.group(2)])


def resources_from(flags: dict[str, object], stdin_text: str | None = None) -> dict[str, object]:
    resources: dict[str, object] = {}
    src = flags.get("resources")
    if src:
        try:
            if src == "-":
                text = stdin_text if stdin_text is not None else sys.stdin.read()
            else:
                with open(str(src)) as f:
                    text = f.read()
        except OSError as exc:
            raise RuntimeFailure(f"--resources {src}: {exc.strerror}") from None
        try:
            doc = json.loads(text)
        except ValueError as exc:
            raise RuntimeFailure(f"--resources {src}: malformed JSON: {exc}") from None
        if not isinstance(doc, dict):
            raise RuntimeFailure(f"--resources {src}: must be a JSON object (linux.resources)")
        resources = doc
    for dest, (section, key, kind) in FLAG_FIELDS.items():
        value = flags.get(dest)
        if value is None:
            continue
        text = str(value)
        parsed: object
        try:
            if kind == "bytes":
                parsed = parse_bytes(text)
            elif kind == "uint":
                parsed = int(text)
                if parsed < 0:
                    raise ValueError
            elif kind == "int":
                parsed = int(text)
            else:
                parsed = text
        except ValueError:
            raise RuntimeFailure(f"invalid value {text!r} for --{dest.replace('_', '-')}") from None
        sec = resources.setdefault(section, {})
        if not isinstance(sec, dict):
            raise RuntimeFailure(f"--resources: {section} must be an object")
        sec[key] = parsed
    if flags.get("l3_cache_schema") or flags.get("mem_bw_schema"):
        raise RuntimeFailure("--l3-cache-schema/--mem-bw-schema: Intel RDT is not supported on this host")
    return resources


def _merge(into: dict[str, object], new: dict[str, object]) -> None:
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)  # type: ignore[arg-type]
        else:
            into[key] = value


def update(root: str, container_id: str, resources: dict[str, object]) -> None:
    sd, state, status = open_container(root, container_id)
    try:
        lifecycle.check("update", status, container_id)
        assert state is not None
        if not state.cgroup_paths:
            raise RuntimeFailure(f"container {container_id} has no cgroup to update")
        from pyrkt.linux.cgroups import CgroupError, CgroupManager

        try:
            warnings = CgroupManager.from_paths(state.cgroup_paths).apply(resources)
        except CgroupError as exc:
            raise RuntimeFailure(f"update: {exc}") from None
        for w in warnings:
            print(f"pyrkt-runtime: warning: {w}", file=sys.stderr)
        linux = state.config.setdefault("linux", {})
        if isinstance(linux, dict):
            current = linux.setdefault("resources", {})
            if isinstance(current, dict):
                _merge(current, {k: v for k, v in resources.items() if k != "devices"})
        sd.write(state)
    finally:
        sd.close()
