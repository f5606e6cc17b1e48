"""A data dir on a tiny tmpfs: full, then read-only. rkt lists, fails in one line, and frees space itself."""

from __future__ import annotations

import os
import subprocess

import pytest
from podfixtures import run_rkt


@pytest.fixture
def small_dir(fault_template, tmp_path):  # type: ignore[no-untyped-def]
    mnt = str(tmp_path / "small")
    os.makedirs(mnt)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", f"pyrkt-faults-{os.getpid()}", mnt], check=True)
    try:
        subprocess.run(["cp", "-a", fault_template + "/.", mnt], check=True)
        yield mnt
    finally:
        subprocess.run(["umount", "-l", mnt], check=False)


def _one_line(r) -> None:  # type: ignore[no-untyped-def]
    assert "Traceback" not in r.err and "internal error" not in r.err, r.err
    if r.code:
        assert r.err.strip().splitlines()[-1].startswith("rkt: "), r.err


def test_full_disk(small_dir) -> None:  # type: ignore[no-untyped-def]
    assert run_rkt(small_dir, "image", "gc", "--grace-period=1000h").code == 0  # puts the reserve in place
    _fill(small_dir)
    r = run_rkt(small_dir, "image", "list")
    _one_line(r)
    assert r.code == 0 and "example.com/busybox" in r.out
    _one_line(run_rkt(small_dir, "list"))
    r = run_rkt(small_dir, "run", "--net=none", "example.com/busybox")
    _one_line(r)
    r = run_rkt(small_dir, "image", "rm", "example.com/data")
    _one_line(r)
    assert r.code == 0, r.err
    r = run_rkt(small_dir, "image", "gc", "--grace-period=0s")
    _one_line(r)
    assert r.code == 0, r.err
    r = run_rkt(small_dir, "gc", "--grace-period=0s")
    _one_line(r)
    assert r.code == 0, r.err
    r = run_rkt(small_dir, "image", "list", "--no-legend")
    assert r.code == 0 and r.out.strip() == "", r.out


def test_read_only_data_dir(small_dir) -> None:  # type: ignore[no-untyped-def]
    subprocess.run(["mount", "-o", "remount,ro", small_dir], check=True)
    r = run_rkt(small_dir, "image", "list")
    _one_line(r)
    assert r.code == 0 and "example.com/busybox" in r.out
    for args in (["list"], ["run", "--net=none", "example.com/busybox"], ["prepare", "example.com/busybox"],
                 ["image", "gc"], ["gc"], ["image", "rm", "example.com/data"]):
        _one_line(run_rkt(small_dir, *args))


def _fill(directory: str) -> None:
    with open(os.path.join(directory, "fill"), "wb") as f:
        try:
            while True:
                f.write(b"\0" * (1 << 20))
                f.flush()
        except OSError:
            pass


def _names_a_file_under(r, directory: str) -> None:  # type: ignore[no-untyped-def]
    _one_line(r)
    assert r.code != 0
    last = r.err.strip().splitlines()[-1]
    assert "[Errno" not in last and f"{directory}/" in last, last


def test_full_or_read_only_disk_messages_name_the_file(small_dir) -> None:  # type: ignore[no-untyped-def]
    """ENOSPC and EROFS say which file: the pod's manifest, a tree being rendered (not a
    'corrupt archive'), the image index, the blob being written."""
    assert run_rkt(small_dir, "image", "gc", "--grace-period=1000h").code == 0
    _fill(small_dir)
    for args in (["run", "--net=none", "example.com/busybox"], ["prepare", "example.com/busybox"]):
        _names_a_file_under(run_rkt(small_dir, *args), small_dir)
    os.unlink(os.path.join(small_dir, "fill"))
    subprocess.run(["rm", "-rf", os.path.join(small_dir, "cas", "tree")], check=True)  # run must render again
    _fill(small_dir)
    r = run_rkt(small_dir, "run", "--net=none", "example.com/busybox")
    _names_a_file_under(r, small_dir)
    assert "corrupt" not in r.err, r.err
    os.unlink(os.path.join(small_dir, "fill"))
    assert run_rkt(small_dir, "gc", "--grace-period=0s").code == 0
    subprocess.run(["mount", "-o", "remount,ro", small_dir], check=True)
    for args in (["run", "--net=none", "example.com/busybox"], ["prepare", "example.com/busybox"], ["image", "gc"]):
        _names_a_file_under(run_rkt(small_dir, *args), small_dir)
