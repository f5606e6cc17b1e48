"""ACI files: signatures with real gpg, trust, dependencies, export/extract/render."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile

import pytest

from imagefixtures import needs_root
from imagebuild import Entry, aci_bytes, aci_manifest, busybox_entries


def write(path: str, data: bytes) -> str:
    with open(path, "wb") as f:
        f.write(data)
    return path


@pytest.fixture
def hello(tmp_path, gpg_key):  # type: ignore[no-untyped-def]
    """A signed ACI example.com/hello:1.0 and its expected ID."""
    data = aci_bytes(aci_manifest("example.com/hello", "1.0", ["/bin/sh", "-c", "echo hello"]),
                     busybox_entries() + [Entry("hello.txt", data=b"hello\n")])
    path = write(str(tmp_path / "hello.aci"), data)
    gpg_key.sign(path)
    return path, "sha512-" + hashlib.sha512(data).hexdigest()[:64]


def trust(rkt, key, *flags: str):  # type: ignore[no-untyped-def]
    return rkt("trust", "--skip-fingerprint-review", *flags, key.pubkey)


def test_signed_aci_fetch(rkt, hello, gpg_key) -> None:  # type: ignore[no-untyped-def]
    path, image_id = hello
    r = rkt("fetch", path)
    assert r.rc == 254 and "no trusted key" in r.err and "rkt trust" in r.err
    r = trust(rkt, gpg_key, "--prefix=example.com/hello")
    assert r.rc == 0, r.err
    stored = os.path.join(rkt.config, "trustedkeys/prefix.d/example.com/hello", gpg_key.fingerprint)
    assert os.path.isfile(stored)
    assert f'Added key for prefix "example.com/hello" at "{stored}"' in r.err
    r = rkt("fetch", "--full", path)
    assert r.rc == 0, r.err
    assert r.out.strip() == image_id
    assert "signature verified" in r.err
    assert rkt("fetch", path).out.strip() == image_id[:7 + 32]
    listing = rkt("image", "list", "--no-legend").out
    assert "example.com/hello:1.0" in listing and image_id[:19] in listing


def test_tampered_aci_refused(rkt, hello, gpg_key) -> None:  # type: ignore[no-untyped-def]
    path, _ = hello
    assert trust(rkt, gpg_key, "--prefix=example.com").rc == 0
    with open(path, "r+b") as f:
        f.seek(-2000, 2)
        b = f.read(1)
        f.seek(-2000, 2)
        f.write(bytes([b[0] ^ 0xFF]))
    r = rkt("fetch", path)
    assert r.rc == 254
    assert "bad signature" in r.err and "modified" in r.err
    assert rkt("image", "list", "--no-legend").out.strip() == ""
    assert not os.listdir(os.path.join(rkt.dir, "cas/blobs")) or not os.listdir(os.path.join(rkt.dir, "cas/blobs/sha512"))


def test_wrong_key_and_wrong_prefix(rkt, hello, gpg_key, other_gpg_key) -> None:  # type: ignore[no-untyped-def]
    path, _ = hello
    assert trust(rkt, other_gpg_key, "--prefix=example.com/hello").rc == 0
    r = rkt("fetch", path)
    assert r.rc == 254 and "not trusted" in r.err
    assert trust(rkt, gpg_key, "--prefix=example.com/other").rc == 0
    assert rkt("fetch", path).rc == 254  # a key for another prefix does not count
    assert trust(rkt, gpg_key, "--root").rc == 0  # a root key does
    assert os.path.isfile(os.path.join(rkt.config, "trustedkeys/root.d", gpg_key.fingerprint))
    assert rkt("fetch", path).rc == 0


def test_unsigned_needs_insecure(rkt, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = write(str(tmp_path / "u.aci"), aci_bytes(aci_manifest("example.com/u"), [Entry("f", data=b"x")]))
    r = rkt("fetch", path)
    assert r.rc == 254 and "--insecure-options=image" in r.err
    r = rkt("--insecure-options=image", "fetch", path)
    assert r.rc == 0 and "signature verification has been disabled" in r.err


def test_explicit_signature_flag_and_garbage_signature(rkt, tmp_path, gpg_key) -> None:  # type: ignore[no-untyped-def]
    path = write(str(tmp_path / "s.aci"), aci_bytes(aci_manifest("example.com/s"), [Entry("f", data=b"x")]))
    sig = gpg_key.sign(path, str(tmp_path / "elsewhere.sig"))
    assert trust(rkt, gpg_key, "--prefix=example.com/s").rc == 0
    assert rkt("fetch", path).rc == 254
    assert rkt("fetch", "--signature", sig, path).rc == 0
    bad = write(str(tmp_path / "bad.sig"), b"not a signature")
    r = rkt("fetch", "--signature", bad, path)
    assert r.rc == 254 and "signature" in r.err


def test_trust_review_prompt(rkt, gpg_key) -> None:  # type: ignore[no-untyped-def]
    r = rkt("trust", "--prefix=example.com/x", gpg_key.pubkey, input="no\n")
    assert r.rc == 254
    fpr = gpg_key.fingerprint.upper()
    assert f"GPG key fingerprint is: {fpr[:4]} " in r.err and "Test Signer <signer@example.com>" in r.err
    assert not os.path.exists(os.path.join(rkt.config, "trustedkeys"))
    r = rkt("trust", "--prefix=example.com/x", gpg_key.pubkey, input="yes\n")
    assert r.rc == 0
    assert rkt("trust", gpg_key.pubkey).rc == 254  # needs --prefix or --root
    assert rkt("trust", "--prefix=../../etc", "--skip-fingerprint-review", gpg_key.pubkey).rc == 254
    r = rkt("trust", "--prefix=example.com/x", "--skip-fingerprint-review", "/etc/hostname")
    assert r.rc == 254 and "not an OpenPGP public key" in r.err


def test_compressed_aci_id_is_of_uncompressed_tar(rkt, tmp_path) -> None:  # type: ignore[no-untyped-def]
    raw = aci_bytes(aci_manifest("example.com/gz"), [Entry("f", data=b"x")])
    path = write(str(tmp_path / "gz.aci"), gzip.compress(raw))
    r = rkt("--insecure-options=image", "fetch", "--full", path)
    assert r.rc == 0, r.err
    assert r.out.strip() == "sha512-" + hashlib.sha512(raw).hexdigest()[:64]


def test_not_an_aci(rkt, tmp_path) -> None:  # type: ignore[no-untyped-def]
    p = write(str(tmp_path / "junk.aci"), b"this is not a tar at all" * 100)
    r = rkt("--insecure-options=image", "fetch", p)
    assert r.rc == 254 and "not an ACI" in r.err and "Traceback" not in r.err
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        info = tarfile.TarInfo("manifest")
        body = b'{"acKind": "ImageManifest", "acVersion": "0.8.11", "name": "BAD"}'
        info.size = len(body)
        t.addfile(info, io.BytesIO(body))
        d = tarfile.TarInfo("rootfs")
        d.type = tarfile.DIRTYPE
        t.addfile(d)
    p = write(str(tmp_path / "bad.aci"), buf.getvalue())
    r = rkt("--insecure-options=image", "fetch", p)
    assert r.rc == 254 and "not a valid AC identifier" in r.err
    assert rkt("--insecure-options=image", "fetch", str(tmp_path / "missing.aci")).rc == 254
    assert rkt("image", "list", "--no-legend").out.strip() == ""


@needs_root
def test_dependencies_render_extract_export(rkt, tmp_path) -> None:  # type: ignore[no-untyped-def]
    base = write(str(tmp_path / "base.aci"), aci_bytes(aci_manifest("example.com/base", "1"), busybox_entries()))
    app_data = aci_bytes(aci_manifest("example.com/app", "2", ["/bin/app"],
                                      deps=[{"imageName": "example.com/base", "labels": [{"name": "version", "value": "1"}]}]),
                         [Entry("bin", "dir", mode=0o755), Entry("bin/app", data=b"#!/bin/sh\necho app\n", mode=0o755)])
    app = write(str(tmp_path / "app.aci"), app_data)
    assert rkt("--insecure-options=image", "fetch", base).rc == 0
    r = rkt("--insecure-options=image", "fetch", "--full", app)
    assert r.rc == 0, r.err
    app_id = r.out.strip()
    from pyrkt.image import open_store, runnable_image

    img = runnable_image(open_store(rkt.dir), "example.com/app:2")
    assert img.image_id == app_id and img.app and img.app.exec == ("/bin/app",)
    assert len(img.lowerdirs) == 2
    assert os.path.exists(os.path.join(img.lowerdirs[0], "bin/busybox")) and os.path.exists(os.path.join(img.lowerdirs[1], "bin/app"))
    out = str(tmp_path / "render")
    assert rkt("image", "render", app_id, out).rc == 0
    assert os.path.exists(os.path.join(out, "rootfs/bin/busybox")) and os.path.exists(os.path.join(out, "rootfs/bin/app"))
    assert json.load(open(os.path.join(out, "manifest")))["name"] == "example.com/app"
    r = rkt("image", "render", app_id, out)
    assert r.rc == 254 and "--overwrite" in r.err
    ext = str(tmp_path / "extract")
    assert rkt("image", "extract", "--rootfs-only", "example.com/app", ext).rc == 0
    assert os.path.exists(os.path.join(ext, "bin/app")) and not os.path.exists(os.path.join(ext, "bin/busybox"))
    exported = str(tmp_path / "out.aci")
    assert rkt("image", "export", "example.com/app:2", exported).rc == 0
    assert open(exported, "rb").read() == app_data
    assert rkt("image", "export", "example.com/app:2", exported).rc == 254
    assert rkt("image", "export", "--overwrite", "example.com/app:2", exported).rc == 0


@needs_root
def test_path_whitelist(rkt, tmp_path) -> None:  # type: ignore[no-untyped-def]
    m = aci_manifest("example.com/wl", pathWhitelist=["/keep", "/dir/keep2"])
    p = write(str(tmp_path / "wl.aci"), aci_bytes(m, [Entry("keep", data=b"1"), Entry("drop", data=b"2"), Entry("dir", "dir", mode=0o755),
                                                       Entry("dir/keep2", data=b"3"), Entry("dir/drop2", data=b"4")]))
    assert rkt("--insecure-options=image", "fetch", p).rc == 0
    from pyrkt.image import open_store, runnable_image

    img = runnable_image(open_store(rkt.dir), "example.com/wl")
    (root,) = img.lowerdirs
    found = sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs)
    assert found == ["dir/keep2", "keep"]
