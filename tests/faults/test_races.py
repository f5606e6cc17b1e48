"""Races between store-changing commands, and images of prepared pods."""

from __future__ import annotations

import os

from podfixtures import spawn_rkt

GC = ("gc", "--grace-period=0s", "--expire-prepared=0s")


def _image_id(rkt) -> str:  # type: ignore[no-untyped-def]
    r = rkt("image", "list", "--no-legend", "--fields=id,name")
    return next(line.split()[0] for line in r.out.splitlines() if "example.com/busybox" in line)


def test_images_of_prepared_pods_stay(rkt) -> None:  # type: ignore[no-untyped-def]
    r = rkt("prepare", "--quiet", "example.com/busybox")
    assert r.code == 0, r.err
    uuid = r.out.strip()
    image = _image_id(rkt)
    r = rkt("image", "rm", image)
    assert r.code == 254 and "--force" in r.err, r.err
    r = rkt("image", "gc", "--grace-period=0s")
    assert r.code == 0 and "keeping" in r.err, r.err
    r = rkt("run-prepared", "--net=none", uuid)
    assert r.code == 0 and "hello from busybox" in r.out, r.err
    assert rkt(*GC).code == 0
    r = rkt("image", "rm", image)  # the pod is gone: now it goes
    assert r.code == 0, r.err


def test_image_rm_force_removes_a_prepared_pods_image(rkt) -> None:  # type: ignore[no-untyped-def]
    assert rkt("prepare", "--quiet", "example.com/busybox").code == 0
    r = rkt("image", "rm", "--force", _image_id(rkt))
    assert r.code == 0, r.err


def test_gc_against_gc(rkt) -> None:  # type: ignore[no-untyped-def]
    for _ in range(6):
        assert rkt("run", "--net=none", "example.com/busybox").code == 0
    for _ in range(3):
        assert rkt("prepare", "--quiet", "example.com/busybox").code == 0
    procs = [spawn_rkt(rkt.dir, *GC) for _ in range(3)]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        assert "Traceback" not in err
    for state in os.listdir(os.path.join(rkt.dir, "pods")):
        assert not [n for n in os.listdir(os.path.join(rkt.dir, "pods", state)) if not n.startswith(".")], state


def test_image_gc_against_run_and_fetch(rkt, fault_template) -> None:  # type: ignore[no-untyped-def]
    aci = os.path.join(os.path.dirname(fault_template), "busybox.aci")
    runs = [spawn_rkt(rkt.dir, "run", "--net=none", "example.com/busybox") for _ in range(2)]
    gcs = [spawn_rkt(rkt.dir, "image", "gc") for _ in range(2)]
    fetch = spawn_rkt(rkt.dir, "--insecure-options=image", "fetch", aci)
    for p in runs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0 and "hello from busybox" in out, err
    for p in [*gcs, fetch]:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
