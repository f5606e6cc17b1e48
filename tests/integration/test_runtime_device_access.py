"""`linux.resources.devices[].access`: the values runc 1.1 accepts, and the ones it refuses.

runc reads access as the set of r, w and m letters in it (any order, repeats, other
characters ignored) and refuses it absent, null, empty or without any of the three.
Each value is run by pyrkt-runtime and Debian's runc on one bundle: a container that
may open a block device (loop0, 7:0, which runc's default rules do not allow) only
as the rule's access says; the container opens its node for reading and for writing.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any, Callable

import pytest

pytestmark = pytest.mark.root

Bundle = Callable[..., str]
MKNOD = {k: ["CAP_MKNOD"] for k in ("bounding", "effective", "permitted")}
PROBE = "mknod /dev/probe b 7 0 && { (exec 3</dev/probe) 2>/dev/null && echo R || echo -; (exec 3>/dev/probe) 2>/dev/null && echo W || echo -; }"
ABSENT = object()

ACCEPTED = {
    "r": "R -", "w": "- W", "m": "- -", "rw": "R W", "wr": "R W", "rwm": "R W", "mwr": "R W", "rrw": "R W",
    "rwmx": "R W", " r": "R -", "rx": "R -",  # runc ignores what is not r, w or m
}
REFUSED = {"": "device access cannot be empty", None: "device access cannot be empty", ABSENT: "device access cannot be empty",
           "x": "has none of r, w and m", "RWM": "has none of r, w and m", "a": "has none of r, w and m", 5: "must be a string"}


def probe_bundle(bundle: Bundle, busybox_rootfs: str, access: Any) -> str:
    rule: dict[str, Any] = {"allow": True, "type": "b", "major": 7, "minor": 0}
    if access is not ABSENT:
        rule["access"] = access
    rules = [{"allow": False, "access": "rwm"}, rule]
    return bundle(["sh", "-c", PROBE], rootfs=busybox_rootfs, process={"capabilities": MKNOD}, linux={"resources": {"devices": rules}})


@pytest.mark.parametrize("access", list(ACCEPTED), ids=[repr(a) for a in ACCEPTED])
def test_accepted_as_runc(rt: Any, runc: Any, bundle: Bundle, busybox_rootfs: str, access: str) -> None:
    b = probe_bundle(bundle, busybox_rootfs, access)
    ours = rt("run", "--bundle", b, f"acc-{uuid.uuid4().hex[:8]}")
    theirs = runc("run", "--bundle", b, f"acc-{uuid.uuid4().hex[:8]}")
    assert (ours.returncode, " ".join(ours.stdout.split())) == (0, ACCEPTED[access]), ours.stderr
    assert (theirs.returncode, " ".join(theirs.stdout.split())) == (0, ACCEPTED[access]), theirs.stderr


@pytest.mark.parametrize("access", list(REFUSED), ids=["empty", "null", "absent", "x", "RWM", "a", "number"])
def test_refused_in_one_line_as_runc(rt: Any, runc: Any, bundle: Bundle, busybox_rootfs: str, access: Any) -> None:
    b = probe_bundle(bundle, busybox_rootfs, access)
    p = rt("run", "--bundle", b, f"acc-{uuid.uuid4().hex[:8]}")
    assert p.returncode != 0 and REFUSED[access] in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert "linux.resources.devices[1]" in p.stderr  # the config's own index
    assert not os.path.isdir(rt.root) or os.listdir(rt.root) == []
    cgroup = json.loads(Path(b, "config.json").read_text())["linux"]["cgroupsPath"].strip("/")
    assert [h for h in Path("/sys/fs/cgroup").iterdir() if (h / cgroup).exists()] == []
    assert runc("run", "--bundle", b, f"acc-{uuid.uuid4().hex[:8]}").returncode != 0


def test_linux_devices_has_no_access_field(rt: Any, runc: Any, bundle: Bundle, busybox_rootfs: str) -> None:
    """An `access` key in a linux.devices entry is not a field of the spec: both runtimes ignore it
    (the node is made; whether it may be opened is the cgroup rules' business: /dev/null is allowed)."""
    dev = {"path": "/dev/probe", "type": "c", "major": 1, "minor": 3, "fileMode": 0o666, "access": "x"}
    b = bundle(["sh", "-c", "ls -l /dev/probe | cut -c1-10; echo hi > /dev/probe && echo wrote"], rootfs=busybox_rootfs, linux={"devices": [dev]})
    outs = [runtime("run", "--bundle", b, f"acc-{uuid.uuid4().hex[:8]}", check=True).stdout for runtime in (rt, runc)]
    assert outs[0] == outs[1] == "crw-rw-rw-\nwrote\n"
