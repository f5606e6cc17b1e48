"""Helpers for the pod tests: busybox images built by the image tests' builders, a store per test.

The images are imported once per session into a template store; each test
gets a copy (hard links for blobs and rendered trees, real copies of the
sqlite index) so its pods and images never meet another test's.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "image"))

from imagebuild import Entry, aci_bytes, aci_manifest, busybox_entries, tar_bytes, write_oci_layout  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SRC = os.path.join(ROOT, "src")
RKT = [sys.executable, "-c", "import sys; from pyrkt.cli.rkt import main; sys.exit(main())"]
APPLETS = ("sh", "ls", "cat", "echo", "id", "true", "false", "env", "sleep", "hostname", "date", "touch", "stat",
           "mkdir", "grep", "test", "head", "wc", "kill", "ps")


@dataclass
class Result:
    code: int
    out: str
    err: str


def run_rkt(data_dir: str, *args: str, env: dict[str, str] | None = None, timeout: float = 60, stdin: str | None = None,
            clean_env: bool = False) -> Result:
    e = {} if clean_env else dict(os.environ)
    e["PYTHONPATH"] = SRC
    e.setdefault("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
    e.update(env or {})
    p = subprocess.run(RKT + ["--dir", data_dir, *args], capture_output=True, text=True, env=e, timeout=timeout, input=stdin)
    return Result(p.returncode, p.stdout, p.stderr)


def spawn_rkt(data_dir: str, *args: str) -> subprocess.Popen:  # type: ignore[type-arg]
    e = dict(os.environ)
    e["PYTHONPATH"] = SRC
    return subprocess.Popen(RKT + ["--dir", data_dir, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=e)


def _entries() -> list[Entry]:
    ents = [e for e in busybox_entries(APPLETS) if e.name != "etc/passwd"]
    ents += [
        Entry("etc/passwd", data=b"root:x:0:0:root:/root:/bin/sh\nuser:x:1000:100:user:/home/user:/bin/sh\n"),
        Entry("etc/group", data=b"root:x:0:\nusers:x:100:\nstaff:x:50:\n"),
        Entry("proc", "dir", mode=0o755), Entry("sys", "dir", mode=0o755), Entry("dev", "dir", mode=0o755),
        Entry("owned-by-user", data=b"x", uid=1000, gid=50),
    ]
    return ents


def aci(path: str, name: str, exec_: list[str], **app: object) -> str:
    m = aci_manifest(name, "1.0", exec_)
    m["app"].update(app)  # type: ignore[union-attr]
    with open(path, "wb") as f:
        f.write(aci_bytes(m, _entries()))
    return path


ENV_PRINTER = ["/bin/sh", "-c", 'echo EXAMPLE_ENV=$EXAMPLE_ENV; echo FOO=$FOO; echo EXAMPLE_OVERRIDE=$EXAMPLE_OVERRIDE']


def build_images(workdir: str) -> list[str]:
    """The ACIs and the OCI layout the tests run; returns rkt fetch arguments."""
    refs = [
        aci(f"{workdir}/busybox.aci", "example.com/busybox", ["/bin/sh", "-c", "echo hello from busybox"]),
        aci(f"{workdir}/env-printer.aci", "example.com/env-printer", ENV_PRINTER,
            environment=[{"name": "EXAMPLE_OVERRIDE", "value": "image"}, {"name": "FROM_IMAGE", "value": "1"}]),
        aci(f"{workdir}/reduce-worker.aci", "example.com/reduce-worker",
            ["/bin/sh", "-c", "echo work > /var/lib/work/out && cat /var/lib/work/in"],
            mountPoints=[{"name": "work", "path": "/var/lib/work", "readOnly": False}]),
        aci(f"{workdir}/worker-backup.aci", "example.com/worker-backup",
            ["/bin/sh", "-c", "sleep 0.3; cat /backup/in; touch /backup/x 2>/dev/null && echo writable || echo readonly"],
            mountPoints=[{"name": "work", "path": "/backup", "readOnly": True}]),
        aci(f"{workdir}/data.aci", "example.com/data", ["/bin/sh", "-c", "stat -c '%a %u %g' /var/data"],
            mountPoints=[{"name": "data", "path": "/var/data", "readOnly": False}]),
    ]
    layer = tar_bytes(_entries())
    layout = f"{workdir}/oci"
    write_oci_layout(layout, [layer], {"Cmd": ["/bin/sh", "-c", "echo docker $GREETING"], "Env": ["GREETING=hi", "PATH=/bin"],
                                      "WorkingDir": "/tmp"}, tag="latest", docker_types=True)
    refs.append(f"oci:{layout}:latest")
    return refs


def make_template(workdir: str) -> str:
    store = os.path.join(workdir, "store")
    for ref in build_images(workdir):
        r = run_rkt(store, "--insecure-options=image", "fetch", ref)
        assert r.code == 0, r.err
    # render every image's trees once, so per-test copies share them
    for name in ("example.com/busybox", "example.com/env-printer"):
        from pyrkt.image.render import runnable_image
        from pyrkt.image.store import Store

        st = Store(store)
        runnable_image(st, name)
        st.close()
    return store


def copy_store(template: str, dest: str) -> str:
    subprocess.run(["cp", "-al", template, dest], check=True)
    cas = os.path.join(dest, "cas")
    for name in os.listdir(cas):
        if name.startswith("index.sqlite"):
            path = os.path.join(cas, name)
            data = open(path, "rb").read()
            os.unlink(path)
            with open(path, "wb") as f:
                f.write(data)
    return dest


def stop_running(data_dir: str) -> None:
    """Stop the pods a failed test left running, and wait for them to exit: their `rkt run`
    then removes what it made outside the data dir (networks, leases, NAT rules), which
    deleting the dir under a live pod would leak."""
    r = run_rkt(data_dir, "list", "--format=json", timeout=60)
    try:
        pods = json.loads(r.out) if r.code == 0 and r.out.strip() else []
    except ValueError:
        pods = []
    running = [p["name"] for p in pods if isinstance(p, dict) and p.get("state") == "running"]
    for uuid in running:
        run_rkt(data_dir, "stop", "--force", uuid, timeout=60)
    for uuid in running:
        run_rkt(data_dir, "status", "--wait=20s", uuid, timeout=60)


def cleanup(data_dir: str) -> None:
    """Stop what still runs, gc every pod (grace 0), and check nothing stays mounted under the test's dir."""
    stop_running(data_dir)
    run_rkt(data_dir, "gc", "--grace-period=0s", "--expire-prepared=0s", timeout=60)
    with open("/proc/self/mountinfo") as f:
        left = [line.split()[4] for line in f if data_dir in line.split()[4]]
    for m in left:
        subprocess.run(["umount", "-l", m], check=False)
    shutil.rmtree(data_dir, ignore_errors=True)
    assert not left, f"mounts left behind: {left}"


def pod_json(data_dir: str, uuid: str) -> dict[str, object]:
    r = run_rkt(data_dir, "cat-manifest", uuid)
    assert r.code == 0, r.err
    return json.loads(r.out)  # type: ignore[no-any-return]
