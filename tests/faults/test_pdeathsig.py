"""A create (or `run -d`, or `rkt run`) killed before the container has a record leaves no process.

Until create has written state.json nothing can find the container's init,
so it dies with its parent (PR_SET_PDEATHSIG) until then; after it, it must
outlive create (podman and containerd create, then the runtime exits). The
kill points are found in a trace of the command (the rename that commits
state.json, the `state` message after it, the pod's `pid` file), and the
process that would otherwise get ahead is held back with strace's
delay_enter, so each case is the unlucky order, every time.
"""

from __future__ import annotations

import os
import subprocess
import time

import pytest
from killpoints import point_at, run_killed
from test_runtime_kills import RUNTIME, _bundle, _leftovers, _rt
from toolcheck import need_tools

need_tools("strace")  # fails the run when missing (tests/toolcheck.py)
ENV = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")}


def processes_with(word: str) -> list[int]:
    """Pids whose command line has `word` (a cloned init keeps its creator's)."""
    out = []
    for pid in os.listdir("/proc"):
        if pid.isdigit() and int(pid) != os.getpid():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if word.encode() in f.read().split(b"\0"):
                        out.append(int(pid))
            except OSError:
                pass
    return out


def gone(word: str) -> list[int]:
    """Wait (bounded) for the processes with `word` to end; those left."""
    for _ in range(100):
        left = processes_with(word)
        if not left:
            return []
        time.sleep(0.1)
    return left


def _kill_all(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass


@pytest.mark.parametrize("verb", ["create", "run"])
@pytest.mark.parametrize("case", ["state-rename", "state-message"])
def test_runtime_killed_before_state_leaves_no_init(verb, case, fault_template, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """state-rename: create is killed at the rename that commits state.json, its open of the
    temp file held back 0.4 s so that the init has sent `ready` and waits on the exec socket
    (before the parent-death signal that init lived on for ever). state-message: killed as it
    tells the init that the record is written (the init then dies with it: a stopped
    container delete removes)."""
    bundle = str(tmp_path / "bundle")
    rootfs = _bundle(fault_template, bundle)
    root = str(tmp_path / "root")
    cid = f"pd{os.getpid()}{verb}{case[6]}"

    def argv(c: str) -> list[str]:
        return [RUNTIME, "--root", root, verb, *(["-d"] if verb == "run" else []), "--bundle", bundle, c]

    if case == "state-rename":
        point = ("rename", 1)
        extra: tuple[str, ...] = ("-P", os.path.join(root, cid, ".state.json.tmp"), "-e", "inject=openat:delay_enter=400000")
    else:
        trial = cid + "t"
        point = point_at(argv(trial), ENV, str(tmp_path), "sendto", '\\"state\\"',
                         (lambda: _rt(root, "start", trial)) if verb == "create" else None)
        _rt(root, "delete", "--force", trial)
        extra = ()
    try:
        run_killed(argv(cid), ENV, point, extra=extra, also=("openat",) if extra else (), timeout=20)
    except AssertionError:
        pass  # strace waits for an init that lives on: the check below says so
    left = gone(cid)
    _kill_all(left)
    r = _rt(root, "list")
    d = _rt(root, "delete", "--force", cid)  # first: a failure below leaves nothing behind either
    assert not left, f"{verb} killed at {point} ({case}): its init lives on, orphaned: {left}"
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert d.returncode == 0, d.stderr
    assert not os.path.exists(os.path.join(root, cid))
    assert not _leftovers(cid, rootfs)


def test_created_container_outlives_create(fault_template, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The other half: once create returns, its exit must not take the init along (podman, containerd)."""
    bundle = str(tmp_path / "bundle")
    _bundle(fault_template, bundle)
    root = str(tmp_path / "root")
    cid = f"pd{os.getpid()}live"
    p = subprocess.run([RUNTIME, "--root", root, "create", "--bundle", bundle, cid], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
    assert p.returncode == 0
    try:
        # a parent-death signal still armed would have been sent as create exited, before run returned
        r = _rt(root, "state", cid)
        assert '"created"' in r.stdout, r.stdout + r.stderr
        assert processes_with(cid)
        r = _rt(root, "start", cid)
        assert r.returncode == 0, r.stderr
    finally:
        _rt(root, "delete", "--force", cid)


def test_rkt_run_killed_before_pod_pid_leaves_no_pod_init(fault_template, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """`rkt run` killed as it records the pod init's pid, the pod init held back at its first
    prctl (arming its parent-death signal) until then, so it is armed too late for a signal:
    without that record `rkt gc` could not find it, so it must end by itself (it does: its
    `ready` write to the dead parent fails). Then gc cleans the pod."""
    from podfixtures import RKT, copy_store
    from test_kills import GC, _env, _mounts_under, _ok, _rkt

    trial = copy_store(fault_template, str(tmp_path / "trial"))
    argv = [*RKT, "--dir", trial, "--insecure-options=image", "run", "--net=host", "example.com/busybox"]
    point = point_at(argv, _env(), str(tmp_path), "rename", "/pid.")
    _ok(_rkt(trial, *GC), "gc")
    data = copy_store(fault_template, str(tmp_path / "rkt"))
    argv[argv.index(trial)] = data
    try:
        run_killed(argv, _env(), point, extra=("-e", "inject=prctl:delay_enter=500000:when=1"), also=("prctl",), timeout=20)
    except AssertionError:
        pass
    left = gone(data)
    _kill_all(left)
    assert not left, f"rkt run killed at {point}: its pod init lives on, orphaned: {left}"
    for _ in range(2):
        _ok(_rkt(data, *GC), "gc")
    assert not _mounts_under(data)
    pods = os.path.join(data, "pods")
    assert not any(os.listdir(os.path.join(pods, s)) for s in os.listdir(pods)), "a pod left after gc"
