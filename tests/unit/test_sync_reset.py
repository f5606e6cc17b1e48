"""The create/init channel keeps the init's last report when the init exits with `go` unread."""

from __future__ import annotations

from pyrkt.oci import sync


def test_error_report_survives_an_unread_go() -> None:
    parent, child = sync.pair()
    sync.send(child, "error", msg="mount failed")
    sync.send(parent, "go")  # the init has already failed: it never reads this
    child.close()  # -> ECONNRESET on the parent's side, reported before the queued report
    assert sync.recv(parent) == {"type": "error", "msg": "mount failed"}
    parent.close()
