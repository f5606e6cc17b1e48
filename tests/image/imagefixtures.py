"""Helpers for the image tests: run rkt, loopback registries, a token server, gpg keys, an HTTPS server.

Kept out of conftest.py so test modules import them by a name no other test
directory uses (several conftest.py files live under tests/).
"""

from __future__ import annotations

import base64
import http.server
import json
import os
import random
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass, field

import pytest

SRC = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "src"))
# rkt as the tests run it: with a guard that makes any connection off loopback fail loudly
_GUARD = """
import _socket, ipaddress, socket, sys
_connect = socket.socket.connect
def _check(family, address):
    if family in (socket.AF_INET, socket.AF_INET6):
        try:
            ok = ipaddress.ip_address(address[0]).is_loopback
        except ValueError:
            ok = address[0] == 'localhost'
        if not ok:
            sys.stderr.write('TEST GUARD: connection to %r refused: loopback only\\n' % (address,))
            raise OSError('test guard: only loopback connections are allowed')
def _guarded(self, address):
    _check(self.family, address)
    return _connect(self, address)
socket.socket.connect = _guarded
# pyrkt.image.http1 makes its plain-http sockets with _socket.socket: guard those too
class _GuardedRaw(_socket.socket):
    def connect(self, address):
        _check(self.family, address)
        return super().connect(address)
_socket.socket = _GuardedRaw
from pyrkt.cli.rkt import main
sys.exit(main())
"""
RKT = [sys.executable, "-c", _GUARD]

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


