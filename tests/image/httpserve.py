"""Loopback HTTP/1.1 servers for the image tier's client and registry tests (real sockets)."""

from __future__ import annotations

import http.server
import ssl
import threading


class Server:
    """A threading HTTP/1.1 server whose handler is `route(handler)`; records requests and connections."""

    def __init__(self, route, tls: ssl.SSLContext | None = None) -> None:  # type: ignore[no-untyped-def]
        outer = self
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.connections = 0

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a: object) -> None:
                pass

            def setup(self) -> None:
                outer.connections += 1
                super().setup()

            def do_GET(self) -> None:
                outer.requests.append(("GET", self.path, {k.lower(): v for k, v in self.headers.items()}))
                route(self)

            do_HEAD = do_GET

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def base(self) -> str:
        return f"http://{self.host}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def send(h: http.server.BaseHTTPRequestHandler, code: int, body: bytes, headers: dict[str, str] | None = None) -> None:
    """Answer with `body` and `headers` (Content-Length unless they set it)."""
    h.send_response(code)
    for k, v in (headers or {}).items():
        h.send_header(k, v)
    if "Content-Length" not in (headers or {}):
        h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    if h.command != "HEAD":
        h.wfile.write(body)
