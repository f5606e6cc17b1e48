from __future__ import annotations

import pytest

from pyrkt.oci import lifecycle as lc


@pytest.mark.parametrize(
    "op,status,after",
    [
        ("start", lc.CREATED, lc.RUNNING),
        ("kill", lc.CREATED, None),
        ("kill", lc.RUNNING, None),
        ("delete", lc.STOPPED, None),
        ("delete", lc.CREATED, None),
        ("pause", lc.RUNNING, lc.PAUSED),
        ("resume", lc.PAUSED, lc.RUNNING),
    ],
)
def test_allowed(op: str, status: str, after: str | None) -> None:
    assert lc.check(op, status, "c1") == after


@pytest.mark.parametrize(
    "op,status,message",
    [
        ("start", lc.RUNNING, "cannot start an already running container"),
        ("start", lc.STOPPED, "cannot start a container that has stopped"),
        ("kill", lc.STOPPED, "container not running"),
        ("delete", lc.RUNNING, "cannot delete container c1 that is not stopped: running"),
        ("delete", lc.PAUSED, "cannot delete container c1 that is not stopped: paused"),
        ("exec", lc.STOPPED, "cannot exec in a stopped container"),
        ("resume", lc.RUNNING, "container not paused"),
    ],
)
def test_refused_with_runc_wording(op: str, status: str, message: str) -> None:
    with pytest.raises(lc.LifecycleError, match=message):
        lc.check(op, status, "c1")


def test_force_extends_delete_and_kill() -> None:
    assert lc.check("delete", lc.RUNNING, "c1", forced=True) is None
    assert lc.check("kill", lc.STOPPED, "c1", forced=True) is None
    with pytest.raises(lc.LifecycleError):
        lc.check("start", lc.STOPPED, "c1", forced=True)


def test_every_status_is_covered_for_core_operations() -> None:
    for op in ("start", "kill", "delete"):
        for status in lc.STATUSES:
            try:
                lc.check(op, status, "c1")
            except lc.LifecycleError as exc:
                assert str(exc)
