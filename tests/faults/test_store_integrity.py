"""Image store integrity: a garbled blob is never unpacked, a tree without its marker is rendered again."""

from __future__ import annotations

import io
import os
import tarfile

import pytest

from pyrkt.image.errors import UnsafeArchive
from pyrkt.image.tarsafe import extract_tar


def _trees(data: str) -> list[str]:
    tree = os.path.join(data, "cas", "tree")
    return [os.path.join(tree, n) for n in os.listdir(tree) if not n.endswith("-flat")]


def _image_tree(rkt) -> str:  # type: ignore[no-untyped-def]
    r = rkt("image", "list", "--no-legend", "--fields=id,name")
    image_id = next(line.split()[0] for line in r.out.splitlines() if "example.com/busybox" in line)
    return next(t for t in _trees(rkt.dir) if os.path.basename(t).startswith(image_id))


def test_tree_without_marker_is_rendered_again(rkt) -> None:  # type: ignore[no-untyped-def]
    tree = _image_tree(rkt)
    with open(os.path.join(tree, "blob")) as f:
        blob = f.read()
    assert blob.startswith("sha512")
    os.unlink(os.path.join(tree, "blob"))
    os.unlink(os.path.join(tree, "rootfs", "bin", "sh"))  # the damage a torn tree would have
    r = rkt("run", "example.com/busybox")
    assert r.code == 0 and "hello from busybox" in r.out, r.err
    with open(os.path.join(tree, "blob")) as f:
        assert f.read() == blob
    # a wrong marker too
    with open(os.path.join(tree, "blob"), "w") as f:
        f.write("sha512-0000")
    r = rkt("run", "example.com/busybox")
    assert r.code == 0 and "hello from busybox" in r.out, r.err
    r = rkt("image", "gc")
    assert r.code == 0, r.err
    assert not [n for n in os.listdir(os.path.join(rkt.dir, "cas", "tmp")) if n.startswith("stale-tree-")]


def test_garbled_blob_is_never_unpacked(rkt) -> None:  # type: ignore[no-untyped-def]
    tree = _image_tree(rkt)
    with open(os.path.join(tree, "blob")) as f:
        algo, _, hexd = f.read().replace("-", ":", 1).partition(":")
    blob_path = os.path.join(rkt.dir, "cas", "blobs", algo, hexd)
    assert os.path.exists(blob_path)
    data = bytearray(open(blob_path, "rb").read())
    data[len(data) // 2] ^= 0xFF
    os.unlink(blob_path)  # hard-linked from the template: write a new file
    with open(blob_path, "wb") as f:
        f.write(data)
    os.unlink(os.path.join(tree, "blob"))
    r = rkt("run", "example.com/busybox")
    assert r.code == 254
    assert "Traceback" not in r.err and "internal error" not in r.err
    assert "digest" in r.err.lower() or "mismatch" in r.err.lower(), r.err
    assert not os.path.exists(os.path.join(tree, "blob"))


def _tar(n: int) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for i in range(n):
            ti = tarfile.TarInfo(f"f{i}")
            ti.size = 3000
            t.addfile(ti, io.BytesIO(b"x" * 3000))
    return buf.getvalue()


@pytest.mark.parametrize("cut", ["mid-data", "mid-header", "header-boundary", "bad-header"])
def test_tar_that_ends_early_or_has_a_bad_header_is_an_error(cut, tmp_path) -> None:  # type: ignore[no-untyped-def]
    raw = _tar(3)
    member = 512 + 3072
    data = {"mid-data": raw[:2000], "mid-header": raw[: member + 100], "header-boundary": raw[:member],
            "bad-header": raw[:member + 10] + b"\xff" * 50 + raw[member + 60:]}[cut]
    with pytest.raises(UnsafeArchive):
        extract_tar(io.BytesIO(data), str(tmp_path / "out"))
    extract_tar(io.BytesIO(raw), str(tmp_path / "ok"))
    assert sorted(os.listdir(tmp_path / "ok")) == ["f0", "f1", "f2"]
