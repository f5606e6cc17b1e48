"""The runtime's use of cgroups after create, from the paths stored in the state.

Commands other than create only have `cgroup_paths` from state.json; the
manager is rebuilt from them (never re-resolved), and the cgroup layer is
imported only when a container has cgroups.
"""

from __future__ import annotations


def _manager(paths: dict[str, str]):  # type: ignore[no-untyped-def]
    from pyrkt.linux.cgroups import CgroupManager

    return CgroupManager.from_paths(paths)


def procs_of(paths: dict[str, str]) -> list[int]:
    return list(_manager(paths).procs())


def thaw(paths: dict[str, str]) -> None:
    _manager(paths).thaw()


def destroy(paths: dict[str, str]) -> None:
    _manager(paths).destroy()
