from __future__ import annotations

import pytest

from pyrkt.oci import lifecycle as lc


@pytest.mark.parametrize(
    "op,status",
    [
        ("start", lc.CREATED),
        ("kill", lc.CREATED),
        ("kill", lc.RUNNING),
        ("delete", lc.STOPPED),
        ("delete", lc.CREATED),
        ("pause", lc.RUNNING),
        ("resume", lc.PAUSED),
    ],
)
def test_allowed(op: str, status: str) -> None:
    lc.check(op, status, "c1")  # does not raise


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
    lc.check("delete", lc.RUNNING, "c1", forced=True)
    lc.check("kill", lc.STOPPED, "c1", forced=True)
    with pytest.raises(lc.LifecycleError):
        lc.check("delete", lc.RUNNING, "c1")
    with pytest.raises(lc.LifecycleError):
        lc.check("start", lc.STOPPED, "c1", forced=True)


def test_every_refusal_clients_match_on_has_its_own_message() -> None:
    """For the worded operations, each status is allowed or refused with a message of ERRORS,
    never the generic fallback: a status added to STATUSES without its wording fails here."""
    missing = [(op, status) for op in lc.WORDED_OPS for status in lc.STATUSES
               if (op, status) not in lc.ALLOWED and (op, status) not in lc.ERRORS]
    assert missing == []


def test_tables_name_known_statuses_and_do_not_overlap() -> None:
    for op, status in lc.ALLOWED | lc.FORCED | set(lc.ERRORS):
        assert status in lc.STATUSES, (op, status)
    assert not lc.ALLOWED & set(lc.ERRORS)
    assert not lc.ALLOWED & lc.FORCED
