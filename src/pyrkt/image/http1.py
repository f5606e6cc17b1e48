"""A lean HTTP/1.1 client for the registry protocol, on `_socket` (and `ssl` only for https).

Why not urllib/http.client here: a cold `rkt fetch docker://…` is timed against
`skopeo copy`, and http.client pulls in the `email` package (parser, feedparser,
policies, utils: ~20 ms of imports and ~30 regular expressions compiled) only
to parse response headers, urllib adds its handler chain, and neither keeps a
connection alive between requests. This client does what the registry
protocol needs and no more:

- HTTP/1.1 with keep-alive: a `Pool` keeps idle connections per
  (scheme, host, port), so the manifest, the config and each parallel
  worker's blobs reuse a few connections instead of one TCP connect each;
  a reused connection the server has closed meanwhile is retried once on a
  new one (only then: a fresh connection's failure is the answer);
- bodies by Content-Length (a short body is an error, never a silent
  truncation), `Transfer-Encoding: chunked`, or until the server closes;
  none for HEAD, 1xx, 204 and 304;
- redirects (301 302 303 307 308, at most 10): the registry's redirect of a
  blob to its storage; the Authorization header goes to the first URL only
  (as urllib's "unredirected" header), never to the storage host;
- https through `ssl`, imported on the first https connection only: loading
  the module and the CA bundle costs ~10 ms a plain-http loopback fetch
  should not pay. TLS is verified against the system CAs (or `SSL_CERT_FILE`
  / `SSL_CERT_DIR`) unless the pool was made with `verify_tls=False`.

Errors reaching the host are `FetchError("cannot reach URL: …")`; HTTP error
statuses are returned as responses for the caller to read (401, 404, …).
"""

from __future__ import annotations

import _socket
import _thread

from pyrkt.image.errors import FetchError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import ssl

USER_AGENT = "pyrkt/0.1 (rkt-compatible)"
TIMEOUT = 60.0
MAX_REDIRECTS = 10
_MAX_HEADER = 64 << 10
_REDIRECTS = (301, 302, 303, 307, 308)


class Headers:
    """Response headers, looked up without regard to case (the first of repeated ones)."""

    __slots__ = ("_items",)

    def __init__(self) -> None:
        self._items: dict[str, str] = {}

    def add(self, name: str, value: str) -> None:
        key = name.strip().lower()
        if key not in self._items:
            self._items[key] = value.strip()

    def get(self, name: str, default: str | None = None) -> str | None:
        return self._items.get(name.lower(), default)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items


def split_url(url: str) -> tuple[str, str, int, str]:
    """`scheme://host[:port]/path?query` -> (scheme, host, port, path-and-query)."""
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in ("http", "https"):
        raise FetchError(f"cannot reach {url}: only http and https URLs are supported")
    cut = len(rest)
    for ch in "/?#":
        i = rest.find(ch)
        if i != -1 and i < cut:
            cut = i
    netloc, target = rest[:cut], rest[cut:]
    target = target.partition("#")[0]
    if not target.startswith("/"):
        target = "/" + target
    netloc = netloc.rpartition("@")[2]
    if netloc.startswith("["):  # [v6 address]:port
        host, _, tail = netloc[1:].partition("]")
        port_text = tail[1:] if tail.startswith(":") else ""
    else:
        host, _, port_text = netloc.partition(":")
    if not host:
        raise FetchError(f"cannot reach {url}: no host in the URL")
    try:
        port = int(port_text) if port_text else (443 if scheme == "https" else 80)
    except ValueError:
        raise FetchError(f"cannot reach {url}: bad port {port_text!r}") from None
    if not 0 < port < 65536:
        raise FetchError(f"cannot reach {url}: bad port {port}")
    return scheme, host, port, target


def join_url(base: str, location: str) -> str:
    """Where a redirect's Location points, from the URL that sent it."""
    if "://" in location.split("?", 1)[0]:
        return location
    scheme, _, rest = base.partition("://")
    if location.startswith("//"):
        return f"{scheme}:{location}"
    cut = len(rest)
    for ch in "/?#":
        i = rest.find(ch)
        if i != -1 and i < cut:
            cut = i
    netloc, path = rest[:cut], rest[cut:].split("?", 1)[0].split("#", 1)[0] or "/"
    if location.startswith("/"):
        return f"{scheme}://{netloc}{location}"
    if location.startswith("?"):
        return f"{scheme}://{netloc}{path}{location}"
    return f"{scheme}://{netloc}{path.rsplit('/', 1)[0]}/{location}"


