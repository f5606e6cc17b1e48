"""Cgroups for a rootless container: runc's rules, as a CgroupManager subclass.

An unprivileged caller (or root of a user namespace) can usually write only
a delegated part of the cgroup tree, if any. So, as runc's rootless manager:

- a hierarchy whose cgroup cannot be created or joined (EPERM, EACCES,
  EROFS) is left out -- the container simply is not placed in it -- but
  only when the config names no ``cgroupsPath`` (an explicit path that
  cannot be used is an error) and sets no limit there;
- a limit for a hierarchy that was left out is an error naming it
  (``cannot set memory limit: container could not join or create cgroup``),
  never silently dropped;
- ``linux.resources.devices`` is not applied (runc ignores the devices
  controller in rootless mode: the v1 files need CAP_SYS_ADMIN in the
  initial user namespace, and a rootless container cannot mknod anyway: its
  devices are bind mounts of the host's nodes);
- a delegated cgroup v2 subtree (a directory the caller owns, as systemd's
  ``user@UID.service`` is) is used: the default path is relative to the
  caller's own cgroup (its parent on a v2 host), where delegation puts it.
"""

from __future__ import annotations

import errno
import os

from pyrkt.linux.cgroups.base import UNIFIED, CgroupError
from pyrkt.linux.cgroups.manager import CgroupManager

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

_IGNORABLE = (errno.EPERM, errno.EACCES, errno.EROFS)


def _ignorable(exc: CgroupError) -> bool:
    cause = exc.__cause__
    return isinstance(cause, OSError) and cause.errno in _IGNORABLE


class RootlessCgroupManager(CgroupManager):
    """A CgroupManager that leaves out the hierarchies the caller cannot use (see the module)."""

    explicit = False  # the config named linux.cgroupsPath: nothing may be left out

    def __init__(self, mode: str, dirs: dict[str, str]) -> None:
        super().__init__(mode, dirs)
        self.skipped: dict[str, str] = {}  # controller -> why it was left out
        self.limited: set[str] = set()  # controllers with limits written

    def _skip(self, controllers: list[str], exc: CgroupError) -> None:
        for c in controllers:
            self._dirs.pop(c, None)
            self.skipped[c] = str(exc)

    def create(self) -> None:
        """Create the cgroup in every hierarchy that allows it; leave out the others (unless explicit)."""
        groups: dict[str, list[str]] = {}
        for c, d in self._dirs.items():
            groups.setdefault(d, []).append(c)
        for d, ctrls in groups.items():
            one = CgroupManager(self.mode, {c: d for c in ctrls})
            try:
                one.create()
            except CgroupError as exc:
                if self.explicit or not _ignorable(exc):
                    raise
                self._skip(ctrls, exc)

    def apply(self, resources: dict[str, Any] | None) -> list[str]:
        """Write the limits; one for a hierarchy left out is an error, devices are not applied."""
        if not resources:
            return []
        resources = {k: v for k, v in resources.items() if k != "devices"}
        if self.mode == "v2":
            from pyrkt.linux.cgroups.v2 import v2_resource_writes

            needed = {UNIFIED} if v2_resource_writes(resources) else set()
        else:
            from pyrkt.linux.cgroups.manager import v1_resource_writes

            needed = {c for c, _, _ in v1_resource_writes(resources)}
            if "hugetlb" in needed and "hugetlb" not in self._dirs and UNIFIED in self._dirs:
                needed = (needed - {"hugetlb"}) | {UNIFIED}
        for c in sorted(needed):
            if c in self.skipped:
                name = "cgroup v2" if c == UNIFIED else c
                raise CgroupError(
                    f"cannot set {name} limit: container could not join or create cgroup "
                    f"(rootless: {self.skipped[c]})"
                )
        self.limited |= needed
        return super().apply(resources)

    def add(self, pid: int) -> None:
        """Move the init into each cgroup; one it may not enter is left out, as in create."""
        groups: dict[str, list[str]] = {}
        for c, d in self._dirs.items():
            groups.setdefault(d, []).append(c)
        for d, ctrls in groups.items():
            try:
                CgroupManager(self.mode, {ctrls[0]: d}).add(pid)
            except CgroupError as exc:
                if self.explicit or not _ignorable(exc) or self.limited.intersection(ctrls):
                    raise
                self._skip(ctrls, exc)
                try:
                    os.rmdir(d)
                except OSError:
                    pass
