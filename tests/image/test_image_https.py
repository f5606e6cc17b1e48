"""https:// ACIs and appc discovery against a loopback HTTPS server with its own CA."""

from __future__ import annotations

import hashlib
import os

import pytest

from imagebuild import Entry, aci_bytes, aci_manifest


@pytest.fixture
def served(https_server, gpg_key, tmp_path):  # type: ignore[no-untyped-def]
    """Publish a signed ACI for `<host>/web/app` at /aci/app-1.0-linux-amd64.aci."""
    srv = https_server
    name = f"{srv.host}/web/app"
    data = aci_bytes(aci_manifest(name, "1.0"), [Entry("payload", data=os.urandom(400_000))])
    path = str(tmp_path / "app.aci")
    with open(path, "wb") as f:
        f.write(data)
    sig = open(gpg_key.sign(path), "rb").read()
    url_path = "/aci/app-1.0-linux-amd64.aci"
    srv.files[url_path] = data
    srv.files[url_path + ".asc"] = sig
    srv.etags[url_path] = '"v1"'
    srv.files["/keys/pub.asc"] = open(gpg_key.pubkey, "rb").read()
    from pyrkt.image.oci import host_platform

    arch = host_platform().architecture
    srv.files[f"/aci/app-1.0-linux-{arch}.aci"] = data
    srv.files[f"/aci/app-1.0-linux-{arch}.aci.asc"] = sig
    srv.discovery["/web/app"] = (f'<html><head><meta name="ac-discovery" content="{srv.host}/web https://{srv.host}/aci/app-{{version}}-{{os}}-{{arch}}.{{ext}}">'
                                 f'<meta name="ac-discovery-pubkeys" content="{srv.host}/web https://{srv.host}/keys/pub.asc"></head></html>')
    srv.log.clear()
    yield srv, name, srv.base + url_path, "sha512-" + hashlib.sha512(data).hexdigest()[:64]
    for k in list(srv.files):
        srv.files.pop(k)
    srv.discovery.clear()
    srv.cache_control.clear()
    srv.etags.clear()


def test_https_tls_is_verified(rkt, served) -> None:  # type: ignore[no-untyped-def]
    srv, _, url, _ = served
    r = rkt("--insecure-options=image", "fetch", url)  # no CA given: the self-signed chain is refused
    assert r.rc == 254 and "certificate" in r.err.lower()
    r = rkt("--insecure-options=image,tls", "fetch", url)
    assert r.rc == 0, r.err


def test_https_etag_and_cache_control(rkt, served, gpg_key) -> None:  # type: ignore[no-untyped-def]
    srv, name, url, image_id = served
    path = url.split(srv.host, 1)[1].split(":443")[-1]
    assert rkt("trust", "--skip-fingerprint-review", f"--prefix={srv.host}/web", gpg_key.pubkey).rc == 0
    r = rkt("fetch", "--full", url, env=srv.env())
    assert r.rc == 0, r.err
    assert r.out.strip() == image_id
    assert len(srv.requests_for(path)) == 1
    # again: the server answers 304 to If-None-Match
    r = rkt("fetch", "--full", url, env=srv.env())
    assert r.rc == 0 and r.out.strip() == image_id
    reqs = srv.requests_for(path)
    assert len(reqs) == 2 and reqs[1].get("If-None-Match") == '"v1"'
    # with Cache-Control max-age, the next fetches do not ask at all for that long
    srv.cache_control[path] = "public, max-age=3600"
    srv.etags[path] = '"v2"'
    assert rkt("fetch", url, env=srv.env()).rc == 0  # 200 with max-age recorded
    n = len(srv.requests_for(path))
    assert rkt("fetch", url, env=srv.env()).rc == 0
    assert len(srv.requests_for(path)) == n
    assert "Cache-Control" in rkt("fetch", url, env=srv.env()).err


def test_https_resume(rkt, served) -> None:  # type: ignore[no-untyped-def]
    srv, _, url, image_id = served
    path = url.split(srv.host, 1)[1]
    size = len(srv.files[path])
    srv.truncate_once[path] = size // 3
    r = rkt("--insecure-options=image", "fetch", "--full", url, env=srv.env())
    assert r.rc == 254 and "interrupted" in r.err and "resume" in r.err
    assert rkt("image", "list", "--no-legend").out.strip() == ""
    r = rkt("--insecure-options=image", "fetch", "--full", url, env=srv.env())
    assert r.rc == 0, r.err
    assert r.out.strip() == image_id
    last = srv.requests_for(path)[-1]
    assert last.get("Range") == f"bytes={size // 3}-" and last.get("If-Range") == '"v1"'
    assert "resuming" in r.err
    assert os.listdir(os.path.join(rkt.dir, "cas/tmp")) == []


def test_discovery_and_trust_from_https(rkt, served) -> None:  # type: ignore[no-untyped-def]
    srv, name, _, image_id = served
    r = rkt("fetch", f"{name}:1.0", env=srv.env())
    assert r.rc == 254 and "no trusted key" in r.err
    r = rkt("--trust-keys-from-https", "fetch", "--full", f"{name}:1.0", env=srv.env())
    assert r.rc == 0, r.err
    assert r.out.strip() == image_id
    assert "searching for app image" in r.err
    assert any("ac-discovery=1" in p for p, _ in srv.log)
    # by name again with pull-policy=new: from the store, no network
    n = len(srv.log)
    assert rkt("fetch", "--pull-policy=new", "--full", f"{name}:1.0", env=srv.env()).out.strip() == image_id
    assert len(srv.log) == n
    r = rkt("fetch", f"{srv.host}/web/nothere:1.0", env=srv.env())
    assert r.rc == 254 and "discovery failed" in r.err


def test_trust_discovers_keys(rkt, served) -> None:  # type: ignore[no-untyped-def]
    srv, name, _, _ = served
    r = rkt("trust", "--skip-fingerprint-review", f"--prefix={name}", env=srv.env())
    assert r.rc == 0, r.err
    assert f'for prefix "{name}"' in r.err
    assert os.listdir(os.path.join(rkt.config, "trustedkeys/prefix.d", name))


def test_dependency_fetched_by_discovery(rkt, served, tmp_path) -> None:  # type: ignore[no-untyped-def]
    srv, name, _, base_id = served
    data = aci_bytes(aci_manifest("example.com/child", "1", ["/bin/x"], deps=[{"imageName": name, "labels": [{"name": "version", "value": "1.0"}]}]),
                     [Entry("child", data=b"c")])
    path = str(tmp_path / "child.aci")
    with open(path, "wb") as f:
        f.write(data)
    r = rkt("--insecure-options=image", "fetch", path, env=srv.env())
    assert r.rc == 0, r.err
    assert "fetching dependency" in r.err
    assert base_id[:19] in rkt("image", "list", "--no-legend").out
    # a dependency pinned to another ID is refused
    bad = aci_bytes(aci_manifest("example.com/child2", "1", ["/bin/x"], deps=[{"imageName": name, "imageID": "sha512-" + "0" * 64}]),
                    [Entry("child", data=b"c")])
    with open(path, "wb") as f:
        f.write(bad)
    r = rkt("--insecure-options=image", "fetch", path, env=srv.env())
    assert r.rc == 254 and "pins" in r.err
