"""Security: the capability sets a container process really gets, from the config's side.

containerd writes a pod's `drop: [ALL]` as `"process": {"capabilities": {}}`:
every set absent. The runtime spec and runc read an absent set (and an absent
`capabilities` object) as the EMPTY set; reading an absent `bounding` as "leave
it" hands uid 0 every capability back at its first execve. Each case reads
/proc/self/status in a process the container execs, with noNewPrivileges off
(containerd's default, and the case where the bounding set is all that stands
between root and a full permitted set), and compares with the same config
under Debian's runc when it is installed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, Callable

import pytest

pytestmark = pytest.mark.root

Bundle = Callable[..., str]
STATUS = ["sh", "-c", "cat /proc/self/status"]
KILL, NET_BIND, SYS_ADMIN = 1 << 5, 1 << 10, 1 << 21
SETS = ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")
ZERO = dict.fromkeys(SETS, 0)
FULL = (1 << (int(Path("/proc/sys/kernel/cap_last_cap").read_text()) + 1)) - 1
RUNC_DEFAULT = (1 << 29) | KILL | NET_BIND  # `runc spec`: CAP_AUDIT_WRITE, CAP_KILL, CAP_NET_BIND_SERVICE


def caps_of(text: str) -> dict[str, int]:
    return {line.split(":")[0]: int(line.split()[1], 16) for line in text.splitlines() if line.startswith(SETS)}


@pytest.fixture
def runc_rt(rt: Any, tmp_path: Path) -> Any:
    """Debian's runc with a private root (packages.apt: missing fails, tests/toolcheck.py)."""
    from toolcheck import need_tools

    need_tools("runc")
    binary = shutil.which("runc")
    assert binary is not None
    runtime = type(rt)(str(tmp_path / "runc-state"), binary)  # conftest's Runtime (a module name other conftests share)
    yield runtime
    runtime.cleanup()


def capability_bundle(bundle: Bundle, rootfs: str, caps: Any, user: dict[str, int] | None = None) -> str:
    process: dict[str, Any] = {"noNewPrivileges": False}
    if user:
        process["user"] = user
    path = bundle(STATUS, rootfs=rootfs, process=process)  # rootfs by absolute path: runc refuses a symlink
    cfg = json.loads((Path(path) / "config.json").read_text())
    if caps == "absent":
        del cfg["process"]["capabilities"]
    else:
        cfg["process"]["capabilities"] = caps
    (Path(path) / "config.json").write_text(json.dumps(cfg))
    return path


def run_both(rt: Any, runc_rt: Any, path: str) -> tuple[subprocess.CompletedProcess[str], subprocess.CompletedProcess[str] | None]:
    ours = rt("run", "--bundle", path, "caps")
    theirs = runc_rt("run", "--bundle", path, "caps") if runc_rt is not None else None
    return ours, theirs


# (config's capabilities, what the process must have); None: refused, as runc refuses it
CASES: dict[str, tuple[Any, dict[str, int] | None]] = {
    "absent": ("absent", ZERO),
    "empty": ({}, ZERO),
    "all-null": (dict.fromkeys(("bounding", "effective", "permitted", "inheritable", "ambient")), ZERO),
    # a control: with only bounding, execve as root fills permitted/effective from it
    "only-bounding": ({"bounding": ["CAP_KILL"]}, {**ZERO, "CapBnd": KILL, "CapPrm": KILL, "CapEff": KILL}),
    "only-permitted": ({"permitted": ["CAP_KILL"]}, ZERO),
    "only-ambient": ({"ambient": ["CAP_KILL"]}, ZERO),
    "effective-and-permitted": ({"effective": ["CAP_KILL"], "permitted": ["CAP_KILL"]}, ZERO),
    # capset refuses an inheritable capability outside the (now empty) bounding set; runc too
    "only-inheritable": ({"inheritable": ["CAP_KILL"]}, None),
    "only-effective": ({"effective": ["CAP_KILL"]}, None),
}


