"""clone3(CLONE_INTO_CGROUP) on a cgroup v2 host: the init is born in its cgroup.

This machine is v1 hybrid, so the v2 host is made for the test: a private
mount namespace (unshare -m) in which /sys/fs/cgroup is a fresh cgroup2
mount. The installed pyrkt-runtime runs there; strace shows the clone3 call
and that no cgroup.procs was written for the init, /proc/PID/cgroup where it
landed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

RUNTIME = str(Path(sys.executable).parent / "pyrkt-runtime")

pytestmark = pytest.mark.root

SCRIPT = r"""
set -e
umount -R /sys/fs/cgroup
mount -t cgroup2 none /sys/fs/cgroup
R="$1"; ROOT="$2"; BUNDLE="$3"; TRACE="$4"; A="$5"; B="$6"
strace -qq -e trace=clone,clone3,openat,write -o "$TRACE" "$R" --root "$ROOT" run -d --bundle "$BUNDLE" "$A"
"$R" --root "$ROOT" delete --force "$A"
"$R" --root "$ROOT" run -d --bundle "$BUNDLE" "$B"
"$R" --root "$ROOT" state "$B" > "$ROOT.state"
pid=$(sed -n 's/.*"pid": \([0-9]*\).*/\1/p' "$ROOT.state")
grep '^0::' /proc/$pid/cgroup > "$ROOT.cgroup"
"$R" --root "$ROOT" delete --force "$B"
"""


def test_init_is_cloned_into_its_cgroup(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    from toolcheck import need_tools

    need_tools("unshare", "strace")
    if not any(line.split()[2] == "cgroup2" for line in open("/proc/self/mounts")):
        pytest.skip("the kernel has no cgroup2 hierarchy")
    from pyrkt.devtools.busybox import build_bundle

    bundle = build_bundle(str(tmp_path / "b"), ["sleep", "1000"])
    root = str(tmp_path / "state")
    trace = str(tmp_path / "trace")
    # unique ids: without cgroupsPath the cgroup is the id, beside the runtime's own (runc's default on v2)
    ids = [f"c3a-{os.getpid()}", f"c3b-{os.getpid()}"]
    res = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", SCRIPT, "sh", RUNTIME, root, bundle, trace, *ids],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    lines = open(trace).read().splitlines()
    # no early cgroup thread on a v2 host (pyrkt.linux.cgroups.warm): nothing is written to wait for
    assert not any(ln.startswith("clone") and "CLONE_THREAD" in ln for ln in lines)
    clones = [ln for ln in lines if ln.startswith("clone")]
    assert len(clones) == 1 and clones[0].startswith("clone3(") and "CLONE_INTO_CGROUP" in clones[0], clones
    init_pid = clones[0].rsplit("= ", 1)[1].strip()
    assert not any(ln.startswith("write(") and f'"{init_pid}"' in ln for ln in lines)  # never moved by a write
    state = json.loads(open(root + ".state").read())
    assert state["status"] == "running"
    cgroup = open(root + ".cgroup").read().strip()
    own = next(line[3:] for line in open("/proc/self/cgroup").read().splitlines() if line.startswith("0::"))
    assert cgroup == "0::" + os.path.join(os.path.dirname(own.rstrip("/")) or "/", ids[1])
