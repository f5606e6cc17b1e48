"""What `rkt run`'s fast paths must keep: behaviour, not speed (no timing here).

- app rootfs overlays are `volatile`: an exited pod's app can be exported
  (twice: the kernel's volatile marker is cleared only after the boot-id
  check), and is refused once the machine has restarted since it ran;
- `rkt run` takes its pod from prepare/ to run/ without fsyncs, yet the pod
  is listed, exited and gc'd as before;
- using an image marks it used (cas/used/<id>), and image list/gc see it;
- a relative --dir works.
"""

from __future__ import annotations

import os
import sys
import tarfile
import time

sys.path.insert(0, os.path.dirname(__file__))

from podfixtures import SRC  # noqa: E402

BB = "example.com/busybox"
H = "--net=host"


def _app_dir(data: str, uuid: str) -> str:
    apps = os.path.join(data, "pods", "run", uuid, "apps")
    return os.path.join(apps, os.listdir(apps)[0])


def test_export_of_volatile_rootfs_twice_then_refused_after_reboot(rkt, tmp_path):  # type: ignore[no-untyped-def]
    r = rkt("run", "--uuid-file-save", f"{rkt.dir}/u", H, BB, "--exec", "/bin/sh", "--", "-c", "echo kept > /marker")
    assert r.code == 0, r.err
    uuid = open(f"{rkt.dir}/u").read()
    app = _app_dir(rkt.dir, uuid)
    assert os.path.isdir(os.path.join(app, "work", "work", "incompat", "volatile"))  # mounted volatile
    for name in ("a.aci", "b.aci"):  # the second export mounts the same upper/work dirs again
        r = rkt("export", uuid, str(tmp_path / name))
        assert r.code == 0, r.err
        with tarfile.open(tmp_path / name) as t:
            assert t.extractfile("rootfs/marker").read() == b"kept\n"  # type: ignore[union-attr]
    with open(os.path.join(app, "boot_id"), "w") as f:
        f.write("a-boot-before-a-crash")
    r = rkt("export", uuid, str(tmp_path / "c.aci"))
    assert r.code == 254 and "restarted" in r.err, r.err
    assert not os.path.exists(tmp_path / "c.aci")


def test_run_pod_lifecycle_without_prepared_state(rkt):  # type: ignore[no-untyped-def]
    r = rkt("run", "--uuid-file-save", f"{rkt.dir}/u", H, BB, "--exec", "/bin/true")
    assert r.code == 0, r.err
    uuid = open(f"{rkt.dir}/u").read()
    assert os.listdir(os.path.join(rkt.dir, "pods", "prepared")) == []
    r = rkt("status", uuid)
    assert "state=exited" in r.out and "app-busybox=0" in r.out, r.out + r.err
    assert rkt("gc", "--grace-period=0s").code == 0
    assert rkt("status", uuid).code == 254


def test_prepare_still_leaves_a_prepared_pod(rkt):  # type: ignore[no-untyped-def]
    r = rkt("prepare", "--quiet", H, BB, "--exec", "/bin/true")
    assert r.code == 0, r.err
    uuid = r.out.strip()
    assert os.listdir(os.path.join(rkt.dir, "pods", "prepared")) == [uuid]
    assert rkt("run-prepared", uuid).code == 0


def test_run_marks_the_image_used(rkt):  # type: ignore[no-untyped-def]
    sys.path.insert(0, SRC)
    from pyrkt.image.store import Store

    store = Store(rkt.dir)
    try:
        image_id = store.resolve(BB).id
        before = store.get(image_id).last_used
    finally:
        store.close()
    time.sleep(0.05)
    started = time.time()
    assert rkt("run", H, BB, "--exec", "/bin/true").code == 0
    store = Store(rkt.dir)
    try:
        used = store.get(image_id).last_used
        assert used >= started - 1 and used > before
        assert any(rec.last_used == used for rec in store.images())
    finally:
        store.close()
    assert os.path.exists(os.path.join(rkt.dir, "cas", "used", image_id))
    assert rkt("image", "rm", image_id).code == 0
    assert not os.path.exists(os.path.join(rkt.dir, "cas", "used", image_id))


