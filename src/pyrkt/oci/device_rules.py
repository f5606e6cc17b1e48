"""`linux.resources.devices[].access` as runc 1.1 reads it.

The spec calls `access` "a composition of r (read), w (write) and m (mknod)".
runc takes the set of those letters found in the string, in any order and with
repeats ("mwr", "rrw"), and ignores any other character ("rwmx", " r"); it
refuses an entry whose access is absent, null or "" ("device access at N field
cannot be empty") and one without any of the three letters ("x", "RWM": its
cgroup never matches the rules). The cgroup layer then gets the canonical form
("rw", "rwm", ...), which the kernel (and the v2 BPF program) take as they are.
Checked against Debian's runc (tests/integration/test_runtime_device_access.py).
"""

from __future__ import annotations

from pyrkt.oci.errors import RuntimeFailure

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["normalize"]


def normalize(devices: list[Any]) -> list[Any]:
    """The config's device rules with each `access` in canonical form; RuntimeFailure (one line) for a bad one."""
    out = []
    for i, rule in enumerate(devices):
        if not isinstance(rule, dict):
            raise RuntimeFailure(f"config.json: linux.resources.devices[{i}] must be an object")
        access = rule.get("access")
        if access is None or access == "":
            raise RuntimeFailure(f"config.json: linux.resources.devices[{i}]: device access cannot be empty (a composition of r, w and m)")
        if not isinstance(access, str):
            raise RuntimeFailure(f"config.json: linux.resources.devices[{i}].access must be a string, got {access!r}")
        canonical = "".join(c for c in "rwm" if c in access)
        if not canonical:
            raise RuntimeFailure(f"config.json: linux.resources.devices[{i}].access {access!r} has none of r, w and m")
        if canonical != access:
            rule = {**rule, "access": canonical}
        out.append(rule)
    return out
