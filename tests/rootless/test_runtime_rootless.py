"""An unprivileged user runs the installed pyrkt-runtime with `spec --rootless` bundles.

Everything runs as the test's own user (see conftest), with no --root: the
state goes under $XDG_RUNTIME_DIR/pyrkt-runtime, as runc's goes under
$XDG_RUNTIME_DIR/runc. Each test asserts what the user sees.
"""

from __future__ import annotations

import json
import os
import time

import pytest

from rlhelpers import RUNTIME, SUBID_SIZE, User

pytestmark = pytest.mark.root


def _state_root(user: User) -> str:
    return os.path.join(user.xdg, "pyrkt-runtime")


def _leftovers(user: User) -> list[str]:
    root = _state_root(user)
    return sorted(os.listdir(root)) if os.path.isdir(root) else []


def _wait_status(user: User, cid: str, want: str) -> dict[str, object]:
    deadline = time.monotonic() + 20
    while True:
        res = user.run(RUNTIME, "state", cid)
        assert res.returncode == 0, res.stderr
        doc: dict[str, object] = json.loads(res.stdout)
        if doc["status"] == want or time.monotonic() > deadline:
            assert doc["status"] == want
            return doc
        time.sleep(0.1)


def _maps(uid: int, subid: int) -> list[dict[str, int]]:
    return [{"containerID": 0, "hostID": uid, "size": 1}, {"containerID": 1, "hostID": subid, "size": SUBID_SIZE}]


def test_spec_rootless_maps_the_caller(rl_user: User, rl_bundle) -> None:  # type: ignore[no-untyped-def]
    bundle = rl_bundle(["true"])
    with open(os.path.join(bundle, "config.json")) as f:
        linux = json.load(f)["linux"]
    assert linux["uidMappings"] == [{"containerID": 0, "hostID": rl_user.uid, "size": 1}]
    assert linux["gidMappings"] == [{"containerID": 0, "hostID": rl_user.gid, "size": 1}]
    types = {ns["type"] for ns in linux["namespaces"]}
    assert "user" in types and "network" not in types


def test_run_as_the_user_in_the_foreground(rl_user: User, rl_bundle) -> None:  # type: ignore[no-untyped-def]
    bundle = rl_bundle(["sh", "-c", "id; cat /proc/self/uid_map /proc/self/setgroups; echo x > /dev/null && ls -ln /dev/null; exit 3"])
    res = rl_user.run(RUNTIME, "run", "rl-fg", cwd=bundle)
    assert res.returncode == 3, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].startswith("uid=0(root) gid=0(root)")
    assert lines[1].split() == ["0", str(rl_user.uid), "1"]
    assert lines[2] == "deny"  # a single own-gid map: setgroups denied, as runc does
    # /dev/null is the host's node, bind-mounted (mknod needs CAP_MKNOD in the initial namespace)
    assert lines[3].split()[4:6] == ["1,", "3"]
    assert _leftovers(rl_user) == []  # the state lived under $XDG_RUNTIME_DIR and is gone


def test_lifecycle_with_subordinate_ids(rl_user: User, rl_bundle) -> None:  # type: ignore[no-untyped-def]
    maps = _maps(rl_user.uid, rl_user.subid)
    bundle = rl_bundle(["sleep", "1000"], linux__uidMappings=maps, linux__gidMappings=maps)
    cid = "rl-cycle"
    try:
        res = rl_user.run(RUNTIME, "create", cid, cwd=bundle)
        assert res.returncode == 0, res.stderr
        assert os.path.isdir(os.path.join(_state_root(rl_user), cid))
        doc = _wait_status(rl_user, cid, "created")
        pid = int(str(doc["pid"]))
        with open(f"/proc/{pid}/uid_map") as f:  # written by newuidmap from /etc/subuid
            assert [line.split() for line in f] == [["0", str(rl_user.uid), "1"], ["1", str(rl_user.subid), str(SUBID_SIZE)]]
        assert rl_user.run(RUNTIME, "start", cid).returncode == 0
        _wait_status(rl_user, cid, "running")

        res = rl_user.run(RUNTIME, "exec", "--user", "1000:1000", cid, "sh", "-c", "id -u; id -g; cat /proc/1/cmdline")
        assert res.returncode == 0, res.stderr
        assert res.stdout.split("\n")[:2] == ["1000", "1000"]
        assert res.stdout.split("\n")[2].startswith("sleep")
        assert rl_user.run(RUNTIME, "exec", cid, "sh", "-c", "exit 6").returncode == 6
        pid_file = os.path.join(bundle, "exec.pid")
        res = rl_user.run(RUNTIME, "exec", "-d", "--pid-file", pid_file, "--user", "1000:1000", cid, "sleep", "1000")
        assert res.returncode == 0, res.stderr
        with open(pid_file) as f:
            exec_pid = int(f.read())
        # the host sees container uid 1000 as the subordinate id subid+999
        assert os.stat(f"/proc/{exec_pid}").st_uid == rl_user.subid + 999

        res = rl_user.run(RUNTIME, "list")
        assert cid in res.stdout and "running" in res.stdout
        assert rl_user.run(RUNTIME, "kill", cid, "KILL").returncode == 0
        _wait_status(rl_user, cid, "stopped")
        res = rl_user.run(RUNTIME, "delete", cid)
        assert res.returncode == 0, res.stderr
        assert _leftovers(rl_user) == []
        res = rl_user.run(RUNTIME, "state", cid)
        assert res.returncode == 1 and "does not exist" in res.stderr
    finally:
        rl_user.run(RUNTIME, "delete", "--force", cid)