@pytest.mark.parametrize("case", list(CASES))
def test_absent_capability_sets_are_empty(rt: Any, runc_rt: Any, bundle: Bundle, busybox_rootfs: str, case: str) -> None:
    caps, want = CASES[case]
    ours, theirs = run_both(rt, runc_rt, capability_bundle(bundle, busybox_rootfs, caps))
    if want is None:
        assert ours.returncode != 0 and "Operation not permitted" in ours.stderr, ours.stdout
        assert len(ours.stderr.strip().splitlines()) == 1, ours.stderr
        if theirs is not None:
            assert theirs.returncode != 0, theirs.stdout
        return
    assert ours.returncode == 0, ours.stderr
    assert caps_of(ours.stdout) == want
    if theirs is not None:
        assert theirs.returncode == 0, theirs.stderr
        assert caps_of(theirs.stdout) == want


@pytest.mark.parametrize("case", ["absent", "empty"])
def test_absent_capabilities_as_a_non_root_user(rt: Any, runc_rt: Any, bundle: Bundle, busybox_rootfs: str, case: str) -> None:
    caps = CASES[case][0]
    ours, theirs = run_both(rt, runc_rt, capability_bundle(bundle, busybox_rootfs, caps, user={"uid": 1000, "gid": 1000}))
    assert ours.returncode == 0, ours.stderr
    assert caps_of(ours.stdout) == ZERO
    if theirs is not None:
        assert caps_of(theirs.stdout) == ZERO


# -- exec: --process and the flags -------------------------------------------------


def exec_caps(r: Any, args: list[str]) -> dict[str, int]:
    p = r("exec", *args)
    assert p.returncode == 0, p.stderr
    return caps_of(p.stdout)


@pytest.mark.parametrize("container_caps", ["default", "empty", "absent"])
def test_exec_capabilities(rt: Any, runc_rt: Any, bundle: Bundle, busybox_rootfs: str, tmp_path: Path, container_caps: str) -> None:
    """exec --process: an absent `capabilities` takes the container's (runc), `{}` is the empty
    sets; exec with flags takes the container's; --cap adds to bounding, effective, permitted and
    ambient but never to inheritable (runc's fix for CVE-2022-29162)."""
    path = bundle(["sleep", "1000"], rootfs=busybox_rootfs, process={"noNewPrivileges": False})
    cfg = json.loads((Path(path) / "config.json").read_text())
    base = {"default": RUNC_DEFAULT, "empty": 0, "absent": 0}[container_caps]
    if container_caps == "empty":
        cfg["process"]["capabilities"] = {}
    elif container_caps == "absent":
        del cfg["process"]["capabilities"]
    (Path(path) / "config.json").write_text(json.dumps(cfg))
    processes = {}
    for name, caps in (("absent", None), ("empty", {}), ("bounding", {"bounding": ["CAP_KILL"]})):
        proc: dict[str, Any] = {"args": STATUS, "cwd": "/", "env": ["PATH=/bin"], "user": {"uid": 0, "gid": 0}}
        if caps is not None:
            proc["capabilities"] = caps
        processes[name] = str(tmp_path / f"process-{name}.json")
        Path(processes[name]).write_text(json.dumps(proc))
    runtimes = [rt] + ([runc_rt] if runc_rt is not None else [])
    for r in runtimes:
        assert r("run", "-d", "--bundle", path, "ex").returncode == 0
        same = {"CapInh": 0, "CapPrm": base, "CapEff": base, "CapBnd": base, "CapAmb": 0}
        assert exec_caps(r, ["--process", processes["absent"], "ex"]) == same, r.binary
        assert exec_caps(r, ["--process", processes["empty"], "ex"]) == ZERO, r.binary
        assert exec_caps(r, ["--process", processes["bounding"], "ex"]) == {**ZERO, "CapBnd": KILL, "CapPrm": KILL, "CapEff": KILL}
        assert exec_caps(r, ["ex", *STATUS]) == same, r.binary
        if not (container_caps == "absent" and r is runc_rt):  # runc 1.1.5 panics on --cap without a capabilities object
            plus = base | SYS_ADMIN
            assert exec_caps(r, ["--cap", "CAP_SYS_ADMIN", "ex", *STATUS]) == {"CapInh": 0, "CapPrm": plus, "CapEff": plus, "CapBnd": plus, "CapAmb": 0}
        assert r("delete", "--force", "ex").returncode == 0
    assert os.listdir(rt.root) == []
