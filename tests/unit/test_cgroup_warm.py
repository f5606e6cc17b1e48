"""The early cgroup.procs write (pyrkt.linux.cgroups.warm): which file, that it
happens in `create`'s fast lane, and that it moves the process nowhere."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pyrkt.linux.cgroups.warm import own_procs_files

SRC = str(Path(__file__).resolve().parents[2] / "src")
RUNTIME = str(Path(sys.executable).parent / "pyrkt-runtime")


def test_own_procs_files_hybrid_v1_v2() -> None:
    text = "9:name=systemd:/\n4:memory:/a/b\n2:cpu,cpuacct:/\n0::/user.slice/x\n"
    assert own_procs_files(text) == [
        "/sys/fs/cgroup/unified/user.slice/x/cgroup.procs",
        "/sys/fs/cgroup/user.slice/x/cgroup.procs",
        "/sys/fs/cgroup/systemd/cgroup.procs",
        "/sys/fs/cgroup/memory/a/b/cgroup.procs",
        "/sys/fs/cgroup/cpu/cgroup.procs",
    ]


def test_own_procs_files_refuses_odd_paths() -> None:
    assert own_procs_files("0::/../../etc\n1:cpu:relative\ngarbage\n") == []


@pytest.mark.root
def test_the_write_happens_and_moves_the_process_nowhere() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    code = textwrap.dedent(
        """
        import sys
        sys.path.insert(0, %r)
        before = open("/proc/self/cgroup").read()
        from pyrkt.linux.cgroups import warm as cgroup_warm
        assert cgroup_warm.start()
        cgroup_warm.wait()
        after = open("/proc/self/cgroup").read()
        print(cgroup_warm.written[0])
        print(before == after)
        """
        % SRC
    )
    res = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stderr
    path, same = res.stdout.split()
    assert path.endswith("/cgroup.procs") and path in own_procs_files(open("/proc/self/cgroup").read())
    assert same == "True"


@pytest.mark.root
def test_create_fast_lane_writes_its_own_pid_into_its_own_cgroup(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    from toolcheck import need_tools

    need_tools("strace")
    from pyrkt.devtools.busybox import build_bundle

    bundle = build_bundle(str(tmp_path / "b"), ["/bin/true"])
    root = str(tmp_path / "state")
    log = str(tmp_path / "trace")
    res = subprocess.run(["strace", "-f", "-qq", "-e", "trace=openat,write", "-o", log, RUNTIME, "--root", root, "run", "-d", "--bundle", bundle, "warm1"],
                         capture_output=True, text=True, timeout=60)
    try:
        assert res.returncode == 0, res.stderr
        lines = open(log).read().splitlines()
        runtime_pid = lines[0].split()[0]
        own = own_procs_files(open(f"/proc/{os.getpid()}/cgroup").read())  # strace's child runs in our cgroups
        opened = [ln for ln in lines if "cgroup.procs" in ln and "O_WRONLY" in ln]
        assert opened and any(f'"{p}"' in opened[0] for p in own), opened  # the first write is the early one, to its own cgroup
        fd = opened[0].rsplit("= ", 1)[1].strip()
        assert any(f'write({fd}, "{runtime_pid}"' in ln for ln in lines)  # its own pid, from another thread
    finally:
        subprocess.run([RUNTIME, "--root", root, "delete", "--force", "warm1"], capture_output=True, timeout=30)
