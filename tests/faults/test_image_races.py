"""Races of image rm/gc with pods, images of exited pods, and more pairs of store-changing commands.

The window cases are made certain, not likely: strace holds the prepare at
the rename of its pod manifest (delay_enter) while the other command runs.
"""

from __future__ import annotations

import glob
import os
import subprocess
import time

import pytest
from killpoints import point_at
from podfixtures import RKT, spawn_rkt
from test_kills import _env
from toolcheck import need_tools

GC = ("gc", "--grace-period=0s", "--expire-prepared=0s")


def _image_id(rkt) -> str:  # type: ignore[no-untyped-def]
    r = rkt("image", "list", "--no-legend", "--fields=id,name")
    return next(line.split()[0] for line in r.out.splitlines() if "example.com/busybox" in line)


def _one_line(err: str) -> None:
    assert "Traceback" not in err and "internal error" not in err, err


def _pod_trees(data: str, uuid: str) -> set[str]:
    """The tree names the pod's apps stack (runtime.json lowerdirs)."""
    import json

    with open(glob.glob(os.path.join(data, "pods", "*", uuid, "runtime.json"))[0]) as f:
        apps = json.load(f)["apps"]
    tree_dir = os.path.join(data, "cas", "tree") + "/"
    return {d[len(tree_dir):].split("/")[0] for a in apps for d in a["lowerdirs"] if d.startswith(tree_dir)}


def _wait_for(pattern: str) -> None:
    for _ in range(200):
        if glob.glob(pattern):
            return
        time.sleep(0.05)
    raise AssertionError(f"nothing matched {pattern}")


