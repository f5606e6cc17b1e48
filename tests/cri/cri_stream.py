"""A minimal client of the CRI streaming server (the URLs that Exec and Attach return).

containerd's CRI plugin serves exec/attach the way the kubelet's streaming
library does: an HTTP endpoint that upgrades to a WebSocket speaking the
`v4.channel.k8s.io` subprotocol. Every binary message starts with one byte
naming the channel (0 stdin, 1 stdout, 2 stderr, 3 error: a JSON Status
saying how the command ended, 4 resize). This is RFC 6455 over a plain socket,
written here so the tests need no WebSocket package: client frames are masked,
the server's are not.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import struct
import time
import urllib.parse

PROTOCOL = "v4.channel.k8s.io"
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455, section 1.3
STDIN, STDOUT, STDERR, ERROR = 0, 1, 2, 3


class StreamError(Exception):
    pass


class ChannelStream:
    """One exec or attach session on the streaming server."""

    def __init__(self, url: str, timeout: float = 30) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "http":
            raise StreamError(f"unexpected streaming URL {url!r} (TLS streaming should be off)")
        if parts.hostname != "127.0.0.1":
            raise StreamError(f"streaming URL {url!r} is not on 127.0.0.1: the tests talk to nothing else")
        self.sock = socket.create_connection((parts.hostname, parts.port or 80), timeout=timeout)
        self.buf = b""
        self.closed = False
        key = base64.b64encode(os.urandom(16)).decode()
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        request = (
            f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: {PROTOCOL}\r\n\r\n"
        )
        self.sock.sendall(request.encode())
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        if " 101 " not in lines[0] + " ":
            raise StreamError(f"streaming server refused the upgrade: {lines[0]!r} {self.buf[:200]!r}")
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        expect = base64.b64encode(hashlib.sha1(key.encode() + _GUID).digest()).decode()
        if headers.get("sec-websocket-accept") != expect:
            raise StreamError(f"bad Sec-WebSocket-Accept in {headers}")
        if headers.get("sec-websocket-protocol") != PROTOCOL:
            raise StreamError(f"server chose subprotocol {headers.get('sec-websocket-protocol')!r}")

    def _fill(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("streaming connection closed")
        self.buf += data

    def _take(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _send_frame(self, opcode: int, payload: bytes) -> None:
        n = len(payload)
        if n < 126:
            head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
        elif n < 1 << 16:
            head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(head + mask + masked)

    def _recv_message(self) -> tuple[int, bytes]:
        """(opcode, payload) of the next data or close message; pings are answered."""
        opcode, parts = 0, []
        while True:
            b0, b1 = self._take(2)
            n = b1 & 0x7F
            if n == 126:
                (n,) = struct.unpack("!H", self._take(2))
            elif n == 127:
                (n,) = struct.unpack("!Q", self._take(8))
            mask = self._take(4) if b1 & 0x80 else b""
            payload = self._take(n)
            if mask:
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            op = b0 & 0x0F
            if op == 0x9:
                self._send_frame(0xA, payload)
                continue
            if op == 0xA:
                continue
            if op != 0:
                opcode = op
            parts.append(payload)
            if b0 & 0x80:
                return opcode, b"".join(parts)

    def send(self, data: bytes, channel: int = STDIN) -> None:
        self._send_frame(0x2, bytes([channel]) + data)

    def collect(self, timeout: float = 30, until: tuple[int, bytes] | None = None) -> dict[int, bytes]:
        """Everything received per channel, until the server closes the stream (or, with
        `until=(channel, text)`, until that channel has carried `text`)."""
        out: dict[int, bytes] = {}
        deadline = time.monotonic() + timeout
        while not self.closed:
            self.sock.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                opcode, payload = self._recv_message()
            except (EOFError, ConnectionResetError):
                self.closed = True
                break
            except socket.timeout:
                raise StreamError(f"no end of stream after {timeout}s; got {out}") from None
            if opcode == 0x8:
                self.closed = True
                break
            if payload:
                out[payload[0]] = out.get(payload[0], b"") + payload[1:]
            if until is not None and until[1] in out.get(until[0], b""):
                break
        return out

    def close(self) -> None:
        try:
            if not self.closed:
                self._send_frame(0x8, struct.pack("!H", 1000))
        except OSError:
            pass
        self.sock.close()


def exit_code(error_channel: bytes) -> int:
    """The exit code in the v4 error channel's Status (none at all, or Success, is 0)."""
    if not error_channel.strip():
        return 0
    status = json.loads(error_channel)
    if status.get("status") == "Success":
        return 0
    for cause in status.get("details", {}).get("causes", []):
        if cause.get("reason") == "ExitCode":
            return int(cause["message"])
    raise StreamError(f"the stream ended with an error: {status}")
