"""`rkt fetch docker://…` from a registry that redirects blobs to separate storage.

Real registries (Docker Hub, GHCR, ECR) answer a blob GET with a redirect to a
CDN or object store. Here a small registry front on loopback serves the v2 API
for an OCI layout behind Basic auth and redirects every blob to a second
server, which sends it chunked. Checked: the image is fetched and verifies, the
storage host never sees the Authorization header, the front sees it on every
request, and the client kept its connections alive (fewer connections than
requests). A storage server that sends a blob short is refused.
"""

from __future__ import annotations

import base64
import json
import os

import pytest
from httpserve import Server, send
from imagebuild import Entry, busybox_entries, tar_bytes, write_oci_layout

INSECURE = "--insecure-options=image,http"
USER, PASSWORD = "bob", "hunter2"


@pytest.fixture
def redirecting(tmp_path):  # type: ignore[no-untyped-def]
    layout = str(tmp_path / "layout")
    layers = [tar_bytes(busybox_entries()), tar_bytes([Entry("big", data=os.urandom(700_000))])]
    manifest_digest = write_oci_layout(layout, layers, tag="v1")
    blobs = os.path.join(layout, "blobs", "sha256")
    state = {"short": False}

    def storage_handle(h):  # type: ignore[no-untyped-def]
        hx = h.path.rsplit("/", 1)[-1].split("?")[0]
        with open(os.path.join(blobs, hx), "rb") as f:
            data = f.read()
        if state["short"] and len(data) > 100_000:
            data = data[: len(data) // 2]
        h.send_response(200)
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        for i in range(0, len(data), 65_536):
            part = data[i:i + 65_536]
            h.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
        h.wfile.write(b"0\r\n\r\n")

    storage = Server(storage_handle)
    want = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()

    def front_handle(h):  # type: ignore[no-untyped-def]
        if h.headers.get("Authorization") != want:
            send(h, 401, b'{"errors":[{"code":"UNAUTHORIZED","message":"login"}]}',
                   {"WWW-Authenticate": 'Basic realm="front"', "Content-Type": "application/json"})
            return
        parts = h.path.split("?")[0].split("/")
        if h.path == "/v2/":
            send(h, 200, b"{}", {"Content-Type": "application/json"})
        elif len(parts) >= 5 and parts[-2] == "manifests":
            with open(os.path.join(blobs, manifest_digest.split(":")[1]), "rb") as f:
                body = f.read()
            send(h, 200, body, {"Content-Type": json.loads(body)["mediaType"], "Docker-Content-Digest": manifest_digest})
        elif len(parts) >= 5 and parts[-2] == "blobs":
            hx = parts[-1].split(":")[1]
            send(h, 307, b"", {"Location": f"http://{storage.host}/storage/{hx}?X-Signature=abc"})
        else:
            send(h, 404, b"{}", {"Content-Type": "application/json"})

    front = Server(front_handle)
    yield front, storage, manifest_digest, state
    front.close()
    storage.close()


def _auth(rkt, host: str) -> None:  # type: ignore[no-untyped-def]
    os.makedirs(os.path.join(rkt.config, "auth.d"), exist_ok=True)
    with open(os.path.join(rkt.config, "auth.d", "front.json"), "w") as f:
        json.dump({"rktKind": "dockerAuth", "rktVersion": "v1", "registries": [host],
                   "credentials": {"user": USER, "password": PASSWORD}}, f)


def test_fetch_follows_blob_redirects_without_the_credentials(rkt, redirecting) -> None:  # type: ignore[no-untyped-def]
    front, storage, manifest_digest, _ = redirecting
    _auth(rkt, front.host)
    r = rkt(INSECURE, "fetch", "--full", f"docker://{front.host}/team/app:v1")
    assert r.rc == 0, r.err
    assert r.out.strip() == "sha256-" + manifest_digest.split(":")[1]
    assert rkt("image", "verify").rc == 0
    assert len(storage.requests) == 3  # the config and two layers, each once
    assert all("authorization" not in headers for _, _, headers in storage.requests)
    assert all(path.startswith("/storage/") and path.endswith("?X-Signature=abc") for _, path, _ in storage.requests)
    blob_gets = [p for _, p, _ in front.requests if "/blobs/" in p]
    assert len(blob_gets) == 3
    # kept alive: several requests per connection on the front (manifest, 401s, blob redirects)
    assert front.connections < len(front.requests)
    r = rkt("image", "list", "--no-legend")
    assert "team/app" in r.out and "v1" in r.out


def test_short_blob_from_storage_is_refused(rkt, redirecting) -> None:  # type: ignore[no-untyped-def]
    front, _, _, state = redirecting
    _auth(rkt, front.host)
    state["short"] = True
    r = rkt(INSECURE, "fetch", f"docker://{front.host}/team/app:v1")
    assert r.rc == 254 and "Traceback" not in r.err
    assert "expected" in r.err and "bytes" in r.err, r.err
    assert rkt("image", "list", "--no-legend").out.strip() == ""
    assert os.listdir(os.path.join(rkt.dir, "cas", "tmp")) == []
