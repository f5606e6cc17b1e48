"""The start/delete fast lane (oci/quick.py) and the full path agree, on real containers.

For a container in each status and each verb the lane handles, the lane's
view of the status matches `pyrkt-runtime state` (paused reads as running:
the lane cannot see the freezer, and the table treats both alike for its
verbs), it acts only where the lifecycle table allows the verb, and where it
defers, the full command gives the table's answer.
"""

from __future__ import annotations

import os
import time
from typing import Any

import pytest

from pyrkt.oci import quick
from pyrkt.oci.statuses import ALLOWED, PAUSED, RUNNING

pytestmark = pytest.mark.root


def _wait(rt: Any, cid: str, status: str) -> None:
    deadline = time.monotonic() + 10
    while rt.state(cid)["status"] != status:
        assert time.monotonic() < deadline, f"{cid} never became {status}"
        time.sleep(0.02)


def _make(rt: Any, bundle: Any, status: str, cid: str) -> None:
    if status == "created":
        rt("create", "--bundle", bundle(["sleep", "60"]), cid, check=True)
    elif status == "stopped":
        rt("run", "-d", "--bundle", bundle(["true"]), cid, check=True)
    else:
        rt("run", "-d", "--bundle", bundle(["sleep", "60"]), cid, check=True)
        if status == "paused":
            rt("pause", cid, check=True)
    _wait(rt, cid, status)


@pytest.mark.parametrize("status", ["created", "running", "paused", "stopped"])
@pytest.mark.parametrize("op", sorted(quick.HANDLES))
def test_quick_and_full_agree(rt: Any, bundle: Any, status: str, op: str) -> None:
    cid = f"q-{op}-{status}"
    _make(rt, bundle, status, cid)
    path = os.path.join(rt.root, cid)
    seen = quick._status(path, quick._read_record(path))  # type: ignore[arg-type]
    assert seen == (RUNNING if status == PAUSED else status)
    allowed = (op, status) in ALLOWED
    acted = getattr(quick, op)(rt.root, cid)
    assert not acted or allowed, f"the quick lane did {op} in {status}, which the table refuses"
    if acted:
        if op == "delete":
            assert not os.path.exists(path)
        else:
            assert rt.state(cid)["status"] in ("running", "stopped")
        return
    assert rt.state(cid)["status"] == status  # deferring left it untouched
    full = rt(op, cid)
    assert (full.returncode == 0) == allowed, full.stderr


def test_the_lane_sees_running_for_paused_and_the_table_agrees() -> None:
    for op in quick.HANDLES:
        assert ((op, RUNNING) in ALLOWED) == ((op, PAUSED) in ALLOWED)
        assert (op, quick.HANDLES[op]) in ALLOWED
