"""`rkt image …` subcommands and error handling, on images from OCI layouts and archives."""

from __future__ import annotations

import json
import os
import subprocess
import tarfile
import time

import pytest

from imagefixtures import needs_root
from toolcheck import need_tools
from imagebuild import Entry, busybox_entries, tar_bytes, write_oci_layout, zstd_bytes

INSECURE = "--insecure-options=image"


@pytest.fixture
def two_images(rkt, busybox_layout, tmp_path):  # type: ignore[no-untyped-def]
    layout, digest = busybox_layout
    r1 = rkt(INSECURE, "fetch", "--full", f"oci:{layout}:latest")
    assert r1.rc == 0, r1.err
    other = str(tmp_path / "other")
    write_oci_layout(other, [tar_bytes([Entry("only", data=b"1")])], tag="v2")
    time.sleep(0.01)
    r2 = rkt(INSECURE, "fetch", "--full", f"oci:{other}:v2")
    assert r2.rc == 0, r2.err
    return r1.out.strip(), r2.out.strip()


def test_list_fields_sort_order_formats(rkt, two_images) -> None:  # type: ignore[no-untyped-def]
    a, b = two_images
    r = rkt("image", "list", "--fields=id,name,size", "--no-legend", "--full")
    rows = [line.split() for line in r.out.splitlines()]
    assert [row[0] for row in rows] == [a, b]
    assert rows[0][1] == "layout:latest" and rows[1][1] == "other:v2"
    assert rows[0][2].isdigit()
    r = rkt("image", "list", "--sort=importtime", "--order=desc", "--no-legend", "--fields=id")
    assert [line.strip() for line in r.out.splitlines()] == [b[:19], a[:19]]
    data = json.loads(rkt("image", "list", "--format=json-pretty").out)
    assert {d["id"] for d in data} == {a, b} and all(isinstance(d["import_time"], int) for d in data)
    for bad in (["--fields=id,bogus"], ["--sort=bogus"], ["--order=up"], ["--format=yaml"], ["extra"]):
        r = rkt("image", "list", *bad)
        assert r.rc == 254 and len(r.err.strip().splitlines()) == 1, bad


def test_cat_manifest_and_prefix_resolution(rkt, two_images) -> None:  # type: ignore[no-untyped-def]
    a, _ = two_images
    r = rkt("image", "cat-manifest", "--pretty-print", a[:10])
    assert r.rc == 0
    m = json.loads(r.out)
    assert m["name"] == "layout" and m["app"]["exec"] == ["/bin/sh", "-c", "echo hi"]
    assert rkt("image", "cat-manifest", "layout:latest").rc == 0
    r = rkt("image", "cat-manifest", "sha256-")
    assert r.rc == 254 and "at least 2 hex" in r.err
    r = rkt("image", "cat-manifest", "sha512-0000")
    assert r.rc == 254 and "no image with ID" in r.err
    r = rkt("image", "cat-manifest", "nosuch.example/x")
    assert r.rc == 254 and "no image named" in r.err


