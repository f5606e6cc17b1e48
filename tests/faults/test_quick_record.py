"""The runtime's `quick` record beside state.json, torn or garbled: start and delete take the full
path (or say one line), and never act on what a damaged record says (a directory it names that is
not a cgroup's is never removed, a pid it gets wrong never makes a live container look stopped)."""

from __future__ import annotations

import os
import subprocess

import pytest
from test_runtime_kills import RUNTIME, _bundle, _leftovers, _rt


def _garble(case: str, text: str, outside: str) -> bytes:
    if case == "torn":
        return text[: len(text) // 2].encode()
    if case == "empty":
        return b""
    if case == "not-utf8":
        return b"\xff\xfe" + text.encode()[2:]
    if case == "wrong-pid":
        head, _, rest = text.partition("\n")
        return ("1 " + head.split(" ", 1)[1] + "\n" + rest).encode()  # pid 1: alive, not the init
    if case == "dead-pid":
        head, _, rest = text.partition("\n")
        return ("999999999 " + head.split(" ", 1)[1] + "\n" + rest).encode()
    if case == "not-a-cgroup":
        return (text + outside + "\n").encode()
    raise AssertionError(case)


CASES = ["torn", "empty", "not-utf8", "wrong-pid", "dead-pid", "not-a-cgroup"]


@pytest.mark.parametrize("verb", ["start", "delete"])
@pytest.mark.parametrize("case", CASES)
def test_damaged_quick_record(case, verb, fault_template, tmp_path) -> None:  # type: ignore[no-untyped-def]
    bundle = str(tmp_path / "bundle")
    rootfs = _bundle(fault_template, bundle)
    root = str(tmp_path / "root")
    cid = f"qr{os.getpid()}{CASES.index(case)}{verb[0]}"
    outside = str(tmp_path / "not-a-cgroup")
    os.makedirs(outside)
    # no pipes: the created init keeps its stdio until started
    p = subprocess.run([RUNTIME, "--root", root, "create", "--bundle", bundle, cid], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
    assert p.returncode == 0
    quick = os.path.join(root, cid, "quick")
    try:
        if verb == "delete":
            r = _rt(root, "start", cid)  # runs /bin/true and stops: delete's quick case
            assert r.returncode == 0, r.stderr
        with open(quick) as f:
            text = f.read()
        with open(quick, "wb") as f:
            f.write(_garble(case, text, outside))
        r = _rt(root, verb, cid)
        assert "Traceback" not in r.stderr and "internal error" not in r.stderr, r.stderr
        assert r.returncode == 0 or len(r.stderr.strip().splitlines()) == 1, r.stderr
        if verb == "start":
            assert r.returncode == 0, f"the full path starts it: {r.stderr}"
        else:
            assert r.returncode == 0 and not os.path.exists(os.path.join(root, cid)), r.stderr
        assert os.path.isdir(outside), "a directory the garbled record named was removed"
    finally:
        r = _rt(root, "delete", "--force", cid)
        assert r.returncode == 0, r.stderr
    assert not os.path.exists(os.path.join(root, cid))
    assert not _leftovers(cid, rootfs)


def test_quick_record_of_a_running_container_with_a_dead_pid(fault_template, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A record whose pid is wrong must not let plain `delete` remove a running container's state."""
    bundle = str(tmp_path / "bundle")
    rootfs = _bundle(fault_template, bundle)
    import json

    with open(os.path.join(bundle, "config.json")) as f:
        cfg = json.load(f)
    cfg["process"]["args"] = ["/bin/sleep", "60"]
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(cfg, f)
    root = str(tmp_path / "root")
    cid = f"qr{os.getpid()}run"
    p = subprocess.run([RUNTIME, "--root", root, "run", "-d", "--bundle", bundle, cid], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
    assert p.returncode == 0
    try:
        quick = os.path.join(root, cid, "quick")
        with open(quick) as f:
            text = f.read()
        head, _, _rest = text.partition("\n")
        with open(quick, "w") as f:  # a dead pid and no cgroups: the quick path would see a stopped container
            f.write("999999999 " + head.split(" ", 1)[1] + "\n")
        r = _rt(root, "delete", cid)
        assert r.returncode != 0 and "running" in r.stderr, r.stderr
        assert os.path.exists(os.path.join(root, cid, "state.json"))
    finally:
        _rt(root, "delete", "--force", cid)
    assert not _leftovers(cid, rootfs)