def test_relative_dir(rkt):  # type: ignore[no-untyped-def]
    parent, base = os.path.split(rkt.dir)
    cwd = os.getcwd()
    os.chdir(parent)
    try:
        from podfixtures import run_rkt

        r = run_rkt(base, "run", H, BB, "--exec", "/bin/true")
    finally:
        os.chdir(cwd)
    assert r.code == 0, r.err


def _prepared(rkt, *args: str) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    r = rkt("prepare", "--quiet", H, BB, *args)
    assert r.code == 0, r.err
    uuid = r.out.strip()
    return uuid, os.path.join(rkt.dir, "pods", "prepared", uuid, "runtime.json")


def test_run_prepared_reads_an_older_runtime_json(rkt):  # type: ignore[no-untyped-def]
    """A pod prepared before runtime.json had the apps' stdio and no_new_privileges keys still runs."""
    import json

    uuid, path = _prepared(rkt, "--exec", "/bin/sh", "--", "-c", "echo from-old-pod")
    with open(path) as f:
        doc = json.load(f)
    for key in ("stdin", "stdout", "stderr", "no_new_privileges"):
        del doc["apps"][0][key]
    with open(path, "w") as f:
        json.dump(doc, f)
    r = rkt("run-prepared", uuid)
    assert r.code == 0 and "from-old-pod" in r.out, r.out + r.err


def test_run_prepared_of_a_damaged_plan_is_one_line(rkt):  # type: ignore[no-untyped-def]
    import json

    uuid, path = _prepared(rkt, "--exec", "/bin/true")
    with open(path) as f:
        doc = json.load(f)
    doc["apps"][0]["lowerdirs"] = "/not-a-list"
    with open(path, "w") as f:
        json.dump(doc, f)
    r = rkt("run-prepared", uuid)
    assert r.code == 254 and "Traceback" not in r.err, r.err
    assert r.err.strip().splitlines() == [f"rkt: pod {uuid}: damaged file {path}: apps[0].lowerdirs: not a list"]


def test_config_json_is_written_for_the_bundle(rkt):  # type: ignore[no-untyped-def]
    """create gets the config in memory, but each app's bundle still has the config.json it ran with."""
    import json

    r = rkt("run", "--uuid-file-save", f"{rkt.dir}/u", H, BB, "--exec", "/bin/true", "--", "arg1")
    assert r.code == 0, r.err
    uuid = open(f"{rkt.dir}/u").read()
    with open(os.path.join(_app_dir(rkt.dir, uuid), "config.json")) as f:
        cfg = json.load(f)
    assert cfg["process"]["args"] == ["/bin/true", "arg1"] and cfg["annotations"]["rkt.pod.uuid"] == uuid
    assert cfg["linux"]["cgroupsPath"] == f"/rkt-{uuid}-busybox" and cfg["root"] == {"path": "rootfs", "readonly": False}


def test_run_prepared_refused_with_its_flags_stays_prepared(rkt):  # type: ignore[no-untyped-def]
    """A refusal comes before the pod is moved to run/: it can be run with other flags."""
    r = rkt("prepare", "--quiet", H, BB, "--exec", "/bin/true", BB, "--name=second", "--exec", "/bin/true")
    assert r.code == 0, r.err
    uuid = r.out.strip()
    for flags, msg in ((["--interactive"], "--interactive can only be used with a single app"),
                       (["--mds-register"], "--mds-register cannot be used with --net=host")):
        r = rkt("run-prepared", *flags, uuid)
        assert r.code == 254 and msg in r.err and len(r.err.strip().splitlines()) == 1, r.err
        assert "state=prepared" in rkt("status", uuid).out
    r = rkt("run-prepared", uuid)
    assert r.code == 0, r.err
    assert "state=exited" in rkt("status", uuid).out
