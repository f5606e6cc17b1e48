"""The runtime's use of cgroups, over `pyrkt.linux.cgroups`.

Commands other than create only have the paths stored in the state; these
helpers rebuild what they need from them, and import the cgroup layer only
when a container has cgroups.
"""

from __future__ import annotations

import os


def procs_of(paths: dict[str, str]) -> list[int]:
    pids: set[int] = set()
    for path in paths.values():
        for dirpath, _dirs, files in os.walk(path):
            if "cgroup.procs" in files:
                try:
                    with open(os.path.join(dirpath, "cgroup.procs")) as f:
                        pids.update(int(line) for line in f if line.strip())
                except OSError:
                    continue
        if pids:
            break
    return sorted(pids)


def thaw(paths: dict[str, str]) -> None:
    freezer = paths.get("freezer")
    try:
        if freezer:
            with open(os.path.join(freezer, "freezer.state"), "w") as f:
                f.write("THAWED")
        elif paths.get(""):
            with open(os.path.join(paths[""], "cgroup.freeze"), "w") as f:
                f.write("0")
    except OSError:
        pass


def destroy(paths: dict[str, str]) -> None:
    """Remove the container's cgroup directories, deepest first."""
    import time

    for path in paths.values():
        for attempt in range(50):
            try:
                for dirpath, dirs, _files in os.walk(path, topdown=False):
                    os.rmdir(dirpath)
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.01 * (attempt + 1))
