"""Seccomp user notification: the listener fd goes to the agent at ``linux.seccomp.listenerPath``.

A profile with ``SCMP_ACT_NOTIFY`` rules compiles to a program loaded with
SECCOMP_FILTER_FLAG_NEW_LISTENER (:mod:`pyrkt.linux.seccomp`), and loading it
gives the loading process a notification fd. The runtime spec (runtime.md,
"containerProcessState") and runc then want that fd in the seccomp agent's
hands before the process runs anything of its own:

1. the process that loaded the filter (the container's init in ``create``,
   the new process in ``exec``) writes the fd's number to the runtime with
   write(2) -- the one call a NOTIFY rule may not catch (runc's rule too) --
   and waits;
2. the runtime takes a copy with pidfd_getfd, connects to ``listenerPath``
   and sends, in one SCM_RIGHTS message, the container process state
   (``ociVersion``, ``fds: ["seccompFd"]``, ``pid``, ``metadata`` from
   ``listenerMetadata``, and the container's ``state``: status ``creating``
   from create, ``running`` from exec) with the fd;
3. it tells the process to go on, which closes its copy.

An agent that cannot be reached fails ``create`` (or ``exec``) in one line, and
the failed create removes everything, as runc does. Everything here runs only
for such profiles: nothing is imported for the others.
"""

from __future__ import annotations

import _socket
import os
import sys

from pyrkt import fastjson
from pyrkt.oci import sync
from pyrkt.oci.errors import RuntimeFailure

TYPE_CHECKING = False
if TYPE_CHECKING:
    from _socket import socket

__all__ = ["hand_over", "parent_side", "process_state"]

SECCOMP_FD_NAME = "seccompFd"  # the name the spec gives the fd in `fds`


def hand_over(sock: socket, listener_fd: int) -> None:
    """In the process that loaded the filter: report the fd, wait until the agent has it, close ours."""
    os.write(sock.fileno(), fastjson.dumps({"type": "seccomp", "fd": listener_fd}).encode())
    msg = sync.recv(sock)
    os.close(listener_fd)
    if msg.get("type") != "seccompDone":
        raise sync.SyncError(f"unexpected message {msg.get('type')!r} while handing the seccomp listener over")


def process_state(cfg_raw: dict[str, object], container_id: str, bundle: str, status: str, init_pid: int, pid: int) -> dict[str, object]:
    """The containerProcessState document the agent receives (runtime.md); `pid` is the filtered process."""
    from pyrkt import OCI_VERSION

    version = cfg_raw.get("ociVersion") or OCI_VERSION
    state: dict[str, object] = {"ociVersion": version, "id": container_id, "status": status, "pid": init_pid, "bundle": bundle}
    if cfg_raw.get("annotations"):
        state["annotations"] = cfg_raw["annotations"]
    doc: dict[str, object] = {"ociVersion": version, "fds": [SECCOMP_FD_NAME], "pid": pid}
    linux = cfg_raw.get("linux")
    seccomp = linux.get("seccomp") if isinstance(linux, dict) else None
    metadata = seccomp.get("listenerMetadata") if isinstance(seccomp, dict) else None
    if metadata:
        doc["metadata"] = metadata
    doc["state"] = state
    return doc


def _send(path: str, doc: dict[str, object], fd: int) -> None:
    conn = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        try:
            conn.connect(path)
        except OSError as exc:
            raise RuntimeFailure(f"failed to connect with seccomp agent specified in the seccomp profile ({path}): {exc.strerror}") from None
        data = fastjson.dumps(doc, compact=True).encode()
        try:
            sent = conn.sendmsg([data], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, fd.to_bytes(4, sys.byteorder))])
            if sent < len(data):
                conn.sendall(data[sent:])
        except OSError as exc:
            raise RuntimeFailure(f"cannot send seccomp fd to {path}: {exc.strerror}") from None
    finally:
        conn.close()


def parent_side(sock: socket, pid: int, msg: dict[str, object], cfg_raw: dict[str, object], container_id: str, bundle: str,
                status: str, init_pid: int, wait_next: bool = True) -> dict[str, object]:
    """In the runtime: the process `pid` reported its listener; pass it to the agent, let it go on.

    Returns the process's next message (``wait_next``), else an empty dict.
    """
    from pyrkt.linux import syscalls as sc

    linux = cfg_raw.get("linux")
    seccomp = linux.get("seccomp") if isinstance(linux, dict) else None
    path = seccomp.get("listenerPath") if isinstance(seccomp, dict) else None
    if not isinstance(path, str) or not path:
        raise RuntimeFailure("linux.seccomp: listenerPath is not set")  # validation refuses it first
    child_fd = msg.get("fd")
    if not isinstance(child_fd, int):
        raise RuntimeFailure(f"unexpected message from the container process: {msg!r}")
    try:
        fd = sc.pidfd_getfd(pid, child_fd)
    except OSError as exc:
        raise RuntimeFailure(f"cannot get the seccomp listener of process {pid}: {exc.strerror}") from None
    try:
        _send(path, process_state(cfg_raw, container_id, bundle, status, init_pid, pid), fd)
    finally:
        os.close(fd)
    try:
        sync.send(sock, "seccompDone")
        return sync.recv(sock) if wait_next else {}
    except (OSError, sync.SyncError):
        raise RuntimeFailure("container process exited while its seccomp listener was handed over") from None
