"""The lifecycle table's data: the statuses and which operation each allows.

A leaf with no imports at all (not even `__future__`), because `oci/quick.py`
-- the start/delete fast lane on built-in modules only -- takes its rules
from here, as `oci/lifecycle.py` does: one table for both paths.
`lifecycle` adds the refusal messages and `check`.
"""

CREATING = "creating"
CREATED = "created"
RUNNING = "running"
PAUSED = "paused"
STOPPED = "stopped"
STATUSES = (CREATING, CREATED, RUNNING, PAUSED, STOPPED)

# (operation, status) pairs the operation is allowed in. (What status an operation
# leads to is the runtime's to record -- `start` writes running, `pause` paused --
# so the table holds only what `check` decides.)
ALLOWED = frozenset({
    ("start", CREATED),
    ("kill", CREATED), ("kill", RUNNING), ("kill", PAUSED),
    ("delete", CREATED), ("delete", STOPPED),
    ("pause", RUNNING),
    ("resume", PAUSED),
    ("exec", CREATED), ("exec", RUNNING),
    ("update", CREATED), ("update", RUNNING), ("update", PAUSED),
    ("ps", CREATED), ("ps", RUNNING), ("ps", PAUSED),
    ("events", CREATED), ("events", RUNNING), ("events", PAUSED),
})

# pairs that `--force` (delete) or `--all` (kill) add
FORCED = frozenset({
    ("delete", RUNNING), ("delete", PAUSED), ("delete", CREATING),
    ("kill", STOPPED),
})