def test_image_rm_waits_for_a_prepare_that_resolved_its_image(rkt, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """image rm while a prepare has resolved the image but not yet written the manifest naming it:
    rm waits, then refuses (the pod is prepared), and the pod runs."""
    need_tools("strace")
    image = _image_id(rkt)
    argv = [*RKT, "--dir", rkt.dir, "--insecure-options=image", "prepare", "--quiet", "example.com/busybox"]
    point = point_at(argv, _env(), str(tmp_path), "rename", "/pod.")
    assert rkt(*GC).code == 0
    held = subprocess.Popen(["strace", "-f", "-qq", "-o", "/dev/null", "-e", "trace=rename",
                             "-e", f"inject=rename:delay_enter=2000000:when={point[1]}", *argv],
                            env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(os.path.join(rkt.dir, "pods", "prepare", "*", "pod.*.tmp"))  # held at the manifest's rename
        r = rkt("image", "rm", image)
        _one_line(r.err)
        assert r.code == 254 and "used by a pod" in r.err, r.err
    finally:
        out, err = held.communicate(timeout=60)
    assert held.returncode == 0, err
    r = rkt("run-prepared", "--net=none", out.strip().splitlines()[-1])
    assert r.code == 0 and "hello from busybox" in r.out, r.err


def test_exited_pods_keep_their_trees(rkt, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """rkt's rule: an exited pod's image may be removed, but the trees its apps stack stay until the
    pod is garbage-collected (rkt export mounts them); --force drops them too."""
    r = rkt("run", "--net=none", f"--uuid-file-save={tmp_path}/uuid", "example.com/busybox")
    assert r.code == 0, r.err
    uuid = open(f"{tmp_path}/uuid").read().strip()
    trees = os.path.join(rkt.dir, "cas", "tree")
    before = _pod_trees(rkt.dir, uuid)
    assert before and before <= set(os.listdir(trees))
    r = rkt("image", "rm", _image_id(rkt))
    assert r.code == 0, r.err
    assert before <= set(os.listdir(trees)), "the exited pod's trees were removed with its image"
    r = rkt("image", "gc", "--grace-period=0s")
    assert r.code == 0, r.err
    assert before <= set(os.listdir(trees)), "image gc removed the exited pod's trees"
    r = rkt("export", uuid, str(tmp_path / "app.aci"))
    assert r.code == 0, r.err
    listing = subprocess.run(["tar", "-tf", str(tmp_path / "app.aci")], capture_output=True, text=True, check=True).stdout
    assert "rootfs/bin/sh" in listing, listing[:300]
    assert rkt(*GC).code == 0
    assert rkt("image", "gc", "--grace-period=0s").code == 0
    assert not set(os.listdir(trees)) & before, "trees left after the pod and its image are gone"


def test_image_rm_force_drops_an_exited_pods_trees(rkt, tmp_path) -> None:  # type: ignore[no-untyped-def]
    r = rkt("run", "--net=none", f"--uuid-file-save={tmp_path}/uuid", "example.com/busybox")
    assert r.code == 0, r.err
    uuid = open(f"{tmp_path}/uuid").read().strip()
    trees = os.path.join(rkt.dir, "cas", "tree")
    before = _pod_trees(rkt.dir, uuid)
    r = rkt("image", "rm", "--force", _image_id(rkt))
    assert r.code == 0, r.err
    assert not set(os.listdir(trees)) & before
    r = rkt("export", uuid, str(tmp_path / "app.aci"))
    _one_line(r.err)


def test_image_rm_against_runs(rkt) -> None:  # type: ignore[no-untyped-def]
    """Each run either runs with its image or says in one line that the image is gone; never a
    broken overlay. The image goes only when no run holds it."""
    runs = [spawn_rkt(rkt.dir, "run", "--net=none", "--pull-policy=never", "example.com/busybox") for _ in range(3)]
    rms = [spawn_rkt(rkt.dir, "image", "rm", "example.com/busybox") for _ in range(2)]
    for p in runs:
        out, err = p.communicate(timeout=120)
        _one_line(err)
        assert "overlay" not in err, err
        assert (p.returncode == 0 and "hello from busybox" in out) or (p.returncode == 254 and "not in the store" in err), err
    for p in rms:
        out, err = p.communicate(timeout=120)
        _one_line(err)
    for _ in range(2):
        assert rkt(*GC).code == 0


def test_gc_against_run_prepared(rkt) -> None:  # type: ignore[no-untyped-def]
    """gc --expire-prepared=0s while the prepared pods are started: each runs or is gone, one line."""
    uuids = []
    for _ in range(3):
        r = rkt("prepare", "--quiet", "example.com/busybox")
        assert r.code == 0, r.err
        uuids.append(r.out.strip())
    runs = [spawn_rkt(rkt.dir, "run-prepared", "--net=none", u) for u in uuids]
    gcs = [spawn_rkt(rkt.dir, *GC) for _ in range(2)]
    for p in runs:
        out, err = p.communicate(timeout=120)
        _one_line(err)
        assert (p.returncode == 0 and "hello from busybox" in out) or p.returncode == 254, err
    for p in gcs:
        out, err = p.communicate(timeout=120)
        _one_line(err)
        assert p.returncode == 0, err
    for _ in range(2):
        assert rkt(*GC).code == 0
    for state in os.listdir(os.path.join(rkt.dir, "pods")):
        assert not [n for n in os.listdir(os.path.join(rkt.dir, "pods", state)) if not n.startswith(".")], state


def test_two_fetches_of_one_image_and_image_gc(rkt, fault_template) -> None:  # type: ignore[no-untyped-def]
    """Two fetches of the same image while image gc runs: both succeed, one image, it runs."""
    aci = os.path.join(os.path.dirname(fault_template), "busybox.aci")
    assert rkt("image", "rm", "example.com/busybox").code == 0
    procs = [spawn_rkt(rkt.dir, "--insecure-options=image", "fetch", aci) for _ in range(2)]
    gcs = [spawn_rkt(rkt.dir, "image", "gc", "--grace-period=0s")]
    for p in procs:
        out, err = p.communicate(timeout=120)
        _one_line(err)
        assert p.returncode == 0, err
    for p in gcs:
        out, err = p.communicate(timeout=120)
        _one_line(err)
        assert p.returncode == 0, err
    def count() -> int:
        r = rkt("image", "list", "--no-legend", "--fields=name")
        return sum(1 for n in r.out.split() if n.split(":")[0] == "example.com/busybox")

    if count() == 0:  # the gc came after both (the image was unused): fetch again
        assert rkt("--insecure-options=image", "fetch", aci).code == 0
    assert count() == 1
    r = rkt("run", "--net=none", "example.com/busybox")
    assert r.code == 0 and "hello from busybox" in r.out, r.err
