"""The tier's own cleanup: a test that fails with its pod still running must not leak the pod's
networks (the fixture used to delete the data dir under the live pod, and its masquerade rule and
IPAM lease stayed on the host for good)."""

from __future__ import annotations

import os
import subprocess
import time

import pytest
from netfixtures import cleanup, copy_store, run_rkt

from podfixtures import spawn_rkt

pytestmark = pytest.mark.root


def _traces(uuid: str) -> list[str]:
    """What of the pod is on the host: its NAT rules (named by uuid) and its leases (naming it)."""
    rules = [r for r in subprocess.run(["iptables", "-w", "-t", "nat", "-S"], capture_output=True, text=True,
                                       check=True).stdout.splitlines() if uuid in r]
    leases_dir = "/var/lib/cni/rkt/default"
    leases = []
    for name in os.listdir(leases_dir) if os.path.isdir(leases_dir) else []:
        try:
            with open(os.path.join(leases_dir, name)) as f:
                if uuid in f.read():
                    leases.append(name)
        except OSError:
            pass
    return rules + leases


def test_cleanup_stops_a_pod_left_running(net_template, tmp_path) -> None:  # type: ignore[no-untyped-def]
    data = copy_store(net_template, str(tmp_path / "rkt"))
    uuid_file = str(tmp_path / "uuid")
    pod = spawn_rkt(data, "run", f"--uuid-file-save={uuid_file}", "example.com/web:1.0")
    try:
        deadline = time.monotonic() + 30
        while not (os.path.exists(uuid_file) and os.path.getsize(uuid_file)) and time.monotonic() < deadline:
            time.sleep(0.05)
        uuid = open(uuid_file).read().strip()
        assert run_rkt(data, "status", "--wait-ready=20s", uuid).code == 0
        assert _traces(uuid), "the pod is not on the default network"
        cleanup(data)  # as the fixture does after a failed test
        pod.wait(timeout=30)
        assert _traces(uuid) == []
    finally:
        if pod.poll() is None:  # SIGTERM first: rkt run then stops the pod and removes its networks
            pod.terminate()
            try:
                pod.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pod.kill()
                pod.wait()
