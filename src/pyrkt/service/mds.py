"""`rkt metadata-service`: the App Container metadata service (appc spec, ace.md, v1).

Two listeners: the registration socket (unix, root only; the protocol is in
pyrkt.pod.mds, whose client `rkt run --mds-register` uses) and the apps' HTTP
endpoint on TCP `--listen-port` (default 18112) on every address, which apps
reach on the host side of their pod's network at `AC_METADATA_URL`.

A request on the TCP side is answered only when its source address is a
registered pod's and its path starts with that pod's token; anything else
gets 403. Each pod gets its own random HMAC-SHA512 key at registration, held
only in this process: `/pod/hmac/sign` signs with the asking pod's key, and
`/pod/hmac/verify` checks a signature against the key of the pod it names,
so no pod can sign as another. Registrations live in memory; one whose pod
init has gone (pid and start time no longer match) is dropped at the next
request, which covers pods that exit, are killed or are gc'd.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import signal
import socket
import socketserver
import sys
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pyrkt.pod.mds import proc_start_time, socket_path

DEFAULT_PORT = 18112
UUID_LEN = 36


class MdsError(Exception):
    """The service could not start (one line)."""


@dataclass
class Registration:
    uuid: str
    ip: str
    pid: int
    start_time: int
    token: str
    key: bytes
    manifest: dict[str, Any]
    images: dict[str, Any]
    image_ids: dict[str, str]

    def alive(self) -> bool:
        try:
            return proc_start_time(self.pid) == self.start_time
        except (OSError, ValueError, IndexError):
            return False


@dataclass
class Registry:
    """The registered pods, by UUID and by address; thread-safe."""

    pods: dict[str, Registration] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, reg: Registration) -> None:
        with self.lock:
            for other in [p for p in self.pods.values() if p.ip == reg.ip and p.uuid != reg.uuid]:
                del self.pods[other.uuid]  # an address has one pod: a newer pod took it over
            self.pods[reg.uuid] = reg

    def remove(self, uuid: str) -> bool:
        with self.lock:
            return self.pods.pop(uuid, None) is not None

    def reap(self) -> None:
        with self.lock:
            for uuid in [u for u, p in self.pods.items() if not p.alive()]:
                del self.pods[uuid]

    def by_ip(self, ip: str) -> Registration | None:
        self.reap()
        with self.lock:
            return next((p for p in self.pods.values() if p.ip == ip), None)

    def get(self, uuid: str) -> Registration | None:
        self.reap()
        with self.lock:
            return self.pods.get(uuid)

    def snapshot(self) -> dict[str, str]:
        self.reap()
        with self.lock:
            return {u: p.ip for u, p in self.pods.items()}


def _annotations(items: Any) -> list[dict[str, str]]:
    if isinstance(items, dict):
        return [{"name": str(k), "value": str(v)} for k, v in items.items()]
    return [{"name": str(i["name"]), "value": str(i.get("value", ""))} for i in items or [] if isinstance(i, dict) and "name" in i]


def app_annotations(reg: Registration, app: str) -> list[dict[str, str]] | None:
    """The image manifest's annotations, overridden by the pod manifest's for the app (ace.md)."""
    man_app = next((a for a in reg.manifest.get("apps") or [] if isinstance(a, dict) and a.get("name") == app), None)
    if man_app is None or app not in reg.images:
        return None
    merged: dict[str, str] = {}
    for src in (reg.images[app].get("annotations"), man_app.get("annotations"), (man_app.get("app") or {}).get("userAnnotations")):
        for a in _annotations(src):
            merged[a["name"]] = a["value"]
    return [{"name": k, "value": v} for k, v in merged.items()]


def sign(key: bytes, content: bytes) -> str:
    return base64.b64encode(hmac.new(key, content, hashlib.sha512).digest()).decode()


class _Handler(BaseHTTPRequestHandler):
    server_version = "pyrkt-metadata-service"
    protocol_version = "HTTP/1.1"
    registry: Registry
    port: int

    def log_message(self, format: str, *args: Any) -> None:  # quiet: one line per request is noise
        pass

    def _send(self, code: int, body: bytes | str = b"", ctype: str = "text/plain; charset=us-ascii") -> None:
        data = body.encode() if isinstance(body, str) else body
        self.send_response(code)
        if code >= 400:  # an unread body must not be parsed as the next request
            self.close_connection = True
            self.send_header("Connection", "close")
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _json(self, obj: Any) -> None:
        self._send(200, json.dumps(obj), "application/json")

    def _body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        if n > 8 << 20:
            self.close_connection = True
            raise ValueError("request body too large")
        return self.rfile.read(n) if n > 0 else b""


class RegistrationHandler(_Handler):
    """The unix socket side: PUT/DELETE /pods/<uuid>, GET /pods."""

    def address_string(self) -> str:
        return "unix"

    def do_GET(self) -> None:
        if self.path == "/pods":
            self._json(self.registry.snapshot())
        else:
            self._send(404, "not found\n")

    def do_PUT(self) -> None:
        uuid = self.path[len("/pods/"):] if self.path.startswith("/pods/") else ""
        try:
            body = self._body()
            if len(uuid) != UUID_LEN:
                raise ValueError(f"bad pod UUID {uuid!r}")
            req = json.loads(body)
            ip = str(req["ip"])
            socket.inet_aton(ip)
            reg = Registration(uuid=uuid, ip=ip, pid=int(req["pid"]), start_time=int(req["start_time"]),
                               token=secrets.token_urlsafe(24), key=secrets.token_bytes(64),
                               manifest=dict(req["manifest"]), images=dict(req["images"]), image_ids=dict(req["image_ids"]))
        except (ValueError, KeyError, TypeError, OSError) as exc:
            self._send(400, f"bad registration: {exc}\n")
            return
        if not reg.alive():
            self._send(400, f"bad registration: process {reg.pid} is not running\n")
            return
        self.registry.add(reg)
        self._json({"token": reg.token, "port": self.port})

    def do_DELETE(self) -> None:
        uuid = self.path[len("/pods/"):] if self.path.startswith("/pods/") else ""
        self._send(200 if self.registry.remove(uuid) else 404)


class MetadataHandler(_Handler):
    """The apps' side: /<token>/acMetadata/v1/… from a registered pod's address."""

    def _pod(self) -> tuple[Registration, str] | None:
        reg = self.registry.by_ip(self.client_address[0])
        path = urllib.parse.urlsplit(self.path).path
        if reg is None or not path.startswith(f"/{reg.token}/acMetadata/v1/"):
            self._send(403, "forbidden\n")
            return None
        return reg, path[len(f"/{reg.token}/acMetadata/v1/"):]

    def do_GET(self) -> None:
        found = self._pod()
        if found is None:
            return
        reg, rest = found
        if rest == "pod/annotations":
            self._json(_annotations(reg.manifest.get("annotations")))
        elif rest == "pod/manifest":
            self._json(reg.manifest)
        elif rest == "pod/uuid":
            self._send(200, reg.uuid)
        elif rest.startswith("apps/"):
            app, _, entry = rest[len("apps/"):].partition("/")
            ann = app_annotations(reg, app)
            if ann is None:
                self._send(404, f"no app {app!r} in this pod\n")
            elif entry.rstrip("/") == "annotations":
                self._json(ann)
            elif entry == "image/manifest":
                self._json(reg.images[app])
            elif entry == "image/id":
                self._send(200, reg.image_ids.get(app, ""))
            else:
                self._send(404, "not found\n")
        else:
            self._send(404, "not found\n")

    def do_POST(self) -> None:
        found = self._pod()
        if found is None:
            return
        reg, rest = found
        try:
            form = urllib.parse.parse_qs(self._body().decode(), keep_blank_values=True)
        except (ValueError, UnicodeDecodeError):
            self._send(400, "bad form\n")
            return
        content = form.get("content", [None])[0]
        if content is None:
            self._send(400, "missing content\n")
            return
        if rest == "pod/hmac/sign":
            self._send(200, sign(reg.key, content.encode()))
        elif rest == "pod/hmac/verify":
            uuid, signature = form.get("uuid", [""])[0], form.get("signature", [""])[0]
            signer = self.registry.get(uuid)
            if signer is not None and hmac.compare_digest(sign(signer.key, content.encode()), signature):
                self._send(200, "")
            else:
                self._send(403, "signature does not verify\n")
        else:
            self._send(404, "not found\n")


def _one_line_error(request: Any, client_address: Any) -> None:
    """A client that hung up mid-answer (or any failure in a request): one line, the service goes on."""
    exc = sys.exc_info()[1]
    if not isinstance(exc, (BrokenPipeError, ConnectionResetError)):
        print(f"rkt: metadata-service: request failed: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)


class _UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        _one_line_error(request, client_address)


class _TCPServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        _one_line_error(request, client_address)


def _unix_server(path: str, handler: type) -> _UnixHTTPServer:
    os.makedirs(os.path.dirname(path) or ".", mode=0o755, exist_ok=True)
    if os.path.exists(path):
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(path)
            raise MdsError(f"another metadata service is listening on {path}")
        except (ConnectionRefusedError, FileNotFoundError):
            os.unlink(path)  # a stale socket of a service that died
        finally:
            probe.close()
    old = os.umask(0o177)  # the socket: root only (only rkt run registers)
    try:
        return _UnixHTTPServer(path, handler)
    finally:
        os.umask(old)


def serve(port: int) -> int:
    registry = Registry()
    attrs = {"registry": registry, "port": port}
    reg_handler = type("Reg", (RegistrationHandler,), attrs)
    md_handler = type("Md", (MetadataHandler,), attrs)
    try:
        tcp = _TCPServer(("0.0.0.0", port), md_handler)
    except OSError as exc:
        raise MdsError(f"cannot listen on port {port}: {exc.strerror}") from None
    path = socket_path()
    try:
        unix = _unix_server(path, reg_handler)
    except OSError as exc:
        tcp.server_close()
        raise MdsError(f"cannot listen on {path}: {exc.strerror}") from None
    except MdsError:
        tcp.server_close()
        raise
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in (tcp, unix)]
    for t in threads:
        t.start()
    print(f"metadata service running on port {port}, registrations on {path}", file=sys.stderr, flush=True)
    stopping = threading.Event()
    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, lambda *_: stopping.set())
    while not stopping.wait(3600):
        pass
    tcp.shutdown()
    unix.shutdown()
    tcp.server_close()
    unix.server_close()
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    return 0