def have(tool: str) -> bool:
    return shutil.which(tool) is not None


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_port(host: str, port: int, timeout: float = 10.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {host}:{port}")


@dataclass
class Result:
    rc: int
    out: str
    err: str


def run_rkt(data_dir: str, *args: str, env: dict[str, str] | None = None, input: str | None = None, config: str | None = None,
            timeout: float = 120) -> Result:
    e = dict(os.environ)
    e["PYTHONPATH"] = SRC + os.pathsep + e.get("PYTHONPATH", "")
    e.update(env or {})
    cfg = ["--local-config", config, "--system-config", config + "-sys"] if config else []
    p = subprocess.run(RKT + ["--dir", data_dir, *cfg, *args], capture_output=True, text=True, env=e, input=input, timeout=timeout)
    return Result(p.returncode, p.stdout, p.stderr)


# -- registries ---------------------------------------------------------------

@dataclass
class Registry:
    host: str
    proc: subprocess.Popen  # type: ignore[type-arg]
    root: str
    creds: tuple[str, str] | None = None
    requests: list[str] = field(default_factory=list)

    def push_layout(self, layout: str, tag: str, repo: str, dest_tag: str | None = None) -> None:
        cmd = ["skopeo", "--insecure-policy", "copy", "-q", "--dest-tls-verify=false"]
        if self.creds:
            cmd += ["--dest-creds", f"{self.creds[0]}:{self.creds[1]}"]
        subprocess.run(cmd + [f"oci:{layout}:{tag}", f"docker://{self.host}/{repo}:{dest_tag or tag}"], check=True, capture_output=True, timeout=120)

    def blob_path(self, digest: str) -> str:
        hx = digest.split(":", 1)[1]
        return os.path.join(self.root, "docker/registry/v2/blobs/sha256", hx[:2], hx, "data")

    def log(self) -> str:
        with open(os.path.join(self.root, "log")) as f:
            return f.read()


def start_registry(root: str, auth: dict[str, object] | None = None, creds: tuple[str, str] | None = None) -> Registry:
    from toolcheck import need_tools

    need_tools("docker-registry")
    os.makedirs(root, exist_ok=True)
    port = free_port()
    cfg: dict[str, object] = {"version": 0.1, "log": {"level": "info", "accesslog": {"disabled": False}},
                              "storage": {"filesystem": {"rootdirectory": root}, "delete": {"enabled": True}},
                              "http": {"addr": f"127.0.0.1:{port}"}}
    if auth:
        cfg["auth"] = auth
    path = os.path.join(root, "config.yml")
    with open(path, "w") as f:
        json.dump(cfg, f)  # YAML is a superset of JSON
    log = open(os.path.join(root, "log"), "w")
    proc = subprocess.Popen(["docker-registry", "serve", path], stdout=log, stderr=log)
    wait_port("127.0.0.1", port)
    return Registry(f"127.0.0.1:{port}", proc, root, creds)


def stop(proc: subprocess.Popen) -> None:  # type: ignore[type-arg]
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class TokenServer:
    """A bearer token server for docker-registry's `token` auth, signing RS256 JWTs with openssl."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.key = os.path.join(root, "token.key")
        self.cert = os.path.join(root, "token.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", self.key, "-out", self.cert,
                        "-subj", "/CN=token-issuer", "-days", "2"], check=True, capture_output=True)
        der = subprocess.run(["openssl", "x509", "-in", self.cert, "-outform", "DER"], check=True, capture_output=True).stdout
        self.x5c = base64.b64encode(der).decode()
        self.requests: list[dict[str, str]] = []
        self.port = free_port()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a: object) -> None:
                pass

            def do_GET(self) -> None:
                q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
                auth = self.headers.get("Authorization", "")
                user = ""
                if auth.startswith("Basic "):
                    u, _, p = base64.b64decode(auth[6:]).decode().partition(":")
                    if (u, p) != ("bob", "hunter2"):
                        self.send_response(401)
                        self.end_headers()
                        return
                    user = u
                server.requests.append({**q, "user": user})
                access = []
                scope = q.get("scope", "")
                if scope.startswith("repository:"):
                    _, name, actions = scope.split(":", 2)
                    allowed = [a for a in actions.split(",") if a == "pull" or user]
                    access.append({"type": "repository", "name": name, "actions": allowed})
                token = server.sign({"iss": "test-issuer", "sub": user, "aud": q.get("service", ""), "exp": int(time.time()) + 600,
                                     "nbf": int(time.time()) - 60, "iat": int(time.time()), "jti": str(random.random()), "access": access})
                body = json.dumps({"token": token}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @staticmethod
    def _b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    def sign(self, claims: dict[str, object]) -> str:
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self.x5c]}
        signing_input = self._b64(json.dumps(header).encode()) + "." + self._b64(json.dumps(claims).encode())
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", self.key], input=signing_input.encode(), check=True, capture_output=True).stdout
        return signing_input + "." + self._b64(sig)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# -- images -------------------------------------------------------------------

# -- gpg ----------------------------------------------------------------------

@dataclass
class GpgKey:
    home: str
    fingerprint: str
    pubkey: str  # armored public key file

    def sign(self, path: str, out: str | None = None) -> str:
        out = out or path + ".asc"
        subprocess.run(["gpg", "--batch", "--yes", "--pinentry-mode", "loopback", "--passphrase", "", "--armor", "--detach-sign",
                        "--output", out, path], check=True, capture_output=True, env={**os.environ, "GNUPGHOME": self.home})
        return out


def make_gpg_key(home: str, uid: str) -> GpgKey:
    os.makedirs(home, mode=0o700, exist_ok=True)
    env = {**os.environ, "GNUPGHOME": home}
    subprocess.run(["gpg", "--batch", "--pinentry-mode", "loopback", "--passphrase", "", "--quick-gen-key", uid, "ed25519", "sign", "never"],
                   check=True, capture_output=True, env=env)
    out = subprocess.run(["gpg", "--batch", "--with-colons", "--list-keys"], check=True, capture_output=True, text=True, env=env).stdout
    fpr = [line.split(":")[9] for line in out.splitlines() if line.startswith("fpr:")][0].lower()
    pub = os.path.join(home, "pub.asc")
    with open(pub, "w") as f:
        f.write(subprocess.run(["gpg", "--batch", "--armor", "--export", fpr], check=True, capture_output=True, text=True, env=env).stdout)
    return GpgKey(home, fpr, pub)


# -- HTTPS --------------------------------------------------------------------

class HttpsServer:
    """A loopback HTTPS server with its own CA: files with ETag/Cache-Control/Range, discovery pages."""

    def __init__(self, root: str, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.ca = os.path.join(root, "ca.pem")
        key, csr, cert, ext = (os.path.join(root, n) for n in ("srv.key", "srv.csr", "srv.pem", "ext.cnf"))
        cakey = os.path.join(root, "ca.key")
        q = {"check": True, "capture_output": True}
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", cakey, "-out", self.ca, "-subj", "/CN=pyrkt test CA",
                        "-days", "2", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"], **q)
        subprocess.run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", f"/CN={host}"], **q)
        with open(ext, "w") as f:
            f.write(f"subjectAltName=IP:{host},DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
        subprocess.run(["openssl", "x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey", cakey, "-CAcreateserial", "-out", cert, "-days", "2",
                        "-extfile", ext], **q)
        self.files: dict[str, bytes] = {}
        self.etags: dict[str, str] = {}
        self.cache_control: dict[str, str] = {}
        self.discovery: dict[str, str] = {}
        self.truncate_once: dict[str, int] = {}
        self.stall_once: dict[str, int] = {}
        self.closing = threading.Event()
        self.log: list[tuple[str, dict[str, str]]] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a: object) -> None:
                pass

            def do_GET(self) -> None:
                parts = urllib.parse.urlsplit(self.path)
                server.log.append((self.path, dict(self.headers)))
                if "ac-discovery=1" in parts.query and parts.path in server.discovery:
                    return self._send(200, server.discovery[parts.path].encode(), {"Content-Type": "text/html"})
                data = server.files.get(parts.path)
                if data is None:
                    return self._send(404, b"not found", {})
                etag = server.etags.get(parts.path)
                headers = {"Content-Type": "application/octet-stream"}
                if etag:
                    headers["ETag"] = etag
                if parts.path in server.cache_control:
                    headers["Cache-Control"] = server.cache_control[parts.path]
                if etag and self.headers.get("If-None-Match") == etag:
                    return self._send(304, b"", headers)
                rng = self.headers.get("Range")
                if rng and rng.startswith("bytes=") and (not self.headers.get("If-Range") or self.headers.get("If-Range") == etag):
                    start = int(rng[6:].split("-")[0])
                    headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
                    return self._send(206, data[start:], headers)
                stall = server.stall_once.pop(parts.path, None)
                cut = server.truncate_once.pop(parts.path, None)
                if stall is not None:
                    self.send_response(200)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data[:stall])
                    self.wfile.flush()
                    server.closing.wait(30)
                    self.close_connection = True
                    return
                if cut is not None:
                    self.send_response(200)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data[:cut])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                return self._send(200, data, headers)

            def _send(self, code: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(code)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if body:
                    self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer((host, port), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base(self) -> str:
        return f"https://{self.host}" + (f":{self.port}" if self.port != 443 else "")

    def env(self) -> dict[str, str]:
        return {"SSL_CERT_FILE": self.ca}

    def requests_for(self, path: str) -> list[dict[str, str]]:
        return [h for p, h in self.log if urllib.parse.urlsplit(p).path == path]

    def close(self) -> None:
        self.closing.set()
        self.httpd.shutdown()
        self.httpd.server_close()


