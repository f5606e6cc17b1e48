"""Hostile and tricky layers: nothing may be written outside the target."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import sys

import pytest

from imagefixtures import SRC, needs_root
from imagebuild import Entry, tar_bytes
from pyrkt.image.errors import UnsafeArchive
from pyrkt.image.tarsafe import extract_tar


def extract(entries: list[Entry], root: str, mode: str = "flatten") -> None:
    extract_tar(io.BytesIO(tar_bytes(entries)), root, whiteouts=mode)


@pytest.fixture
def box(tmp_path):  # type: ignore[no-untyped-def]
    """(root, outside): a target dir and a sibling that must stay untouched."""
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim").write_text("precious")
    return str(root), str(outside)


def untouched(outside: str) -> bool:
    return os.listdir(outside) == ["victim"] and open(os.path.join(outside, "victim")).read() == "precious"


@pytest.mark.parametrize("name", ["../outside/victim", "a/../../outside/victim", "/tmp/abs-escape", "./../x"])
def test_dotdot_and_absolute_names_refused(box, name) -> None:  # type: ignore[no-untyped-def]
    root, outside = box
    with pytest.raises(UnsafeArchive):
        extract([Entry(name, data=b"pwned")], root)
    assert untouched(outside)
    assert not os.path.exists("/tmp/abs-escape")


def test_symlink_then_write_stays_inside(box) -> None:  # type: ignore[no-untyped-def]
    root, outside = box
    extract([Entry("evil", "symlink", linkname=outside), Entry("evil/victim", data=b"pwned"),
             Entry("rel", "symlink", linkname="../../../../" + outside.lstrip("/")), Entry("rel/new", data=b"pwned")], root)
    assert untouched(outside)
    # the writes landed inside the root, at the symlink target resolved inside it
    assert open(os.path.join(root, outside.lstrip("/"), "victim")).read() == "pwned"
    assert open(os.path.join(root, outside.lstrip("/"), "new")).read() == "pwned"
    assert os.readlink(os.path.join(root, "evil")) == outside  # the absolute link itself is kept as data


def test_final_symlink_is_replaced_not_followed(box) -> None:  # type: ignore[no-untyped-def]
    root, outside = box
    extract([Entry("link", "symlink", linkname=os.path.join(outside, "victim")), Entry("link", data=b"pwned")], root)
    assert untouched(outside)
    assert not os.path.islink(os.path.join(root, "link"))


def test_hardlink_outside_refused(box) -> None:  # type: ignore[no-untyped-def]
    root, outside = box
    with pytest.raises(UnsafeArchive):
        extract([Entry("h", "hardlink", linkname="../outside/victim")], root)
    # through a symlinked dir: resolves inside the root, where nothing is
    with pytest.raises(UnsafeArchive):
        extract([Entry("d", "symlink", linkname=outside), Entry("h2", "hardlink", linkname="d/victim")], root)
    assert untouched(outside)
    assert os.stat(os.path.join(outside, "victim")).st_nlink == 1


def test_symlink_loop_refused(box) -> None:  # type: ignore[no-untyped-def]
    root, _ = box
    with pytest.raises(UnsafeArchive):
        extract([Entry("a", "symlink", linkname="b"), Entry("b", "symlink", linkname="a"), Entry("a/x", data=b"")], root)


@needs_root
def test_modes_owners_setuid_hardlinks_xattrs(box) -> None:  # type: ignore[no-untyped-def]
    root, _ = box
    extract([Entry("bin", "dir", mode=0o755), Entry("bin/su", data=b"x", mode=0o4755, uid=0, gid=0),
             Entry("bin/sg", data=b"x", mode=0o2755, uid=5, gid=7), Entry("tmp", "dir", mode=0o1777),
             Entry("ro", "dir", mode=0o555), Entry("ro/file", data=b"inside ro", mode=0o444, uid=1000, gid=1000),
             Entry("bin/sulink", "hardlink", linkname="bin/su"),
             Entry("cap", data=b"x", xattrs={"user.pyrkt": "yes"}), Entry("fifo", "fifo", mode=0o600),
             Entry("dev/null", "chr", mode=0o666, devmajor=1, devminor=3)], root)
    st = os.lstat(os.path.join(root, "bin/su"))
    assert st.st_mode & 0o7777 == 0o4755
    sg = os.lstat(os.path.join(root, "bin/sg"))
    assert sg.st_mode & 0o7777 == 0o2755 and (sg.st_uid, sg.st_gid) == (5, 7)
    assert os.lstat(os.path.join(root, "tmp")).st_mode & 0o7777 == 0o1777
    assert os.lstat(os.path.join(root, "ro")).st_mode & 0o777 == 0o555
    f = os.lstat(os.path.join(root, "ro/file"))
    assert (f.st_uid, f.st_gid) == (1000, 1000)
    assert os.lstat(os.path.join(root, "bin/sulink")).st_ino == st.st_ino
    try:
        assert os.getxattr(os.path.join(root, "cap"), "user.pyrkt") == b"yes"
    except OSError:
        pytest.skip("no user xattrs on this filesystem")
    assert stat.S_ISFIFO(os.lstat(os.path.join(root, "fifo")).st_mode)
    d = os.lstat(os.path.join(root, "dev/null"))
    assert stat.S_ISCHR(d.st_mode) and os.major(d.st_rdev) == 1 and os.minor(d.st_rdev) == 3


@needs_root
def test_device_nodes_refused_when_not_root() -> None:
    import pathlib
    import shutil
    import tempfile

    base = tempfile.mkdtemp(prefix="pyrkt-nonroot-")  # pytest's tmp dirs are 0700 root: nobody cannot enter them
    os.chmod(base, 0o755)
    root = pathlib.Path(base) / "nr"
    root.mkdir()
    os.chown(root, 65534, 65534)
    try:
        _nonroot_device(root)
    finally:
        shutil.rmtree(base)


def _nonroot_device(root) -> None:  # type: ignore[no-untyped-def]
    data = tar_bytes([Entry("dev/sda", "chr", devmajor=8, devminor=0)])
    code = ("import io, os, sys; os.setgid(65534); os.setuid(65534); from pyrkt.image.tarsafe import extract_tar;"
            "from pyrkt.image.errors import UnsafeArchive\n"
            "try:\n extract_tar(io.BytesIO(sys.stdin.buffer.read()), sys.argv[1])\nexcept UnsafeArchive as e:\n print(e); sys.exit(3)")
    p = subprocess.run([sys.executable, "-c", code, str(root / "t")], input=data, capture_output=True, env={**os.environ, "PYTHONPATH": SRC})
    assert p.returncode == 3, p.stderr
    assert b"device node" in p.stdout
    assert not os.path.exists(root / "t" / "dev" / "sda")


def test_whiteouts_flatten(tmp_path) -> None:  # type: ignore[no-untyped-def]
    root = str(tmp_path / "r")
    extract([Entry("etc", "dir", mode=0o755), Entry("etc/passwd", data=b"x"), Entry("etc/group", data=b"x"),
             Entry("opt", "dir", mode=0o755), Entry("opt/old1", data=b"1"), Entry("opt/old2", data=b"2")], root)
    extract([Entry("etc/.wh.passwd"), Entry("opt/.wh..wh..opq"), Entry("opt/new", data=b"n")], root)
    assert sorted(os.listdir(os.path.join(root, "etc"))) == ["group"]
    assert sorted(os.listdir(os.path.join(root, "opt"))) == ["new"]
    # an opaque marker after a sibling of the same layer keeps the sibling
    extract([Entry("opt/newer", data=b"n"), Entry("opt/.wh..wh..opq")], root)
    assert sorted(os.listdir(os.path.join(root, "opt"))) == ["newer"]
    with pytest.raises(UnsafeArchive):
        extract([Entry("etc/.wh.")], root)


@needs_root
def test_whiteouts_overlay_form(tmp_path) -> None:  # type: ignore[no-untyped-def]
    root = str(tmp_path / "r")
    extract([Entry("etc", "dir", mode=0o755), Entry("etc/.wh.passwd"), Entry("opt", "dir", mode=0o755), Entry("opt/.wh..wh..opq")], root, "overlay")
    st = os.lstat(os.path.join(root, "etc/passwd"))
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(0, 0)
    assert os.getxattr(os.path.join(root, "opt"), "trusted.overlay.opaque") == b"y"


def test_corrupt_archive_is_one_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    data = tar_bytes([Entry("a", data=b"x" * 5000)], compress=False)[:1500]
    with pytest.raises(UnsafeArchive):
        extract_tar(io.BytesIO(data), str(tmp_path / "r"))
