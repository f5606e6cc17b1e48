"""`make demo` is the first thing a new user runs: it must keep working and show what it says."""

from __future__ import annotations

import os
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

pytestmark = pytest.mark.root


def test_demo_runs_pods_with_rkt_run(tmp_path):
    out = tmp_path / "demo"
    env = dict(os.environ, DEMO_OUT=str(out))
    p = subprocess.run(["bash", os.path.join(ROOT, "examples", "demo.sh")], capture_output=True, text=True,
                       env=env, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    text = p.stdout
    assert "Hello from a pyrkt pod!" in text
    assert "hostname: demo" in text
    assert "greeting: set with --set-env" in text
    assert "memory:   64000000 bytes" in text  # rkt's --memory=64M is 64*10^6, as Kubernetes quantities
    assert "reader read: written by writer" in text
    assert "and on the host: written by writer" in text
    assert "rkt run exited with 3" in text
    assert "<h1>Hello from a pyrkt pod on the default network</h1>" in text  # --port, from 127.0.0.1
    assert "default:ip4=172.16.28." in text
    assert text.count("Garbage collecting pod") == 4
    # the demo cleans up after itself: no pod is left mounted
    with open("/proc/self/mounts") as f:
        assert str(out) not in f.read()
