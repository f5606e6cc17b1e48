"""The message channel between `create` and the container's init.

A SOCK_SEQPACKET socketpair carries small JSON messages, one per packet, so
neither side needs framing. The init reports `ready` or `error`; the parent
sends `go` once it has written the user-namespace maps and placed the init in
its cgroups. A closed socket on either side means the other one died.
"""

from __future__ import annotations

import _socket

from pyrkt import fastjson

TYPE_CHECKING = False
if TYPE_CHECKING:
    from _socket import socket  # socket.socket is a subclass


class SyncError(Exception):
    pass


def pair() -> tuple[socket, socket]:
    # `_socket`, not `socket` (bench/README.md "Speed rules"); `socket.socket` is a
    # subclass of this class, so either kind works below
    return _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)


def send(sock: socket, kind: str, **fields: object) -> None:
    fields["type"] = kind
    sock.send(fastjson.dumps(fields).encode())


def recv(sock: socket) -> dict[str, object]:
    try:
        data = sock.recv(65536)
    except ConnectionResetError:
        # the peer exited with our `go` unread: the kernel reports ECONNRESET once, before
        # the packets still queued for us (its error report): read on
        data = sock.recv(65536)
    if not data:
        raise SyncError("the other side closed the channel")
    msg = fastjson.loads(data)
    if not isinstance(msg, dict):
        raise SyncError("malformed message")
    return msg
