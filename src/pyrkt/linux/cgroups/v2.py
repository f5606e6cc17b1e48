"""cgroup v2: linux.resources as writes to the unified hierarchy's files, and the
v1 -> v2 value conversions (pure).

Split from `pyrkt.linux.cgroups` (which re-exports these names): a create
on a v1 or hybrid host never needs them, and every line loaded costs import
time and RSS in every create.
"""

from __future__ import annotations

from pyrkt.linux.cgroups.base import MAX_UINT64, CgroupError, _device_rule, _int, _page_size, _throttle

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any


def shares_to_weight(shares: int) -> int:
    """cgroup v1 ``cpu.shares`` [2, 262144] → v2 ``cpu.weight`` [1, 10000].

    The mapping of current runc (opencontainers/cgroups, runc PR 4785) and
    crun: a quadratic in log2(shares) that maps the minimum, the *default*
    (1024 → 100, v2's default weight) and the maximum onto each other.  The
    older linear formula (``1 + (shares-2)*9999/262142``) turned the default
    1024 shares into weight 39, starving containers next to any v2 cgroup
    left at the default; :func:`shares_to_weight_linear` keeps it.
    """
    import math

    if shares == 0:
        return 0
    if shares <= 2:
        return 1
    if shares >= 262144:
        return 10000
    lg = math.log2(shares)
    exponent = (lg * lg + 125 * lg) / 612.0 - 7.0 / 34.0
    return int(math.ceil(math.pow(10, exponent)))


def shares_to_weight_linear(shares: int) -> int:
    """The OCI spec notes' and older runc's linear shares → weight mapping."""
    if shares == 0:
        return 0
    shares = max(2, min(262144, shares))
    return 1 + ((shares - 2) * 9999) // 262142


def blkio_weight_to_io_weight(weight: int) -> int:
    """v1 ``blkio.weight`` [10, 1000] → v2 ``io.weight`` [1, 10000] (runc's mapping)."""
    if weight == 0:
        return 0
    return 1 + (weight - 10) * 9999 // 990


def memory_swap_to_v2(swap: int, limit: int) -> int | None:
    """OCI ``memory.swap`` (memory+swap, as in v1) → v2 ``memory.swap.max`` (swap alone).

    Returns -1 for "max", ``None`` for "do not write", else the value — 0
    when swap equals the memory limit, which disables swap.  Mirrors runc:
    unlimited memory with unset swap means unlimited swap; a swap limit needs
    a memory limit and must not be below it.
    """
    if limit == -1 and swap == 0:
        return -1
    if swap == 0:
        return None
    if swap == -1:
        return -1
    if limit in (0, -1):
        raise CgroupError(f"memory.swap={swap} needs a memory.limit (cgroup v2 limits swap separately)")
    if limit < 0:
        raise CgroupError(f"invalid memory.limit {limit}")
    if swap < limit:
        raise CgroupError(f"memory.swap={swap} (memory+swap) is below memory.limit={limit}")
    return swap - limit


