"""`rkt run` hands its plan and OCI configs on in memory: the files are written, never read back.

Checked on the installed command's system calls (`strace -f`): in `rkt run`
the pod's runtime.json and each app's config.json are opened for writing only;
`rkt run-prepared` reads runtime.json (the prepared plan) once and never reads
a config.json. Before the typed pipeline, `rkt run` read both back.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

BIN = os.path.join(sys.prefix, "bin")
pytestmark = pytest.mark.root  # strace is in packages.apt: missing, the test fails


def _opens(rkt, tmp_path, *args: str) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    """{pod file name: [open flags, …]} for runtime.json / config.json opened by the installed rkt."""
    log = str(tmp_path / "strace.log")
    p = subprocess.run(["strace", "-f", "-qq", "-e", "trace=openat,open", "-o", log, os.path.join(BIN, "rkt"),
                        "--dir", rkt.dir, *args], capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert p.returncode == 0, p.stderr
    out: dict[str, list[str]] = {"runtime.json": [], "config.json": []}
    with open(log) as f:
        for line in f:
            for name in out:
                if f'/{name}"' in line and "/pods/" in line:
                    out[name].append(line.split(", ", 2)[2].split(")")[0])
    return out


def test_rkt_run_writes_the_plan_and_configs_without_reading_them(rkt, tmp_path):  # type: ignore[no-untyped-def]
    opens = _opens(rkt, tmp_path, "run", "--net=host", "example.com/busybox", "--exec", "/bin/true",
                   "example.com/busybox", "--name=second", "--exec", "/bin/true")
    assert len(opens["config.json"]) == 2, opens  # written, one per app (runtime.json: under a temp name, renamed)
    for name, flags in opens.items():
        assert all("O_WRONLY" in f or "O_RDWR" in f for f in flags), (name, flags)  # never opened to read
    pods = os.path.join(rkt.dir, "pods", "run")
    (uuid,) = os.listdir(pods)
    assert os.path.getsize(os.path.join(pods, uuid, "runtime.json")) > 0  # still written, for later readers


def test_run_prepared_reads_the_plan_once_and_no_config(rkt, tmp_path):  # type: ignore[no-untyped-def]
    r = rkt("prepare", "--quiet", "--net=host", "example.com/busybox", "--exec", "/bin/true")
    assert r.code == 0, r.err
    opens = _opens(rkt, tmp_path, "run-prepared", r.out.strip())
    reads = [f for f in opens["runtime.json"] if f.startswith("O_RDONLY")]
    assert len(reads) == 1, opens
    assert opens["config.json"] and all("O_WRONLY" in f for f in opens["config.json"]), opens
