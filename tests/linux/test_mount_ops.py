"""The mount operations of pyrkt.linux.mounts, applied for real in a private mount namespace (root)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.root

SCRIPT = r"""
import os, sys
from pyrkt.linux import syscalls as sc
from pyrkt.linux.mounts import Bind, Overlay, Tmpfs
t = sys.argv[1]
sc.mount(None, "/", None, sc.MS_PRIVATE | sc.MS_REC)  # nothing below reaches the host
Tmpfs(t + "/tmp", "mode=700").apply()
st = os.stat(t + "/tmp")
print("tmpfs", oct(st.st_mode & 0o777))
Bind(t + "/src", t + "/bind").apply(flags=0)
print("bind", open(t + "/bind/file").read())
Overlay(t + "/root", [t + "/low1", t + "/low2"], t + "/upper", t + "/work", volatile=True).apply()
print("overlay", open(t + "/root/f").read(), sorted(os.listdir(t + "/root")))
with open(t + "/root/new", "w") as f:
    f.write("w")
print("upper", sorted(os.listdir(t + "/upper")))
with open("/proc/self/mountinfo") as f:
    print("volatile", any(" " + t + "/root " in line and "volatile" in line for line in f))
"""


def test_tmpfs_bind_and_overlay(tmp_path: Path) -> None:
    for d in ("tmp", "src", "bind", "low1", "low2", "upper", "work", "root"):
        (tmp_path / d).mkdir()
    (tmp_path / "src" / "file").write_text("bound")
    (tmp_path / "low1" / "f").write_text("bottom")
    (tmp_path / "low2" / "f").write_text("top")  # the later layer wins
    (tmp_path / "low1" / "only1").write_text("")
    out = subprocess.run(["unshare", "-m", sys.executable, "-c", SCRIPT, str(tmp_path)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "tmpfs 0o700"
    assert lines[1] == "bind bound"
    assert lines[2] == "overlay top ['f', 'only1']"
    assert lines[3] == "upper ['new']"
    assert lines[4] == "volatile True"
    assert not os.path.ismount(tmp_path / "root")  # the namespace took its mounts with it
