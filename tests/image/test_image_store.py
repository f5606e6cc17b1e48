"""The store's promises: atomic blobs, nothing trusted after a crash, many processes at once."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import time

import pytest

from imagefixtures import RKT, SRC, run_rkt
from imagebuild import Entry, aci_bytes, aci_manifest
from pyrkt.image.digest import Digest
from pyrkt.image.errors import DigestMismatch, ImageError
from pyrkt.image.store import ImageRecord, Store


def test_blob_writer_verifies_and_cleans(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = Store(str(tmp_path))
    good = store.put_blob(b"hello")
    assert good == Digest("sha256", hashlib.sha256(b"hello").hexdigest())
    assert open(store.blob_path(good), "rb").read() == b"hello"
    with pytest.raises(DigestMismatch):
        store.put_blob(b"evil", expected=Digest("sha256", "0" * 64))
    assert not os.path.exists(store.blob_path(Digest("sha256", "0" * 64)))
    assert os.listdir(store.tmp_dir) == []


def test_index_refuses_images_with_missing_blobs(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = Store(str(tmp_path))
    rec = ImageRecord(id="sha256-" + "1" * 64, kind="oci", name="x", labels={}, manifest=b"{}", blob="sha256:" + "1" * 64)
    with pytest.raises(ImageError, match="missing"):
        store.add_image(rec)
    assert store.images() == []


def test_wal_mode(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = Store(str(tmp_path))
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_killed_fetch_leaves_nothing_trusted(tmp_path, https_server) -> None:  # type: ignore[no-untyped-def]
    srv = https_server
    data = aci_bytes(aci_manifest("example.com/big"), [Entry("payload", data=os.urandom(2_000_000))])
    srv.files["/big.aci"] = data
    srv.etags["/big.aci"] = '"big"'
    srv.stall_once["/big.aci"] = 700_000
    store_dir = str(tmp_path / "store")
    env = {**os.environ, "PYTHONPATH": SRC, **srv.env()}
    p = subprocess.Popen(RKT + ["--dir", store_dir, "--insecure-options=image", "fetch", srv.base + "/big.aci"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        part = None
        deadline = time.time() + 20
        while time.time() < deadline:
            tmp = os.path.join(store_dir, "cas/tmp")
            parts = [f for f in os.listdir(tmp) if f.startswith("dl-") and not f.endswith(".etag")] if os.path.isdir(tmp) else []
            if parts and os.path.getsize(os.path.join(tmp, parts[0])) >= 700_000:
                part = parts[0]
                break
            time.sleep(0.05)
        assert part, "the download never started"
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()
    assert run_rkt(store_dir, "image", "list", "--no-legend").out.strip() == ""
    assert run_rkt(store_dir, "image", "verify").rc == 0
    # the next fetch resumes the partial download and completes
    r = run_rkt(store_dir, "--insecure-options=image", "fetch", "--full", srv.base + "/big.aci", env=srv.env())
    assert r.rc == 0, r.err
    assert r.out.strip() == "sha512-" + hashlib.sha512(data).hexdigest()[:64]
    assert "resuming" in r.err
    assert run_rkt(store_dir, "image", "gc").rc == 0
    assert os.listdir(os.path.join(store_dir, "cas/tmp")) == []
    srv.files.pop("/big.aci")


def test_concurrent_aci_imports(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store_dir = str(tmp_path / "store")
    paths = []
    for i in range(4):
        p = str(tmp_path / f"i{i}.aci")
        with open(p, "wb") as f:
            f.write(aci_bytes(aci_manifest(f"example.com/c{i % 2}", str(i)), [Entry("f", data=os.urandom(50_000))]))
        paths.append(p)
    env = {**os.environ, "PYTHONPATH": SRC}
    procs = [subprocess.Popen(RKT + ["--dir", store_dir, "--insecure-options=image", "fetch", p], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
             for p in paths * 2]
    for p in procs:
        assert p.wait(60) == 0, p.stderr.read() if p.stderr else ""
    assert len(run_rkt(store_dir, "image", "list", "--no-legend").out.splitlines()) == 4