def test_a_limit_that_cannot_be_applied_is_one_clear_error(rl_user: User, rl_bundle) -> None:  # type: ignore[no-untyped-def]
    bundle = rl_bundle(["true"], linux__resources={"memory": {"limit": 64 << 20}})
    res = rl_user.run(RUNTIME, "run", "rl-limit", cwd=bundle)
    assert res.returncode == 1
    assert res.stderr.count("\n") == 1 and "Traceback" not in res.stderr
    assert "cannot set memory limit: container could not join or create cgroup" in res.stderr
    assert _leftovers(rl_user) == []


def test_an_explicit_cgroups_path_that_cannot_be_created_is_an_error(rl_user: User, rl_bundle) -> None:  # type: ignore[no-untyped-def]
    bundle = rl_bundle(["true"], linux__cgroupsPath="/pyrkt-rl-not-mine/c1")
    res = rl_user.run(RUNTIME, "run", "rl-cgpath", cwd=bundle)
    assert res.returncode == 1
    assert "cannot create cgroup" in res.stderr and "Permission denied" in res.stderr
    assert res.stderr.count("\n") == 1
    assert _leftovers(rl_user) == []


def test_a_delegated_cgroup2_subtree_is_used(rl_user: User, rl_bundle) -> None:  # type: ignore[no-untyped-def]
    from pyrkt.linux.cgroups import detect_layout

    v2 = [h for h in detect_layout().hierarchies if h.is_v2]
    if not v2:
        pytest.skip("no cgroup2 hierarchy mounted")
    h = v2[0]
    # what systemd's Delegate=yes does for user@UID.service: a subtree the user owns
    delegated = h.host_dir(os.path.join(h.own, f"pyrkt-rl-deleg-{os.getpid()}"))
    os.mkdir(delegated)
    try:
        for name in ("", "cgroup.procs", "cgroup.subtree_control", "cgroup.threads"):
            os.chown(os.path.join(delegated, name), rl_user.uid, rl_user.gid)
        bundle = rl_bundle(["sleep", "1000"])
        cid = "rl-deleg"
        res = rl_user.run(RUNTIME, "run", "-d", cid, cwd=bundle, cgroup=delegated)
        assert res.returncode == 0, res.stderr
        try:
            pid = int(str(_wait_status(rl_user, cid, "running")["pid"]))
            with open(f"/proc/{pid}/cgroup") as f:
                unified = [line.strip() for line in f if line.startswith("0::")][0]
            inner = unified[3:]
            assert os.path.dirname(inner) == os.path.join(h.own, os.path.basename(delegated)).rstrip("/")
            assert os.path.basename(inner).endswith(cid)
            child = os.path.join(delegated, os.path.basename(inner))
            assert os.stat(child).st_uid == rl_user.uid  # created by the user, in its subtree
        finally:
            assert rl_user.run(RUNTIME, "delete", "--force", cid).returncode == 0
        assert [e for e in os.listdir(delegated) if os.path.isdir(os.path.join(delegated, e))] == []
    finally:
        for _ in range(50):
            try:
                os.rmdir(delegated)
                break
            except OSError:
                time.sleep(0.1)  # the user's shell leaves it as it exits


def test_bad_rootless_value_and_no_writable_default_root(rl_user: User, rl_bundle) -> None:  # type: ignore[no-untyped-def]
    res = rl_user.run(RUNTIME, "--rootless", "maybe", "list")
    assert res.returncode == 1 and res.stderr == "pyrkt-runtime: invalid --rootless value 'maybe': use true, false or auto\n"
    env = {k: v for k, v in rl_user.env.items() if k != "XDG_RUNTIME_DIR"}
    res = rl_user.run(RUNTIME, "run", "rl-noxdg", env=env, cwd=rl_bundle(["true"]))
    assert res.returncode == 1
    assert res.stderr == "pyrkt-runtime: /run/pyrkt-runtime/rl-noxdg: Permission denied\n"
