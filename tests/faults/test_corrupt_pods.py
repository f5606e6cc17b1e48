"""Garbled pod files: every command that reads them says one line naming the damage, gc goes on."""

from __future__ import annotations

import os

import pytest

DAMAGE = {
    "torn": lambda d: d[: len(d) // 2],
    "binary": lambda d: b"\xff\xfe\x00" + d[:10],
    "wrong-type": lambda d: b"[1, 2, 3]",
    "empty": lambda d: b"",
}


def _clean(r) -> None:  # type: ignore[no-untyped-def]
    out = r.out + r.err
    assert "Traceback" not in out and "internal error" not in out, out


def _pod_dir(data: str, uuid: str) -> str:
    for state in ("prepared", "run", "exited-garbage", "garbage", "prepare", "embryo"):
        path = os.path.join(data, "pods", state, uuid)
        if os.path.isdir(path):
            return path
    raise AssertionError(f"no pod dir for {uuid}")


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_garbled_pod_files(rkt, damage) -> None:  # type: ignore[no-untyped-def]
    uuids = []
    for _ in range(2):
        r = rkt("prepare", "--quiet", "example.com/busybox")
        assert r.code == 0, r.err
        uuids.append(r.out.strip())
    r = rkt("run", "example.com/busybox")
    assert r.code == 0, r.err
    victim = uuids[0]
    pdir = _pod_dir(rkt.dir, victim)
    names = [n for n in os.listdir(pdir) if os.path.isfile(os.path.join(pdir, n)) and not os.path.islink(os.path.join(pdir, n))]
    assert "pod" in names
    for name in names:
        path = os.path.join(pdir, name)
        with open(path, "rb") as f:
            data = f.read()
        with open(path, "wb") as f:
            f.write(DAMAGE[damage](data))
    for args in (["list"], ["list", "--full"], ["status", victim], ["cat-manifest", victim], ["run-prepared", victim],
                 ["status", uuids[1]]):
        _clean(rkt(*args))
    r = rkt("gc", "--grace-period=0s", "--expire-prepared=0s")
    _clean(r)
    assert r.code == 0, r.err
    r = rkt("list", "--no-legend")
    _clean(r)
    assert uuids[1][:8] not in r.out  # the other pods were collected past the damaged one
    r = rkt("rm", victim)
    _clean(r)
    r = rkt("gc", "--grace-period=0s", "--expire-prepared=0s")
    _clean(r)
    assert r.code == 0
    assert not any(os.path.exists(os.path.join(rkt.dir, "pods", s, victim)) for s in os.listdir(os.path.join(rkt.dir, "pods")))


def test_a_file_where_a_pod_dir_should_be(rkt) -> None:  # type: ignore[no-untyped-def]
    for state in ("prepared", "run", "exited-garbage"):
        os.makedirs(os.path.join(rkt.dir, "pods", state), exist_ok=True)
        with open(os.path.join(rkt.dir, "pods", state, "1b2c3d4e-0000-4000-8000-000000000000"), "w") as f:
            f.write("not a pod")
    for args in (["list"], ["status", "1b2c3d4e"], ["rm", "1b2c3d4e"], ["gc", "--grace-period=0s"], ["run", "example.com/busybox"]):
        _clean(rkt(*args))
    assert rkt("gc", "--grace-period=0s").code == 0


@pytest.mark.parametrize("flag", ["--cpu=1e400", "--cpu=nan", "--memory=99999999999999999999T", "--cpu=-1"])
def test_out_of_range_values_are_one_line(rkt, flag) -> None:  # type: ignore[no-untyped-def]
    r = rkt("run", "--net=none", "example.com/busybox", flag)
    assert r.code == 254 and len(r.err.strip().splitlines()) == 1, r.err
    _clean(r)


def test_non_utf8_hostname_is_one_line(rkt) -> None:  # type: ignore[no-untyped-def]
    import subprocess

    from podfixtures import RKT, SRC

    p = subprocess.run([*map(os.fsencode, RKT), b"--dir", rkt.dir.encode(), b"run", b"--net=none", b"--hostname=a\xff",
                        b"example.com/busybox"], capture_output=True, env={**os.environ, "PYTHONPATH": SRC}, timeout=60)
    assert p.returncode == 254 and b"--hostname" in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
