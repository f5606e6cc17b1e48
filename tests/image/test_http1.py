"""pyrkt.image.http1, the registry client's HTTP/1.1, against real loopback servers.

Each case serves real sockets (http.server threads, one TLS) and checks what the
client reads and what reached the server: keep-alive reuse, chunked bodies,
redirects without the Authorization header, short bodies refused, a closed idle
connection retried, bodies until close, and the TLS probe.
"""

from __future__ import annotations

import os
import socket
import ssl
import subprocess

import pytest
from httpserve import Server as _Server
from httpserve import send as _send

from pyrkt.image.errors import FetchError
from pyrkt.image.http1 import Pool, join_url, speaks_tls, split_url


@pytest.fixture
def server():  # type: ignore[no-untyped-def]
    made: list[_Server] = []

    def make(route, tls=None):  # type: ignore[no-untyped-def]
        s = _Server(route, tls)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


def test_keep_alive_reuses_one_connection(server) -> None:  # type: ignore[no-untyped-def]
    s = server(lambda h: _send(h, 200, h.path.encode() * 1000))
    pool = Pool()
    for i in range(5):
        with pool.request(f"{s.base}/p{i}") as resp:
            assert resp.status == 200
            assert resp.read() == f"/p{i}".encode() * 1000
    assert s.connections == 1
    assert [r[1] for r in s.requests] == [f"/p{i}" for i in range(5)]
    assert s.requests[0][2]["host"] == f"127.0.0.1:{s.port}"


def test_chunked_body(server) -> None:  # type: ignore[no-untyped-def]
    parts = [os.urandom(n) for n in (1, 5000, 70000, 3)]

    def route(h):  # type: ignore[no-untyped-def]
        h.send_response(200)
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        for p in parts:
            h.wfile.write(f"{len(p):x};ext=1\r\n".encode() + p + b"\r\n")
        h.wfile.write(b"0\r\nX-Trailer: y\r\n\r\n")

    s = server(route)
    pool = Pool()
    for _ in range(2):  # the connection is reusable after the last chunk
        with pool.request(s.base + "/c") as resp:
            got = b""
            while True:
                data = resp.read1(4096)
                if not data:
                    break
                assert len(data) <= 4096
                got += data
        assert got == b"".join(parts)
    assert s.connections == 1


def test_redirect_keeps_headers_but_not_authorization(server) -> None:  # type: ignore[no-untyped-def]
    storage = server(lambda h: _send(h, 200, b"blob bytes", {"Content-Type": "application/octet-stream"}))
    front = server(lambda h: _send(h, 307, b"moved", {"Location": f"{storage.base}/store/x?sig=1"}))
    with Pool().request(front.base + "/v2/r/blobs/sha256:1", {"Accept": "a/b"}, auth="Bearer secret") as resp:
        assert resp.status == 200
        assert resp.read() == b"blob bytes"
        assert resp.url == f"{storage.base}/store/x?sig=1"
    assert front.requests[0][2]["authorization"] == "Bearer secret"
    method, path, headers = storage.requests[0]
    assert path == "/store/x?sig=1" and "authorization" not in headers and headers["accept"] == "a/b"


def test_redirect_loop_is_an_error(server) -> None:  # type: ignore[no-untyped-def]
    s = server(lambda h: _send(h, 302, b"", {"Location": "/again"}))
    with pytest.raises(FetchError, match="redirects"):
        Pool().request(s.base + "/start")


def test_short_body_is_an_error(server) -> None:  # type: ignore[no-untyped-def]
    def route(h):  # type: ignore[no-untyped-def]
        h.send_response(200)
        h.send_header("Content-Length", "100")
        h.end_headers()
        h.wfile.write(b"x" * 40)
        h.wfile.flush()
        h.close_connection = True
        h.connection.shutdown(socket.SHUT_RDWR)

    s = server(route)
    resp = Pool().request(s.base + "/short")
    with pytest.raises(FetchError, match="60 bytes of the body left"):
        resp.read()


