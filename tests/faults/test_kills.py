"""SIGKILL at sampled state-changing syscalls of each store-changing rkt command, then the invariants.

After each kill: list, status and image list work; gc twice and image gc
complete; nothing of the killed command stays mounted or in cas/tmp; nothing
of its pods' networks (the default network: no --net) stays: no ipMasq rule,
IPAM lease, veth or netns mount (faultnet), and no process (an orphan pod
init); a new run gives the right content. The points tried are printed (pytest -s) so a
failure names its syscall and count.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from faultnet import leases_of, net_traces, pod_uuids, processes_of, veths_of
from killpoints import kill_points, run_killed, sample
from podfixtures import RKT, SRC, copy_store
from toolcheck import need_tools

need_tools("strace")  # fails the run when missing (tests/toolcheck.py)
GC = ["gc", "--grace-period=0s", "--expire-prepared=0s"]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": SRC, "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")}


def _rkt(data: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*RKT, "--dir", data, *args], env=_env(), capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)


def _ok(p: subprocess.CompletedProcess[str], what: str) -> None:
    assert p.returncode == 0, f"{what}: {p.stderr}"
    assert "Traceback" not in p.stderr + p.stdout, f"{what}: {p.stderr}"


def _mounts_under(data: str) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(data)]


def _check_invariants(data: str, label: str, aci: str) -> None:
    uuids = pod_uuids(data)  # the killed command's pods, and what their networks hold, before gc
    veths = veths_of([a for u in uuids for a in leases_of(u).values()])
    for args in (["list"], ["image", "list"], GC, GC, ["image", "gc"]):
        _ok(_rkt(data, *args), f"{label}: rkt {' '.join(args)}")
    assert not _mounts_under(data), f"{label}: mounts left: {_mounts_under(data)}"
    assert not net_traces(uuids, veths), f"{label}: left of the pod's networks: {net_traces(uuids, veths)}"
    assert not processes_of(data), f"{label}: processes left (an orphan pod init?): {processes_of(data)}"
    tmp = os.path.join(data, "cas", "tmp")
    left = [n for n in os.listdir(tmp) if not n.startswith("dl-")] if os.path.isdir(tmp) else []
    assert not left, f"{label}: cas/tmp left: {left}"
    pods = os.path.join(data, "pods")
    for state in os.listdir(pods) if os.path.isdir(pods) else []:
        if state not in ("prepared",):
            assert not os.listdir(os.path.join(pods, state)), f"{label}: pods/{state} not collected"
    _ok(_rkt(data, "--insecure-options=image", "fetch", aci), f"{label}: fetch again")  # image gc may have taken it
    r = _rkt(data, "--insecure-options=image", "run", "example.com/busybox")
    _ok(r, f"{label}: a new run")
    assert "hello from busybox" in r.stdout, f"{label}: {r.stdout!r}"


def _setup(command: str, data: str) -> list[str]:
    """Prepare the store for `command`; the argv to kill."""
    base = [*RKT, "--dir", data, "--insecure-options=image"]
    if command == "run":
        return [*base, "run", "example.com/busybox"]
    if command == "prepare":
        return [*base, "prepare", "example.com/busybox"]
    if command == "run-prepared":
        r = _rkt(data, "prepare", "--quiet", "example.com/busybox")
        _ok(r, "prepare")
        return [*base, "run-prepared", r.stdout.strip()]
    if command in ("gc", "rm"):
        r = _rkt(data, "run", "--uuid-file-save=" + data + "/uuid", "example.com/busybox")
        _ok(r, "run")
        if command == "rm":
            return [*base, "rm", open(data + "/uuid").read().strip()]
        return [*base, *GC]
    if command == "image-gc":
        return [*base, "image", "gc", "--grace-period=0s"]
    raise AssertionError(command)


@pytest.mark.parametrize("command", ["fetch", "prepare", "run", "run-prepared", "gc", "rm", "image-gc"])
def test_killed_command_leaves_nothing_trusted(command, fault_template, tmp_path) -> None:  # type: ignore[no-untyped-def]
    aci = os.path.join(os.path.dirname(fault_template), "busybox.aci")

    def fresh(n: int) -> tuple[str, list[str]]:
        data = str(tmp_path / f"rkt{n}")
        if command == "fetch":
            os.makedirs(data)
            argv = [*RKT, "--dir", data, "--insecure-options=image", "fetch", aci]
        else:
            copy_store(fault_template, data)
            argv = _setup(command, data)
        return data, argv

    data, argv = fresh(0)
    points = kill_points(argv, _env(), str(tmp_path))
    assert points, "the command changes state: it has kill points"
    chosen = sample(points, command)
    print(f"\n{command}: {len(points)} kill points, trying {chosen}")
    shutil.rmtree(data, ignore_errors=True)
    for i, point in enumerate(chosen, 1):
        data, argv = fresh(i)
        run_killed(argv, _env(), point)
        label = f"{command} killed at {point[0]} #{point[1]}"
        _check_invariants(data, label, aci)
        _ok(_rkt(data, *GC), "final gc")
        assert not _mounts_under(data)
        shutil.rmtree(data, ignore_errors=True)


# kill points of `rkt run` with its default network up, found in a trace of it: (rename of a
# file, which one). networks.json #3 is written right after the ADD (veth, lease made; the
# masquerade rule not yet), the app's state.json after its container is created, `started`
# as the apps start
NET_POINTS = [("/networks.json.tmp", 3), ("/.state.json.tmp", 1), ("/started.", 1)]


@pytest.mark.parametrize("needle,nth", NET_POINTS, ids=["after-cni-add", "app-created", "apps-starting"])
def test_run_killed_with_its_network_up(needle, nth, fault_template, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from killpoints import point_at

    aci = os.path.join(os.path.dirname(fault_template), "busybox.aci")
    trial = copy_store(fault_template, str(tmp_path / "trial"))
    point = point_at(_setup("run", trial), _env(), str(tmp_path), "rename", needle, nth=nth)
    _ok(_rkt(trial, *GC), "gc")
    shutil.rmtree(trial, ignore_errors=True)
    data = copy_store(fault_template, str(tmp_path / "rkt"))
    run_killed(_setup("run", data), _env(), point)
    uuids = pod_uuids(data)
    assert len(uuids) == 1
    assert leases_of(next(iter(uuids))), "killed with its network up: it holds a lease"
    _check_invariants(data, f"run killed at {point} ({needle} #{nth})", aci)
    _ok(_rkt(data, *GC), "final gc")
