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

# (operation, status) -> status after the operation (None: unchanged)
ALLOWED: dict[tuple[str, str], str | None] = {
    ("start", CREATED): RUNNING,
    ("kill", CREATED): None,
    ("kill", RUNNING): None,
    ("kill", PAUSED): None,
    ("delete", CREATED): None,
    ("delete", STOPPED): None,
    ("pause", RUNNING): PAUSED,
    ("resume", PAUSED): RUNNING,
    ("exec", CREATED): None,
    ("exec", RUNNING): None,
    ("update", CREATED): None,
    ("update", RUNNING): None,
    ("update", PAUSED): None,
    ("ps", CREATED): None,
    ("ps", RUNNING): None,
    ("ps", PAUSED): None,
    ("events", CREATED): None,
    ("events", RUNNING): None,
    ("events", PAUSED): None,
}

# operations that `--force` (delete) or `--all` (kill) extend to more statuses
FORCED: dict[tuple[str, str], str | None] = {
    ("delete", RUNNING): None,
    ("delete", PAUSED): None,
    ("delete", CREATING): None,
    ("kill", STOPPED): None,
}

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
}


class LifecycleError(RuntimeFailure):
    """An operation that the container's status does not allow (runc's message: a RuntimeFailure)."""


def check(op: str, status: str, container_id: str = "", forced: bool = False) -> str | None:
    """Return the status after `op`, or raise LifecycleError with runc's message."""
    key = (op, status)
    if key in ALLOWED:
        return ALLOWED[key]
    if forced and key in FORCED:
        return FORCED[key]
    if op == "delete":
        raise LifecycleError(f"cannot delete container {container_id} that is not stopped: {status}")
    message = ERRORS.get(key) or f"cannot {op} a container that is {status}"
    raise LifecycleError(message)