def test_idle_connection_closed_by_the_server_is_retried(server) -> None:  # type: ignore[no-untyped-def]
    def route(h):  # type: ignore[no-untyped-def]
        _send(h, 200, b"ok")  # says nothing about closing, then closes
        h.wfile.flush()
        h.close_connection = True

    s = server(route)
    pool = Pool()
    for _ in range(3):
        with pool.request(s.base + "/x") as resp:
            assert resp.read() == b"ok"
    assert s.connections == 3 and len(s.requests) == 3


def test_body_until_close_and_no_body_for_head_and_304(server) -> None:  # type: ignore[no-untyped-def]
    def route(h):  # type: ignore[no-untyped-def]
        if h.path == "/hints":
            h.wfile.write(b"HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n")
            _send(h, 200, b"after hints")
        elif h.path == "/old":
            h.wfile.write(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it")
            h.close_connection = True
        elif h.path == "/304":
            h.send_response(304)
            h.send_header("ETag", '"e"')
            h.end_headers()
        else:
            _send(h, 200, b"body")

    s = server(route)
    pool = Pool()
    with pool.request(s.base + "/hints") as resp:
        assert resp.status == 200 and resp.read() == b"after hints"
    with pool.request(s.base + "/old") as resp:
        assert resp.read() == b"all of it"
    with pool.request(s.base + "/304") as resp:
        assert resp.status == 304 and resp.read() == b"" and resp.headers.get("etag") == '"e"'
    with pool.request(s.base + "/h", method="HEAD") as resp:
        assert resp.status == 200 and resp.headers.get("Content-Length") == "4" and resp.read() == b""
    with pool.request(s.base + "/b") as resp:
        assert resp.read() == b"body"
    assert s.connections == 2  # /hints and /old shared one, which /old closed; the rest shared another


def test_unreachable_and_bad_urls() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(FetchError, match="cannot reach"):
        Pool().request(f"http://127.0.0.1:{port}/")
    with pytest.raises(FetchError, match="only http and https"):
        Pool().request("ftp://x/")
    with pytest.raises(OSError):
        speaks_tls("127.0.0.1", port)


def test_url_helpers() -> None:
    assert split_url("http://[::1]:5000/v2/?a=b#f") == ("http", "::1", 5000, "/v2/?a=b")
    assert split_url("HTTPS://reg.example") == ("https", "reg.example", 443, "/")
    assert join_url("http://a:1/v2/x/blobs/y?q", "/s/z") == "http://a:1/s/z"
    assert join_url("https://a/v2/x/blobs/y", "z?k=1") == "https://a/v2/x/blobs/z?k=1"
    assert join_url("https://a/v2/", "//cdn/b") == "https://cdn/b"
    assert join_url("http://a/v2/", "https://s3/b") == "https://s3/b"


@pytest.fixture
def tls_files(tmp_path):  # type: ignore[no-untyped-def]
    key, cert = str(tmp_path / "k.pem"), str(tmp_path / "c.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    return key, cert


def test_https_and_the_tls_probe(server, tls_files, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    key, cert = tls_files
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    secure = server(lambda h: _send(h, 200, b"over tls"), tls=ctx)
    plain = server(lambda h: _send(h, 200, b"plain"))
    assert speaks_tls("127.0.0.1", secure.port) is True
    assert speaks_tls("127.0.0.1", plain.port) is False
    url = f"https://127.0.0.1:{secure.port}/x"
    with pytest.raises(FetchError, match="cannot reach.*CERTIFICATE_VERIFY_FAILED|cannot reach.*certificate"):
        Pool().request(url)  # self-signed: refused unless trusted or unverified
    with Pool(verify_tls=False).request(url) as resp:
        assert resp.read() == b"over tls"
    monkeypatch.setenv("SSL_CERT_FILE", cert)
    pool = Pool()
    for _ in range(2):
        with pool.request(url) as resp:
            assert resp.read() == b"over tls"
    # handshakes that completed (the probe's and the refused one did not): the unverified
    # pool's, and one for both requests of the verifying pool (kept alive)
    assert secure.connections == 2 and len(secure.requests) == 3