def v2_resource_writes(resources: dict[str, Any]) -> list[tuple[str, str]]:
    """The v2 file writes ``(file name, value)`` for an OCI ``linux.resources`` dict.

    Converts v1-style values (cpu shares → ``cpu.weight`` as current runc
    does, quota/period →
    ``cpu.max``, memory+swap → ``memory.swap.max``, blkio → ``io.*``) and
    refuses what v2 has no file for (realtime, swappiness, OOM-killer
    switch).  ``devices`` are validated but not returned: v2 has no file for
    them, :meth:`CgroupManager.apply` attaches :func:`device_filter_program`.
    ``unified`` entries are written last, as given.
    """
    w: list[tuple[str, str]] = []
    mem = resources.get("memory") or {}
    if mem:
        limit = _int("memory", "limit", mem.get("limit", 0) or 0)
        swap = _int("memory", "swap", mem.get("swap", 0) or 0)
        sw2 = memory_swap_to_v2(swap, limit)
        # swap.max first: memory.max then never transiently pairs with a
        # swap setting from an older, looser configuration
        if sw2 is not None:
            w.append(("memory.swap.max", "max" if sw2 == -1 else str(sw2)))
        if limit:
            w.append(("memory.max", "max" if limit == -1 else str(limit)))
        if mem.get("reservation"):
            r = _int("memory", "reservation", mem["reservation"])
            w.append(("memory.low", "max" if r == -1 else str(r)))
        sw_ = mem.get("swappiness")
        if sw_ is not None and sw_ != -1:
            raise CgroupError("memory.swappiness is not supported on cgroup v2")
        if mem.get("disableOOMKiller"):
            raise CgroupError("memory.disableOOMKiller is not supported on cgroup v2")
    cpu = resources.get("cpu") or {}
    if cpu:
        if cpu.get("realtimeRuntime") or cpu.get("realtimePeriod"):
            raise CgroupError("cpu.realtimeRuntime/realtimePeriod are not supported on cgroup v2")
        if cpu.get("shares"):
            w.append(("cpu.weight", str(shares_to_weight(_int("cpu", "shares", cpu["shares"])))))
        quota = _int("cpu", "quota", cpu.get("quota", 0) or 0)
        period = _int("cpu", "period", cpu.get("period", 0) or 0)
        if quota or period:
            val = str(quota) if quota > 0 else "max"
            if period:
                val += f" {period}"
            w.append(("cpu.max", val))
        if cpu.get("burst") is not None:
            w.append(("cpu.max.burst", str(_int("cpu", "burst", cpu["burst"]))))
        if cpu.get("idle") is not None:
            w.append(("cpu.idle", str(_int("cpu", "idle", cpu["idle"]))))
        if cpu.get("cpus"):
            w.append(("cpuset.cpus", str(cpu["cpus"])))
        if cpu.get("mems"):
            w.append(("cpuset.mems", str(cpu["mems"])))
    pids = resources.get("pids")
    if pids and pids.get("limit") is not None:
        lim = _int("pids", "limit", pids["limit"])
        w.append(("pids.max", "max" if lim <= 0 else str(lim)))
    for d in resources.get("devices") or []:
        _device_rule(d)  # validated here, applied as an eBPF program by the manager
    bio = resources.get("blockIO") or {}
    if bio:
        if bio.get("leafWeight") or any(e.get("leafWeight") for e in bio.get("weightDevice") or []):
            raise CgroupError("blockIO.leafWeight is not supported on cgroup v2")
        if bio.get("weight"):
            w.append(("io.weight", str(blkio_weight_to_io_weight(_int("blockIO", "weight", bio["weight"])))))
        for e in bio.get("weightDevice") or []:
            if e.get("weight"):
                dev = f"{_int('blockIO', 'weightDevice.major', e.get('major'))}:{_int('blockIO', 'weightDevice.minor', e.get('minor'))}"
                w.append(("io.weight", f"{dev} {blkio_weight_to_io_weight(_int('blockIO', 'weightDevice.weight', e['weight']))}"))
        for key, k2 in (
            ("throttleReadBpsDevice", "rbps"),
            ("throttleWriteBpsDevice", "wbps"),
            ("throttleReadIOPSDevice", "riops"),
            ("throttleWriteIOPSDevice", "wiops"),
        ):
            for v in _throttle(bio.get(key), key):
                dev, rate = v.split(" ")
                w.append(("io.max", f"{dev} {k2}={rate}"))
    for e in resources.get("hugepageLimits") or []:
        w.append((f"hugetlb.{_page_size(e)}.max", str(_int("hugepageLimits", "limit", e.get("limit")))))
    if (resources.get("network") or {}).get("classID") is not None or (resources.get("network") or {}).get("priorities"):
        raise CgroupError("linux.resources.network (net_cls/net_prio) does not exist on cgroup v2")
    if resources.get("rdma"):
        for dev, lim in resources["rdma"].items():
            parts = [f"{k}={lim[j]}" for j, k in (("hcaHandles", "hca_handle"), ("hcaObjects", "hca_object")) if lim.get(j) is not None]
            w.append(("rdma.max", f"{dev} {' '.join(parts)}"))
    for k, v in (resources.get("unified") or {}).items():
        if not isinstance(k, str) or "/" in k or k.startswith(".") or not k:
            raise CgroupError(f"linux.resources.unified: invalid file name {k!r}")
        w.append((k, str(v)))
    return w
