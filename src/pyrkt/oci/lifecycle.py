"""The container lifecycle of the OCI runtime spec, as data.

Which operation is allowed in which status, what it leads to, and the error
message otherwise (runc's wording, which podman and containerd match on).
Pure: `check(op, status)` is tested without containers.
"""

from __future__ import annotations

from pyrkt.oci.errors import RuntimeFailure

CREATING = "creating"
CREATED = "created"
RUNNING = "running"
PAUSED = "paused"
STOPPED = "stopped"
STATUSES = (CREATING, CREATED, RUNNING, PAUSED, STOPPED)

# (operation, status) pairs the operation is allowed in. (What status an operation
# leads to is the runtime's to record -- `start` writes running, `pause` paused --
# so the table holds only what `check` decides.)
ALLOWED: frozenset[tuple[str, str]] = frozenset({
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
FORCED: frozenset[tuple[str, str]] = frozenset({
    ("delete", RUNNING), ("delete", PAUSED), ("delete", CREATING),
    ("kill", STOPPED),
})

# the operations whose refusals clients match on (podman, containerd's shim): each refusal
# has its own message here, never the generic one (a test checks the table is complete)
WORDED_OPS = ("start", "kill", "pause", "resume", "exec")

ERRORS: dict[tuple[str, str], str] = {
    ("start", RUNNING): "cannot start an already running container",
    ("start", STOPPED): "cannot start a container that has stopped",
    ("start", PAUSED): "cannot start an already paused container",
    ("start", CREATING): "cannot start a container that is still being created",
    ("kill", STOPPED): "container not running",
    ("kill", CREATING): "container is still being created",
    ("pause", CREATED): "container not running",
    ("pause", STOPPED): "container not running",
    ("pause", PAUSED): "container already paused",
    ("resume", RUNNING): "container not paused",
    ("resume", CREATED): "container not paused",
    ("resume", STOPPED): "container not paused",
    ("exec", STOPPED): "cannot exec in a stopped container",
    ("exec", PAUSED): "cannot exec in a paused container",
    ("exec", CREATING): "container is still being created",
    ("pause", CREATING): "container is still being created",
    ("resume", CREATING): "container not paused",
}


class LifecycleError(RuntimeFailure):
    """An operation that the container's status does not allow (runc's message: a RuntimeFailure)."""


def check(op: str, status: str, container_id: str = "", forced: bool = False) -> None:
    """Return if `op` is allowed in `status`, else raise LifecycleError with runc's message."""
    key = (op, status)
    if key in ALLOWED or (forced and key in FORCED):
        return
    if op == "delete":
        raise LifecycleError(f"cannot delete container {container_id} that is not stopped: {status}")
    message = ERRORS.get(key) or f"cannot {op} a container that is {status}"
    raise LifecycleError(message)