def _host_arg(host: str) -> bytes:
    """The host for getaddrinfo as bytes: a str would load the idna codec (~1.5 ms) even for 127.0.0.1."""
    try:
        return host.encode("ascii")
    except UnicodeEncodeError:
        return host.encode("idna")


class _Conn:
    """One connection: a socket (plain or TLS) and what was read past the last response."""

    __slots__ = ("key", "sock", "buf", "reused")

    def __init__(self, key: tuple[str, str, int], sock: "_socket.socket | ssl.SSLSocket") -> None:
        self.key = key
        self.sock = sock
        self.buf = b""
        self.reused = False

    def fill(self) -> bool:
        data = self.sock.recv(256 << 10)
        if not data:
            return False
        self.buf = self.buf + data if self.buf else data
        return True

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


class Response:
    """A response being read: `status`, `reason`, `headers`, `url` (after redirects), `read`, `read1`.

    Reading the body to its end hands the connection back to the pool for the
    next request; closing before the end closes the connection.
    """

    def __init__(self, pool: "Pool", conn: _Conn, url: str, status: int, reason: str, headers: Headers, method: str) -> None:
        self.pool = pool
        self.url = url
        self.status = status
        self.reason = reason
        self.headers = headers
        self._conn: _Conn | None = conn
        self._chunked = False
        self._left: int | None = None  # body bytes left (Content-Length, or the current chunk)
        self._until_close = False
        self._keep = (headers.get("Connection") or "").lower() != "close"
        te = (headers.get("Transfer-Encoding") or "").lower()
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            self._left = 0
        elif te and te != "identity":
            if te.rsplit(",", 1)[-1].strip() != "chunked":
                raise FetchError(f"{url}: unsupported Transfer-Encoding {te!r}")
            self._chunked = True
            self._left = None
        else:
            length = headers.get("Content-Length")
            if length is not None:
                try:
                    self._left = int(length.split(",")[0])
                except ValueError:
                    raise FetchError(f"{url}: bad Content-Length {length!r}") from None
                if self._left < 0:
                    raise FetchError(f"{url}: bad Content-Length {length!r}")
            else:
                self._until_close = True
                self._keep = False
        if self._left == 0 and not self._chunked:
            self._done()

    # -- body ------------------------------------------------------------------
    def _done(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            if self._keep:
                self.pool._release(conn)
            else:
                conn.close()

    def _next_chunk(self, conn: _Conn) -> bool:
        """Read a chunk-size line; False at the last (empty) chunk, whose trailer is consumed."""
        line = self._line(conn)
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise FetchError(f"{self.url}: bad chunk size {line[:40]!r}") from None
        if size < 0:
            raise FetchError(f"{self.url}: bad chunk size {line[:40]!r}")
        if size == 0:
            while self._line(conn):  # trailer fields up to the empty line
                pass
            return False
        self._left = size
        return True

    def _line(self, conn: _Conn) -> bytes:
        while True:
            i = conn.buf.find(b"\n")
            if i != -1:
                line, conn.buf = conn.buf[:i], conn.buf[i + 1:]
                return line.rstrip(b"\r")
            if len(conn.buf) > _MAX_HEADER:
                raise FetchError(f"{self.url}: line too long in the response")
            if not conn.fill():
                raise FetchError(f"{self.url}: the connection closed in the middle of the response")

    def read1(self, n: int = 1 << 20) -> bytes:
        """Up to `n` bytes of the body, as soon as some are there; b"" at its end."""
        conn = self._conn
        if conn is None or n <= 0:
            return b""
        try:
            if self._chunked and not self._left:
                if self._left == 0 and self._line(conn):  # the CRLF after the previous chunk's data
                    raise FetchError(f"{self.url}: bad chunked encoding")
                if not self._next_chunk(conn):
                    self._done()
                    return b""
            if not conn.buf and not conn.fill():
                if self._until_close:
                    self._done()
                    return b""
                raise FetchError(f"{self.url}: the connection closed with {self._left} bytes of the body left")
            want = n if self._left is None else min(n, self._left)
            data, conn.buf = conn.buf[:want], conn.buf[want:]
            if self._left is not None:
                self._left -= len(data)
                if self._left == 0 and not self._chunked:
                    self._done()
            return data
        except OSError as exc:
            self.close()
            raise FetchError(f"{self.url}: reading the response failed: {exc}") from None
        except FetchError:
            self.close()
            raise

    def read(self, n: int = -1) -> bytes:
        """The body (or its next `n` bytes): less only at its end."""
        parts: list[bytes] = []
        got = 0
        while n < 0 or got < n:
            data = self.read1((1 << 20) if n < 0 else n - got)
            if not data:
                break
            parts.append(data)
            got += len(data)
        return b"".join(parts)

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def __enter__(self) -> "Response":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Pool:
    """Connections to reuse, per (scheme, host, port); safe to share between threads."""

    def __init__(self, verify_tls: bool = True, timeout: float = TIMEOUT) -> None:
        self.verify_tls = verify_tls
        self.timeout = timeout
        self._idle: dict[tuple[str, str, int], list[_Conn]] = {}
        self._lock = _thread.allocate_lock()
        self._ctx: "ssl.SSLContext | None" = None

    def _release(self, conn: _Conn) -> None:
        conn.reused = True
        with self._lock:
            self._idle.setdefault(conn.key, []).append(conn)

    def close(self) -> None:
        with self._lock:
            conns = [c for cs in self._idle.values() for c in cs]
            self._idle.clear()
        for c in conns:
            c.close()

    def _tls(self) -> "ssl.SSLContext":
        if self._ctx is None:
            import ssl

            if self.verify_tls:
                self._ctx = ssl.create_default_context()  # honours SSL_CERT_FILE / SSL_CERT_DIR
            else:
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
                self._ctx = ctx
        return self._ctx

    def _connect(self, key: tuple[str, str, int]) -> _Conn:
        scheme, host, port = key
        if scheme == "https":
            import socket

            raw = socket.create_connection((host, port), timeout=self.timeout)
            try:
                raw.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
                return _Conn(key, self._tls().wrap_socket(raw, server_hostname=host))
            except BaseException:
                raw.close()
                raise
        last: OSError | None = None
        for family, type_, proto, _, addr in _socket.getaddrinfo(_host_arg(host), port, 0, _socket.SOCK_STREAM):
            sock = _socket.socket(family, type_, proto)
            try:
                sock.settimeout(self.timeout)
                sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
                sock.connect(addr)
                return _Conn(key, sock)
            except OSError as exc:
                sock.close()
                last = exc
        raise last or OSError(f"no address for {host}")

    def _get_conn(self, key: tuple[str, str, int]) -> _Conn:
        with self._lock:
            idle = self._idle.get(key)
            if idle:
                return idle.pop()
        return self._connect(key)

    def _exchange(self, url: str, method: str, headers: dict[str, str]) -> Response:
        scheme, host, port, target = split_url(url)
        key = (scheme, host, port)
        default_port = 443 if scheme == "https" else 80
        host_header = (f"[{host}]" if ":" in host else host) + ("" if port == default_port else f":{port}")
        lines = [f"{method} {target} HTTP/1.1", f"Host: {host_header}", f"User-Agent: {USER_AGENT}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        for attempt in (0, 1):
            conn = self._get_conn(key)
            try:
                try:
                    conn.sock.sendall(head)
                except (BrokenPipeError, ConnectionResetError):
                    raise _Retry from None
                status, reason, hdrs = self._read_head(conn, url)
                return Response(self, conn, url, status, reason, hdrs, method)
            except _Retry:
                conn.close()
                if conn.reused and attempt == 0:
                    continue  # the server closed an idle connection: once more, on a new one
                raise FetchError(f"cannot reach {url}: the server closed the connection") from None
            except BaseException:
                conn.close()
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _read_head(conn: _Conn, url: str) -> tuple[int, str, Headers]:
        while True:
            try:
                end = conn.buf.find(b"\r\n\r\n")
                while end == -1:
                    if len(conn.buf) > _MAX_HEADER:
                        raise FetchError(f"{url}: response headers too long")
                    if not conn.fill():
                        raise _Retry
                    end = conn.buf.find(b"\r\n\r\n")
            except (ConnectionResetError, BrokenPipeError):
                raise _Retry from None
            head, conn.buf = conn.buf[:end].decode("latin-1"), conn.buf[end + 4:]
            status_line, _, rest = head.partition("\r\n")
            version, _, tail = status_line.partition(" ")
            code, _, reason = tail.partition(" ")
            if not version.startswith("HTTP/") or len(code) != 3 or not code.isdigit():
                raise FetchError(f"{url}: not an HTTP response: {status_line[:60]!r}")
            headers = Headers()
            for line in rest.split("\r\n"):
                name, sep, value = line.partition(":")
                if sep:
                    headers.add(name, value)
            status = int(code)
            if 100 <= status < 200 and status != 101:  # informational (100 Continue, 103 Early Hints): the real one follows
                continue
            if version == "HTTP/1.0" and (headers.get("Connection") or "").lower() != "keep-alive":
                headers._items["connection"] = "close"
            return status, reason, headers

    def request(self, url: str, headers: dict[str, str] | None = None, auth: str | None = None, method: str = "GET") -> Response:
        """`method url`, following redirects; `auth` (an Authorization value) goes to `url` only."""
        hdrs = dict(headers or {})
        first = True
        for _ in range(MAX_REDIRECTS + 1):
            send = dict(hdrs)
            if auth and first:
                send["Authorization"] = auth
            try:
                resp = self._exchange(url, method, send)
            except FetchError:
                raise
            except (OSError, ValueError, UnicodeError) as exc:
                raise FetchError(f"cannot reach {url}: {getattr(exc, 'strerror', None) or exc}") from None
            location = resp.headers.get("Location")
            if resp.status not in _REDIRECTS or not location:
                return resp
            resp.read(1 << 20)  # the small redirect body, so the connection can be reused
            resp.close()
            if resp.status == 303 and method != "HEAD":
                method = "GET"
            url = join_url(url, location)
            first = False
        raise FetchError(f"cannot reach {url}: more than {MAX_REDIRECTS} redirects")


class _Retry(Exception):
    """The server closed the connection before answering."""


def speaks_tls(host: str, port: int, timeout: float = 10.0) -> bool:
    """Does `host:port` answer a TLS ClientHello with a TLS record (so https, not plain http)?

    The probe of a registry allowed over http (`--insecure-options=http`):
    https first, as docker does. Sending a ClientHello by hand and reading the
    first bytes of the answer decides it without importing `ssl` for a
    plain-http registry. A TLS server answers a handshake record (0x16) or an
    alert (0x15), both with major version 3; an HTTP server answers
    `HTTP/1.x 400` (the hello's random ends in CRLF so an HTTP server sees a
    line end and answers at once) or closes. Unreachable is an OSError.
    """
    import os

    ciphers = b"".join(x.to_bytes(2, "big") for x in (0x1301, 0x1302, 0xC02F, 0xC02B, 0xC030, 0xC02C, 0xCCA8, 0x009C))
    name = host.encode("idna") if not host.replace(".", "").isdigit() and ":" not in host else b""
    ext = b""
    if name:
        sni = b"\x00" + len(name).to_bytes(2, "big") + name
        ext += b"\x00\x00" + (len(sni) + 2).to_bytes(2, "big") + len(sni).to_bytes(2, "big") + sni
    ext += b"\x00\x0a\x00\x06\x00\x04\x00\x1d\x00\x17"  # supported groups: x25519, secp256r1
    ext += b"\x00\x0b\x00\x02\x01\x00"  # ec point formats: uncompressed
    ext += b"\x00\x0d\x00\x08\x00\x06\x04\x03\x08\x04\x04\x01"  # signature algorithms
    body = b"\x03\x03" + os.urandom(30) + b"\r\n" + b"\x00" + len(ciphers).to_bytes(2, "big") + ciphers + b"\x01\x00"
    body += len(ext).to_bytes(2, "big") + ext
    hello = b"\x01" + len(body).to_bytes(3, "big") + body
    record = b"\x16\x03\x01" + len(hello).to_bytes(2, "big") + hello
    last: OSError | None = None
    for family, type_, proto, _, addr in _socket.getaddrinfo(_host_arg(host), port, 0, _socket.SOCK_STREAM):
        sock = _socket.socket(family, type_, proto)
        try:
            sock.settimeout(timeout)
            sock.connect(addr)
        except OSError as exc:
            sock.close()
            last = exc
            continue
        try:
            sock.sendall(record)
            got = b""
            while len(got) < 2:
                data = sock.recv(2 - len(got))
                if not data:
                    break
                got += data
            return len(got) == 2 and got[0] in (0x15, 0x16) and got[1] == 3
        except OSError:
            return False  # it took the connection and then broke it: not a TLS server we can use
        finally:
            sock.close()
    raise last or OSError(f"no address for {host}")
