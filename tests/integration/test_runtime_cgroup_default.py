"""A config without `linux.cgroupsPath`: the container's cgroup is named as runc 1.1 names it.

runc uses the container's id as a path relative to its own cgroup: in each v1
hierarchy under the runtime's cgroup there, on cgroup v2 under the parent of the
runtime's cgroup. The test's subprocesses are in the test's own cgroups, so the
expected paths come from /proc/self/cgroup; Debian's runc is run on the same
bundle to show it does the same. Every id is unique (a cgroup named by the id alone
is shared by any two containers of that id, whatever their state root).
"""

from __future__ import annotations

import glob
import os
import uuid
from pathlib import Path
from typing import Any, Callable

import pytest

pytestmark = pytest.mark.root

Bundle = Callable[..., str]
# runc's `spec`: no cgroup namespace, so the container's /proc/self/cgroup shows the host's paths
NAMESPACES = [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")]


def own_cgroups() -> dict[str, str]:
    """hierarchy ("" for cgroup2) -> this process's cgroup in it."""
    out = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        out[controllers] = path
    return out


def expected(cid: str) -> dict[str, str]:
    own = own_cgroups()
    v2_only = set(own) == {""}
    out = {}
    for hierarchy, path in own.items():
        base = os.path.dirname(path.rstrip("/")) or "/" if v2_only else path
        out[hierarchy] = os.path.join(base, cid)
    return out


def read_cgroups(text: str) -> dict[str, str]:
    return {line.split(":", 2)[1]: line.split(":", 2)[2] for line in text.splitlines() if line.count(":") >= 2}


@pytest.fixture(params=["pyrkt", "runc"])
def runtime(request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue("rt" if request.param == "pyrkt" else "runc")


def test_the_default_cgroup_is_the_id_under_the_runtimes_own(runtime: Any, bundle: Bundle, busybox_rootfs: str) -> None:
    b = bundle(["sleep", "60"], rootfs=busybox_rootfs, linux={"cgroupsPath": None, "namespaces": NAMESPACES})
    cid = f"cgdefault-{uuid.uuid4().hex[:8]}"
    runtime("run", "-d", "--bundle", b, cid, check=True)
    try:
        pid = runtime.state(cid)["pid"]
        got = read_cgroups(Path(f"/proc/{pid}/cgroup").read_text())
        assert got == expected(cid)
        # an exec'd process joins the same cgroup
        p = runtime("exec", cid, "cat", "/proc/self/cgroup", check=True)
        assert read_cgroups(p.stdout) == got
        # the runtime made those directories, and removes them with the container
        dirs = glob.glob(f"/sys/fs/cgroup/**/{cid}", recursive=True)
        assert len(dirs) >= len({p for p in got.values()}) and all(Path(d, "cgroup.procs").exists() for d in dirs)
    finally:
        runtime("delete", "--force", cid, check=True)
    assert glob.glob(f"/sys/fs/cgroup/**/{cid}", recursive=True) == []


def test_the_same_as_runc(rt: Any, runc: Any, bundle: Bundle, busybox_rootfs: str) -> None:
    """Foreground runs of one bundle: the container sees the same cgroup lines, but for its id."""
    b = bundle(["cat", "/proc/self/cgroup"], rootfs=busybox_rootfs, linux={"cgroupsPath": None, "namespaces": NAMESPACES})
    outputs = []
    for runtime in (rt, runc):
        cid = f"cgsame-{uuid.uuid4().hex[:8]}"
        p = runtime("run", "--bundle", b, cid, check=True)
        outputs.append(p.stdout.replace(cid, "<id>"))
    assert outputs[0] == outputs[1] and "<id>" in outputs[0]
