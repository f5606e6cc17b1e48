"""Cgroup management for OCI ``linux.cgroupsPath`` and ``linux.resources``: the package's names.

This file imports nothing: each name is loaded from the submodule that holds
it on first use (PEP 562 ``__getattr__``), so ``import pyrkt.linux.cgroups.warm``
(the launcher's first import) or a v1 create pays only for what it touches.
The submodules import each other directly, never this facade, so there is
no import circle:

- ``base``: the shared leaf -- constants, :class:`CgroupError`, file helpers,
  the value checks every resource converter uses.
- ``manager`` (imports ``base`` only): layout detection, path resolution, v1 resource writes and
  :class:`CgroupManager` (what a create on a v1 host needs).
- ``v2`` (v2 resource writes, conversions), ``bpf`` (the v2 device filter),
  ``plan`` (the container's /sys/fs/cgroup mounts, features), ``stats``,
  ``rootless`` (runc's rootless rules), ``warm`` (the early cgroup.procs write).
"""

from __future__ import annotations

# name -> submodule; a name not listed here falls through to `manager` (which imports base's)
_WHERE = {
    "device_filter_program": "bpf",
    "attach_device_filter": "bpf",
    "shares_to_weight": "v2",
    "shares_to_weight_linear": "v2",
    "blkio_weight_to_io_weight": "v2",
    "memory_swap_to_v2": "v2",
    "v2_resource_writes": "v2",
    "features": "plan",
    "cgroup_mount_plan": "plan",
    "MountOp": "plan",
}

__all__ = [
    "CgroupError",
    "Hierarchy",
    "Layout",
    "CgroupManager",
    "detect_layout",
    "features",
    "clean_path",
    "expand_slice",
    "resolve_inner_path",
    "shares_to_weight",
    "shares_to_weight_linear",
    "blkio_weight_to_io_weight",
    "memory_swap_to_v2",
    "v1_resource_writes",
    "v2_resource_writes",
    "ignored_resource_warnings",
    "cgroup_mount_plan",
    "device_filter_program",
    "attach_device_filter",
    "DEFAULT_DEVICE_RULES",
]

TYPE_CHECKING = False  # bench/README.md "Speed rules"
if TYPE_CHECKING:  # pragma: no cover  # the type checker sees the names here
    from pyrkt.linux.cgroups.bpf import attach_device_filter as attach_device_filter
    from pyrkt.linux.cgroups.bpf import device_filter_program as device_filter_program
    from pyrkt.linux.cgroups.base import *  # noqa: F403
    from pyrkt.linux.cgroups.manager import *  # noqa: F403
    from pyrkt.linux.cgroups.plan import MountOp as MountOp
    from pyrkt.linux.cgroups.plan import cgroup_mount_plan as cgroup_mount_plan
    from pyrkt.linux.cgroups.plan import features as features
    from pyrkt.linux.cgroups.v2 import blkio_weight_to_io_weight as blkio_weight_to_io_weight
    from pyrkt.linux.cgroups.v2 import memory_swap_to_v2 as memory_swap_to_v2
    from pyrkt.linux.cgroups.v2 import shares_to_weight as shares_to_weight
    from pyrkt.linux.cgroups.v2 import shares_to_weight_linear as shares_to_weight_linear
    from pyrkt.linux.cgroups.v2 import v2_resource_writes as v2_resource_writes


# the submodules themselves: `from pyrkt.linux.cgroups import warm` asks for the attribute
# first, and must get AttributeError (the import system then loads the submodule), not a
# lookup in `manager` that would load it for nothing
_SUBMODULES = frozenset({"base", "manager", "v2", "bpf", "plan", "stats", "rootless", "warm"})


def __getattr__(name: str) -> object:
    """``name`` from the submodule that holds it, on first use (then cached here)."""
    if name.startswith("__") or name in _SUBMODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = __import__(f"{__name__}.{_WHERE.get(name, 'manager')}", fromlist=[name])
    try:
        value = getattr(module, name)
    except AttributeError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    globals()[name] = value
    return value
