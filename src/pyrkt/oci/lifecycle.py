"""The container lifecycle of the OCI runtime spec, as data.

Which operation is allowed in which status (the table is in `statuses`, a
leaf the start/delete fast lane `quick` reads too), and the error message
otherwise (runc's wording, which podman and containerd match on).
Pure: `check(op, status)` is tested without containers.
"""

from __future__ import annotations

from pyrkt.oci.errors import RuntimeFailure
from pyrkt.oci.statuses import ALLOWED, CREATED, CREATING, FORCED, PAUSED, RUNNING, STATUSES, STOPPED

__all__ = ["ALLOWED", "CREATED", "CREATING", "FORCED", "PAUSED", "RUNNING", "STATUSES", "STOPPED",
           "WORDED_OPS", "ERRORS", "LifecycleError", "check"]

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
