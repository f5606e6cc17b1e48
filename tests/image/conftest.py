"""Fixtures for the image tests: real registries, gpg, an HTTPS server, all on loopback.

Every server binds 127.0.0.1 (or another 127/8 address) on a free port and is
stopped at the end; every directory is a pytest tmp dir. Servers that cost
seconds to start are session-scoped. The helpers live in imagefixtures.py.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from typing import Iterator

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from imagebuild import Entry, busybox_entries, tar_bytes, write_oci_layout  # noqa: E402
from imagefixtures import (GpgKey, HttpsServer, Registry, TokenServer, have, make_gpg_key, run_rkt, start_registry,  # noqa: E402
                           stop)


@pytest.fixture
def rkt(tmp_path):  # type: ignore[no-untyped-def]
    """Run rkt against a fresh store and config dir: rkt(*args) -> Result."""
    data = str(tmp_path / "store")
    config = str(tmp_path / "etc-rkt")
    os.makedirs(config, exist_ok=True)

    def call(*args: str, **kw) -> Result:  # type: ignore[no-untyped-def]
        return run_rkt(data, *args, config=config, **kw)

    call.dir = data  # type: ignore[attr-defined]
    call.config = config  # type: ignore[attr-defined]
    return call


@pytest.fixture(scope="session")
def registry(tmp_path_factory) -> Iterator[Registry]:  # type: ignore[no-untyped-def]
    reg = start_registry(str(tmp_path_factory.mktemp("registry")))
    yield reg
    stop(reg.proc)


@pytest.fixture(scope="session")
def basic_registry(tmp_path_factory) -> Iterator[Registry]:  # type: ignore[no-untyped-def]
    from toolcheck import need_tools

    need_tools("htpasswd")
    root = str(tmp_path_factory.mktemp("basicreg"))
    pw = os.path.join(root, "htpasswd")
    out = subprocess.run(["htpasswd", "-Bbn", "alice", "s3cret"], check=True, capture_output=True, text=True).stdout
    with open(pw, "w") as f:
        f.write(out)
    reg = start_registry(os.path.join(root, "data"), {"htpasswd": {"realm": "test", "path": pw}}, ("alice", "s3cret"))
    yield reg
    stop(reg.proc)


@pytest.fixture(scope="session")
def token_registry(tmp_path_factory) -> Iterator[tuple[Registry, TokenServer]]:  # type: ignore[no-untyped-def]
    root = str(tmp_path_factory.mktemp("tokenreg"))
    ts = TokenServer(root)
    reg = start_registry(os.path.join(root, "data"), {"token": {"realm": f"http://127.0.0.1:{ts.port}/token", "service": "test-registry",
                                                                 "issuer": "test-issuer", "rootcertbundle": ts.cert}}, ("bob", "hunter2"))
    yield reg, ts
    stop(reg.proc)
    ts.close()


@pytest.fixture(scope="session")
def busybox_layout(tmp_path_factory) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """A two-layer busybox OCI layout: (path, manifest digest)."""
    layout = str(tmp_path_factory.mktemp("bb") / "layout")
    l1 = tar_bytes(busybox_entries())
    l2 = tar_bytes([Entry("etc", "dir", mode=0o755), Entry("etc/.wh.passwd"), Entry("bin", "dir", mode=0o755),
                    Entry("bin/su", data=b"#!/bin/sh\n", mode=0o4755, uid=0, gid=0),
                    Entry("srv", "dir", mode=0o750, uid=1000, gid=1000), Entry("srv/a", data=b"hello", uid=1000, gid=1000),
                    Entry("srv/b", "hardlink", linkname="srv/a"), Entry("lib", "symlink", linkname="/bin")])
    digest = write_oci_layout(layout, [l1, l2], {"Entrypoint": ["/bin/sh", "-c"], "Cmd": ["echo hi"], "Env": ["PATH=/bin", "GREETING=hi"],
                                                 "User": "1000:1000", "WorkingDir": "/srv", "ExposedPorts": {"80/tcp": {}, "53/udp": {}},
                                                 "Volumes": {"/data": {}}})
    return layout, digest


@pytest.fixture(scope="session")
def gpg_key(tmp_path_factory) -> Iterator[GpgKey]:  # type: ignore[no-untyped-def]
    home = str(tmp_path_factory.mktemp("gnupg"))
    key = make_gpg_key(home, "Test Signer <signer@example.com>")
    yield key
    subprocess.run(["gpgconf", "--kill", "all"], env={**os.environ, "GNUPGHOME": home}, capture_output=True)


@pytest.fixture(scope="session")
def other_gpg_key(tmp_path_factory) -> Iterator[GpgKey]:  # type: ignore[no-untyped-def]
    home = str(tmp_path_factory.mktemp("gnupg2"))
    key = make_gpg_key(home, "Mallory <mallory@example.com>")
    yield key
    subprocess.run(["gpgconf", "--kill", "all"], env={**os.environ, "GNUPGHOME": home}, capture_output=True)


@pytest.fixture(scope="session")
def https_server(tmp_path_factory) -> Iterator[HttpsServer]:  # type: ignore[no-untyped-def]
    """On 127.0.0.N:443, so appc names like `127.0.0.N/app` discover on it."""
    root = str(tmp_path_factory.mktemp("https"))
    last_error: Exception | None = None
    for _ in range(10):
        host = f"127.0.0.{random.randint(20, 250)}"
        try:
            srv = HttpsServer(root, host, 443)
            break
        except OSError as exc:
            last_error = exc
    else:
        pytest.skip(f"cannot bind a loopback :443 ({last_error})")
    yield srv
    srv.close()


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch):  # type: ignore[no-untyped-def]
    """In-process code may connect to loopback only: a test that reaches further fails."""
    import ipaddress
    import socket

    real_connect = socket.socket.connect

    def connect(self, address):  # type: ignore[no-untyped-def]
        if self.family in (socket.AF_INET, socket.AF_INET6):
            host = address[0]
            try:
                ok = ipaddress.ip_address(host).is_loopback
            except ValueError:
                ok = host == "localhost"
            if not ok:
                raise AssertionError(f"test tried to connect to {address!r}: only loopback is allowed")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