def test_ambiguous_prefix(rkt, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from pyrkt.image import FetchOptions, fetch_image, open_store

    store = open_store(rkt.dir)
    ids = []
    for i in range(64):  # two of 64 IDs share their first 2 hex digits with probability > 0.999
        lay = str(tmp_path / f"l{i}")
        write_oci_layout(lay, [tar_bytes([Entry("n", data=str(i).encode())])])
        ids.append(fetch_image(store, f"oci:{lay}", FetchOptions(insecure=frozenset({"image"}))))
    firsts = [i[7:9] for i in ids]
    dup = next((f for f in firsts if firsts.count(f) > 1), None)
    if dup is None:
        pytest.skip("no shared 2-digit prefix this time")
    r = rkt("image", "cat-manifest", f"sha256-{dup}")
    assert r.rc == 254 and "ambiguous" in r.err


def test_rm(rkt, two_images) -> None:  # type: ignore[no-untyped-def]
    a, b = two_images
    r = rkt("image", "rm", a, "sha256-ffffffff")
    assert r.rc == 254
    assert f'successfully removed aci for image: "{a}"' in r.err and "1 image(s) failed" in r.err
    listing = rkt("image", "list", "--no-legend", "--full").out
    assert a not in listing and b in listing
    # the shared blobs of b are still there; a's own layers are gone
    r = rkt("image", "verify")
    assert r.rc == 0 and "ok" in r.out
    assert rkt("image", "rm", "other:v2").rc == 0
    assert os.listdir(os.path.join(rkt.dir, "cas/blobs/sha256")) == []


def test_verify_detects_corruption(rkt, two_images) -> None:  # type: ignore[no-untyped-def]
    a, _ = two_images
    blobs = os.path.join(rkt.dir, "cas/blobs/sha256")
    victim = os.path.join(blobs, sorted(os.listdir(blobs))[0])
    with open(victim, "ab") as f:
        f.write(b"x")
    r = rkt("image", "verify")
    assert r.rc == 254 and "FAILED" in r.out and "digest mismatch" in r.out


@needs_root
def test_render_flattens_whiteouts(rkt, two_images, tmp_path) -> None:  # type: ignore[no-untyped-def]
    a, _ = two_images
    out = str(tmp_path / "r")
    assert rkt("image", "render", "--rootfs-only", a, out).rc == 0
    assert os.path.exists(os.path.join(out, "bin/busybox")) and not os.path.exists(os.path.join(out, "etc/passwd"))
    assert os.lstat(os.path.join(out, "bin/su")).st_mode & 0o7777 == 0o4755
    assert os.lstat(os.path.join(out, "srv/a")).st_ino == os.lstat(os.path.join(out, "srv/b")).st_ino
    assert rkt("image", "render", "--overwrite", a, out).rc == 0
    assert os.path.isdir(os.path.join(out, "rootfs")) and os.path.isfile(os.path.join(out, "manifest"))
    # an OCI image exports as an ACI that fetches back with the same app
    aci = str(tmp_path / "x.aci")
    assert rkt("image", "export", a, aci).rc == 0
    with tarfile.open(aci) as t:
        names = t.getnames()
    assert "manifest" in names and "rootfs/bin/busybox" in names
    r = rkt(INSECURE, "fetch", aci)
    assert r.rc == 0, r.err


def test_zstd_layers_render(rkt, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """`tar+zstd` layers (podman and buildkit push them) stack like gzip ones, whiteouts included."""
    layout = str(tmp_path / "zstd")
    base = tar_bytes([Entry("etc", "dir", mode=0o755), Entry("etc/gone", data=b"x"), Entry("etc/kept", data=b"base")])
    top = zstd_bytes(tar_bytes([Entry("etc/.wh.gone", data=b""), Entry("etc/new", data=b"top")]))
    write_oci_layout(layout, [zstd_bytes(base), top])
    r = rkt(INSECURE, "fetch", "--full", f"oci:{layout}")
    assert r.rc == 0, r.err
    out = str(tmp_path / "r")
    assert rkt("image", "render", "--rootfs-only", r.out.strip(), out).rc == 0
    assert sorted(os.listdir(os.path.join(out, "etc"))) == ["kept", "new"]
    with open(os.path.join(out, "etc/new")) as f:
        assert f.read() == "top"


def test_corrupt_zstd_layer_is_one_line(rkt, tmp_path) -> None:  # type: ignore[no-untyped-def]
    layout = str(tmp_path / "bad")
    data = zstd_bytes(tar_bytes([Entry("f", data=os.urandom(100000))]))
    write_oci_layout(layout, [data[: len(data) // 2] + bytes(16)])
    r = rkt(INSECURE, "fetch", f"oci:{layout}")
    if r.rc == 0:  # rendering is when the layer is read
        r = rkt("image", "render", "--rootfs-only", r.out.strip(), str(tmp_path / "r"))
    assert r.rc == 254
    assert "Traceback" not in r.err and len(r.err.strip().splitlines()) == 1, r.err


def test_gc_grace_and_tmp(rkt, two_images) -> None:  # type: ignore[no-untyped-def]
    junk = os.path.join(rkt.dir, "cas/tmp/blob-leftover")
    open(junk, "w").close()
    old = time.time() - 7200
    os.utime(junk, (old, old))
    r = rkt("image", "gc")  # default 24h: both images were just used
    assert r.rc == 0
    assert len(rkt("image", "list", "--no-legend").out.splitlines()) == 2
    assert not os.path.exists(junk)
    assert rkt("image", "gc", "--grace-period=soon").rc == 254
    assert rkt("image", "gc", "--grace-period=0s").rc == 0
    assert rkt("image", "list", "--no-legend").out.strip() == ""


def test_usage_errors_are_one_line(rkt) -> None:  # type: ignore[no-untyped-def]
    for args in (["image"], ["image", "bogus"], ["image", "rm"], ["image", "export", "x"], ["fetch"], ["fetch", "--nope", "x"],
                 ["fetch", "Bad Name"], ["trust"], ["image", "render", "sha512-zz", "/tmp/x"]):
        r = rkt(*args)
        if args == ["image"]:
            assert r.rc == 0
            continue
        assert r.rc == 254, args
        assert len(r.err.strip().splitlines()) == 1 and "Traceback" not in r.err, (args, r.err)


def test_oci_archive_and_docker_archive(rkt, busybox_layout, tmp_path) -> None:  # type: ignore[no-untyped-def]
    need_tools("skopeo")
    layout, digest = busybox_layout
    oci_tar = str(tmp_path / "img.tar")
    with tarfile.open(oci_tar, "w") as t:
        for name in os.listdir(layout):
            t.add(os.path.join(layout, name), name)
    r = rkt(INSECURE, "fetch", "--full", f"oci-archive:{oci_tar}:latest")
    assert r.rc == 0, r.err
    assert r.out.strip() == "sha256-" + digest.split(":")[1]
    # a plain path is sniffed
    assert rkt(INSECURE, "fetch", "--full", oci_tar).out.strip() == r.out.strip()
    save = str(tmp_path / "save.tar")
    subprocess.run(["skopeo", "--insecure-policy", "copy", "-q", f"oci:{layout}:latest", f"docker-archive:{save}:example/bb:v3"], check=True, capture_output=True)
    r = rkt(INSECURE, "fetch", "--full", f"docker-archive:{save}")
    assert r.rc == 0, r.err
    r2 = rkt(INSECURE, "fetch", "--full", save)
    assert r2.out.strip() == r.out.strip()
    m = json.loads(rkt("image", "cat-manifest", r.out.strip()).out)
    assert m["name"] == "registry-1.docker.io/example/bb"
    assert {"name": "version", "value": "v3"} in m["labels"]
    assert m["app"]["exec"] == ["/bin/sh", "-c", "echo hi"]
    assert rkt(INSECURE, "fetch", f"oci-archive:{oci_tar}:nosuchtag").rc == 254


@pytest.mark.root  # umoci unpack makes device nodes and chowns: as nobody it fails
def test_umoci_layout(rkt, busybox_layout, tmp_path) -> None:  # type: ignore[no-untyped-def]
    need_tools("umoci")
    layout = str(tmp_path / "umoci")
    subprocess.run(["umoci", "init", "--layout", layout], check=True, capture_output=True)
    subprocess.run(["umoci", "new", "--image", f"{layout}:base"], check=True, capture_output=True)
    bundle = str(tmp_path / "bundle")
    subprocess.run(["umoci", "unpack", "--image", f"{layout}:base", bundle], check=True, capture_output=True)
    os.makedirs(os.path.join(bundle, "rootfs/bin"))
    subprocess.run(["cp", "/bin/busybox", os.path.join(bundle, "rootfs/bin/busybox")], check=True)
    os.symlink("busybox", os.path.join(bundle, "rootfs/bin/sh"))
    subprocess.run(["umoci", "repack", "--image", f"{layout}:base", bundle], check=True, capture_output=True)
    subprocess.run(["umoci", "config", "--image", f"{layout}:base", "--config.entrypoint", "/bin/sh", "--config.env", "FOO=bar"], check=True, capture_output=True)
    r = rkt(INSECURE, "fetch", "--full", f"oci:{layout}:base")
    assert r.rc == 0, r.err
    m = json.loads(rkt("image", "cat-manifest", r.out.strip()).out)
    assert m["app"]["exec"] == ["/bin/sh"] and {"name": "FOO", "value": "bar"} in m["app"]["environment"]
    assert rkt(INSECURE, "fetch", f"oci:{layout}:missing").rc == 254


def test_oci_sources_need_insecure_image(rkt, busybox_layout) -> None:  # type: ignore[no-untyped-def]
    layout, _ = busybox_layout
    r = rkt("fetch", f"oci:{layout}")
    assert r.rc == 254 and "insecure-options=image" in r.err
