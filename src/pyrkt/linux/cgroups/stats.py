"""Resource usage of a container's cgroups (`events`, `events --stats`).

Split from `pyrkt.linux.cgroups` (`CgroupManager.stats` calls it): only
`events` needs it, and every `create` imported it.
"""

from __future__ import annotations

import os

from pyrkt.linux.cgroups.base import UNIFIED, _kv, _read_opt, _uint

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

    from pyrkt.linux.cgroups.manager import CgroupManager


def stats_v1(mgr: CgroupManager) -> dict[str, Any]:
    def f(ctrl: str, name: str) -> str | None:
        d = mgr._dirs.get(ctrl)
        return None if d is None else _read_opt(os.path.join(d, name))

    tck = os.sysconf("SC_CLK_TCK") or 100
    acct = _kv(f("cpuacct", "cpuacct.stat"))
    percpu = [int(x) for x in (f("cpuacct", "cpuacct.usage_percpu") or "").split()]
    cpustat = _kv(f("cpu", "cpu.stat"))
    cpu = {
        "usage": {
            "total": _uint(f("cpuacct", "cpuacct.usage")),
            "percpu": percpu,
            "kernel": acct.get("system", 0) * 1_000_000_000 // tck,
            "user": acct.get("user", 0) * 1_000_000_000 // tck,
        },
        "throttling": {
            "periods": cpustat.get("nr_periods", 0),
            "throttledPeriods": cpustat.get("nr_throttled", 0),
            "throttledTime": cpustat.get("throttled_time", 0),
        },
    }

    def entry(prefix: str) -> dict[str, int]:
        return {
            "limit": _uint(f("memory", prefix + ".limit_in_bytes")),
            "usage": _uint(f("memory", prefix + ".usage_in_bytes")),
            "max": _uint(f("memory", prefix + ".max_usage_in_bytes")),
            "failcnt": _uint(f("memory", prefix + ".failcnt")),
        }

    raw = _kv(f("memory", "memory.stat"))
    memory = {
        "cache": raw.get("total_cache", raw.get("cache", 0)),
        "usage": entry("memory"),
        "swap": entry("memory.memsw"),
        "kernel": entry("memory.kmem"),
        "kernelTCP": entry("memory.kmem.tcp"),
        "raw": raw,
    }
    pmax = (f("pids", "pids.max") or "").strip()
    pids = {"current": _uint(f("pids", "pids.current")), "limit": 0 if pmax in ("", "max") else int(pmax)}
    hugetlb: dict[str, dict[str, int]] = {}
    hd = mgr._dirs.get("hugetlb")
    if hd and os.path.isdir(hd):
        for name in os.listdir(hd):
            if name.startswith("hugetlb.") and name.endswith(".usage_in_bytes") and ".rsvd." not in name:
                size = name[len("hugetlb."):-len(".usage_in_bytes")]
                hugetlb[size] = {
                    "usage": _uint(f("hugetlb", name)),
                    "max": _uint(f("hugetlb", f"hugetlb.{size}.max_usage_in_bytes")),
                    "failcnt": _uint(f("hugetlb", f"hugetlb.{size}.failcnt")),
                }
    blkio = {
        "ioServiceBytesRecursive": _blkio_entries(f("blkio", "blkio.throttle.io_service_bytes_recursive")),
        "ioServicedRecursive": _blkio_entries(f("blkio", "blkio.throttle.io_serviced_recursive")),
    }
    return {"cpu": cpu, "memory": memory, "pids": pids, "blkio": blkio, "hugetlb": hugetlb}

def _blkio_entries(text: str | None) -> list[dict[str, Any]]:
    out = []
    for line in (text or "").splitlines():
        parts = line.split()
        if len(parts) == 3 and ":" in parts[0]:
            ma, mi = parts[0].split(":", 1)
            out.append({"major": int(ma), "minor": int(mi), "op": parts[1], "value": int(parts[2])})
    return out

def stats_v2(mgr: CgroupManager) -> dict[str, Any]:
    d = mgr._dirs[UNIFIED]

    def f(name: str) -> str | None:
        return _read_opt(os.path.join(d, name))

    cs = _kv(f("cpu.stat"))
    cpu = {
        "usage": {
            "total": cs.get("usage_usec", 0) * 1000,
            "percpu": [],
            "kernel": cs.get("system_usec", 0) * 1000,
            "user": cs.get("user_usec", 0) * 1000,
        },
        "throttling": {
            "periods": cs.get("nr_periods", 0),
            "throttledPeriods": cs.get("nr_throttled", 0),
            "throttledTime": cs.get("throttled_usec", 0) * 1000,
        },
    }
    raw = _kv(f("memory.stat"))
    ev = _kv(f("memory.events"))
    usage = _uint(f("memory.current"))
    swap_cur = _uint(f("memory.swap.current"))
    memory = {
        "cache": raw.get("file", 0),
        "usage": {"limit": _uint(f("memory.max")), "usage": usage, "max": _uint(f("memory.peak")), "failcnt": ev.get("max", 0)},
        # like runc: v2 "swap" reports memory+swap, as v1's memsw did
        "swap": {"limit": _uint(f("memory.swap.max")), "usage": usage + swap_cur, "max": 0, "failcnt": 0},
        "kernel": {"limit": 0, "usage": 0, "max": 0, "failcnt": 0},
        "kernelTCP": {"limit": 0, "usage": 0, "max": 0, "failcnt": 0},
        "raw": raw,
    }
    pmax = (f("pids.max") or "").strip()
    pids = {"current": _uint(f("pids.current")), "limit": 0 if pmax in ("", "max") else int(pmax)}
    hugetlb: dict[str, dict[str, int]] = {}
    try:
        names = os.listdir(d)
    except OSError:
        names = []
    for name in names:
        if name.startswith("hugetlb.") and name.endswith(".current") and ".rsvd." not in name:
            size = name[len("hugetlb."):-len(".current")]
            hugetlb[size] = {
                "usage": _uint(f(name)),
                "max": 0,
                "failcnt": _kv(f(f"hugetlb.{size}.events")).get("max", 0),
            }
    blkio: dict[str, list[dict[str, Any]]] = {"ioServiceBytesRecursive": [], "ioServicedRecursive": []}
    for line in (f("io.stat") or "").splitlines():
        parts = line.split()
        if not parts or ":" not in parts[0]:
            continue
        ma, mi = (int(x) for x in parts[0].split(":", 1))
        kv = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
        for key, op in (("rbytes", "Read"), ("wbytes", "Write")):
            if key in kv:
                blkio["ioServiceBytesRecursive"].append({"major": ma, "minor": mi, "op": op, "value": int(kv[key])})
        for key, op in (("rios", "Read"), ("wios", "Write")):
            if key in kv:
                blkio["ioServicedRecursive"].append({"major": ma, "minor": mi, "op": op, "value": int(kv[key])})
    return {"cpu": cpu, "memory": memory, "pids": pids, "blkio": blkio, "hugetlb": hugetlb}
