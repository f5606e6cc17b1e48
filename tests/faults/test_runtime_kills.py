"""SIGKILL at sampled state-changing syscalls of pyrkt-runtime create, run and delete, then the invariants:
list works, `delete --force` removes what is left, and no state dir, cgroup or container process stays."""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess

import pytest
from killpoints import kill_points, run_killed, sample
from toolcheck import need_tools

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUNTIME = os.path.join(ROOT, ".venv", "bin", "pyrkt-runtime")
need_tools("strace")  # fails the run when missing (tests/toolcheck.py)


def _bundle(fault_template: str, dest: str) -> str:
    rootfs = sorted(glob.glob(os.path.join(fault_template, "cas", "tree", "sha512-*", "rootfs")))[0]
    os.makedirs(dest)
    subprocess.run([RUNTIME, "spec"], cwd=dest, check=True)
    with open(os.path.join(dest, "config.json")) as f:
        cfg = json.load(f)
    cfg["root"] = {"path": rootfs, "readonly": True}
    cfg["process"]["args"] = ["/bin/true"]
    cfg["process"]["terminal"] = False
    with open(os.path.join(dest, "config.json"), "w") as f:
        json.dump(cfg, f)
    return rootfs


def _rt(root: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([RUNTIME, "--root", root, *args], capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)


def _leftovers(cid: str, rootfs: str) -> list[str]:
    # no cgroupsPath: the cgroup is the id, under the runtime's own cgroup (as runc's)
    left = glob.glob(f"/sys/fs/cgroup/**/{cid}", recursive=True)
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if os.readlink(f"/proc/{pid}/root") == rootfs:
                    left.append(f"process {pid}")
            except OSError:
                pass
    return left


@pytest.mark.parametrize("verb", ["create", "run", "delete"])
def test_killed_runtime_verb_leaves_nothing(verb, fault_template, tmp_path) -> None:  # type: ignore[no-untyped-def]
    bundle = str(tmp_path / "bundle")
    rootfs = _bundle(fault_template, bundle)
    env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")}

    def argv(root: str, cid: str) -> list[str]:
        if verb == "delete":
            # no pipes: the created init keeps its stdio until started
            assert subprocess.run([RUNTIME, "--root", root, "create", "--bundle", bundle, cid], stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60).returncode == 0
            return [RUNTIME, "--root", root, "delete", "--force", cid]
        return [RUNTIME, "--root", root, verb, "--bundle", bundle, cid]

    def unblocker(root: str, cid: str):  # type: ignore[no-untyped-def]
        # a created init waits for start: let it run /bin/true and end, so strace ends
        return lambda: _rt(root, "start", cid) if verb == "create" else None

    cid = f"kf{os.getpid()}x0"
    root = str(tmp_path / "root0")
    points = kill_points(argv(root, cid), env, str(tmp_path), unblocker(root, cid))
    _rt(root, "delete", "--force", cid)
    chosen = sample(points, "runtime-" + verb)
    print(f"\nruntime {verb}: {len(points)} kill points, trying {chosen}")
    for i, point in enumerate(chosen, 1):
        cid = f"kf{os.getpid()}x{i}"
        root = str(tmp_path / f"root{i}")
        run_killed(argv(root, cid), env, point, unblocker(root, cid))
        label = f"runtime {verb} killed at {point[0]} #{point[1]}"
        r = _rt(root, "list")
        assert r.returncode == 0 and "Traceback" not in r.stderr, f"{label}: {r.stderr}"
        if os.path.exists(os.path.join(root, cid)):
            r = _rt(root, "delete", "--force", cid)
            assert r.returncode == 0 and "Traceback" not in r.stderr, f"{label}: {r.stderr}"
        assert not os.path.exists(os.path.join(root, cid)), label
        assert not _leftovers(cid, rootfs), f"{label}: left {_leftovers(cid, rootfs)}"
