"""The message channel between `create` and the container's init.

A SOCK_SEQPACKET socketpair carries small JSON messages, one per packet, so
neither side needs framing. The init reports `ready` or `error`; the parent
sends `go` once it has written the user-namespace maps and placed the init in
its cgroups. A closed socket on either side means the other one died.
"""

from __future__ import annotations

import json
import socket


class SyncError(Exception):
    pass


def pair() -> tuple[socket.socket, socket.socket]:
    return socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)


def send(sock: socket.socket, kind: str, **fields: object) -> None:
    fields["type"] = kind
    sock.send(json.dumps(fields).encode())


def recv(sock: socket.socket) -> dict[str, object]:
    data = sock.recv(65536)
    if not data:
        raise SyncError("the other side closed the channel")
    msg = json.loads(data)
    if not isinstance(msg, dict):
        raise SyncError("malformed message")
    return msg
