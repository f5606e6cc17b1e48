"""Seccomp user notification: `linux.seccomp.listenerPath` and SCMP_ACT_NOTIFY, as the runtime spec and runc do them.

A real agent (seccomp_agent.py, a process of the test's own) listens on the socket;
the runtime must send it the notification fd with the container process state while
the container is being created (runc: status "creating", before `start`), and again
for every `exec` (status "running"). The container then sees the agent's answers:
mkdir fails with the errno the agent takes from listenerMetadata, and busybox's
`ionice` prints the value the agent returns for ioprio_get. Each case is run
against Debian's runc too, where the behaviour is runc's.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from clients import wait_for

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.uname().machine not in ("x86_64", "aarch64"), reason="the agent knows x86_64's and arm64's syscall numbers"),
]

Bundle = Callable[..., str]
AGENT = str(Path(__file__).with_name("seccomp_agent.py"))
SCRIPT = "mkdir /tmp/made; echo mkdir=$?; ionice"
EXPECTED = ["mkdir=1", "best-effort: prio 5"]  # the agent's errno (EXDEV: 18) and its ioprio value
EXDEV_TEXT = "Invalid cross-device link"


class Agent:
    def __init__(self, directory: Path) -> None:
        self.path = str(directory / "agent.sock")
        self.log = directory / "agent.log"
        self.log.touch()
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(self.path)
        listener.listen(16)
        self.proc = subprocess.Popen([sys.executable, AGENT, str(listener.fileno()), str(self.log)], pass_fds=[listener.fileno()])
        listener.close()

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def states(self) -> list[dict[str, Any]]:
        return [r for r in self.records() if "state" in r]

    def notifications(self) -> list[str]:
        return [r["notification"] for r in self.records() if "notification" in r]

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[Agent]:
    a = Agent(tmp_path)
    yield a
    a.stop()


def notify_profile(listener: str, metadata: str = "errno=18", **extra: Any) -> dict[str, Any]:
    return {
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": listener,
        "listenerMetadata": metadata,
        "syscalls": [{"names": ["mkdir", "mkdirat", "ioprio_get"], "action": "SCMP_ACT_NOTIFY"}],
        **extra,
    }


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(params=["pyrkt", "runc"])
def runtime(request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue("rt" if request.param == "pyrkt" else "runc")


@pytest.mark.parametrize("nnp", [False, True], ids=["caps-first", "no-new-privs"])
def test_the_agent_gets_the_listener_and_answers(runtime: Any, agent: Agent, bundle: Bundle, busybox_rootfs: str, nnp: bool) -> None:
    """The state the agent gets is the runtime spec's containerProcessState, sent during create."""
    b = bundle(["sh", "-c", SCRIPT], rootfs=busybox_rootfs, process={"noNewPrivileges": nnp}, linux={"seccomp": notify_profile(agent.path)})
    cid = unique("notify")
    runtime("create", "--bundle", b, cid, check=True)
    pid = runtime.state(cid)["pid"]
    # before `start`: the agent has the fd and the state of a container being created
    states = wait_for(agent.states, what="the container process state")
    assert states == [{"fds": 1, "state": {
        "ociVersion": states[0]["state"]["ociVersion"], "fds": ["seccompFd"], "pid": pid, "metadata": "errno=18",
        "state": {"ociVersion": states[0]["state"]["ociVersion"], "id": cid, "status": "creating", "pid": pid, "bundle": b}}}]
    assert agent.notifications() == []
    runtime("start", cid, check=True)
    wait_for(lambda: runtime.state(cid)["status"] == "stopped", what="the container to exit")
    assert sorted(set(agent.notifications())) in (["ioprio_get", "mkdir"], ["ioprio_get", "mkdirat"])
    runtime("delete", cid, check=True)


def test_run_shows_the_agents_answers(runtime: Any, agent: Agent, bundle: Bundle, busybox_rootfs: str) -> None:
    b = bundle(["sh", "-c", SCRIPT], rootfs=busybox_rootfs, linux={"seccomp": notify_profile(agent.path)})
    p = runtime("run", "--bundle", b, unique("notify-run"))
    assert (p.returncode, p.stdout.splitlines()) == (0, EXPECTED), p.stderr
    assert EXDEV_TEXT in p.stderr  # the agent's errno, not EROFS (the root is read-only) nor EEXIST
    assert not os.path.exists(os.path.join(busybox_rootfs, "tmp", "made"))


def test_in_a_user_namespace(runtime: Any, agent: Agent, bundle: Bundle, shared_rootfs: str) -> None:
    """The init loads the filter as root of its own user namespace; the runtime still takes the fd (pidfd_getfd)."""
    maps = [{"containerID": 0, "hostID": 300000, "size": 65536}]
    namespaces = [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount", "user")]
    b = bundle(["sh", "-c", SCRIPT], rootfs=shared_rootfs,
               linux={"seccomp": notify_profile(agent.path), "namespaces": namespaces, "uidMappings": maps, "gidMappings": maps})
    p = runtime("run", "--bundle", b, unique("notify-userns"))
    assert (p.returncode, p.stdout.splitlines()) == (0, EXPECTED), p.stderr
    assert len(agent.states()) == 1


def test_every_exec_hands_its_own_listener_over(runtime: Any, agent: Agent, bundle: Bundle, busybox_rootfs: str) -> None:
    """runc: an exec'd process loads the filter again, and the agent gets that listener, with status running."""
    b = bundle(["sleep", "60"], rootfs=busybox_rootfs, linux={"seccomp": notify_profile(agent.path, "errno=39")})
    cid = unique("notify-exec")
    runtime("run", "-d", "--bundle", b, cid, check=True)
    init_pid = runtime.state(cid)["pid"]
    wait_for(agent.states, what="the init's state")
    p = runtime("exec", cid, "sh", "-c", SCRIPT)
    assert (p.returncode, p.stdout.splitlines()) == (0, EXPECTED), p.stderr
    assert "Directory not empty" in p.stderr  # ENOTEMPTY (39), from this listenerMetadata
    first, second = [r["state"] for r in agent.states()]
    assert first["state"]["status"] == "creating" and first["pid"] == init_pid
    assert second["state"]["status"] == "running" and second["state"]["pid"] == init_pid
    assert second["pid"] not in (0, init_pid) and second["metadata"] == "errno=39"
    runtime("delete", "--force", cid, check=True)


def test_a_cached_program_keeps_its_listener(rt: Any, agent: Agent, bundle: Bundle, busybox_rootfs: str, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The second container's program comes from the seccomp cache: it must still load with a listener."""
    cache = tmp_path / "seccomp-cache"
    monkeypatch.setenv("PYRKT_SECCOMP_CACHE", str(cache))
    b = bundle(["sh", "-c", SCRIPT], rootfs=busybox_rootfs, linux={"seccomp": notify_profile(agent.path)})
    assert rt("run", "--bundle", b, unique("notify-miss"), check=True).stdout.splitlines() == EXPECTED
    entries = sorted(os.listdir(cache))
    assert len(entries) == 1
    mtime = (cache / entries[0]).stat().st_mtime_ns
    assert rt("run", "--bundle", b, unique("notify-hit"), check=True).stdout.splitlines() == EXPECTED
    assert sorted(os.listdir(cache)) == entries and (cache / entries[0]).stat().st_mtime_ns == mtime  # read, not rewritten
    assert len(agent.states()) == 2


def cgroup_dirs(cgroup: str) -> list[Path]:
    """Where the cgroup `cgroup` would be: the v2 tree, or each v1 hierarchy."""
    top = Path("/sys/fs/cgroup")
    rel = cgroup.strip("/")
    return [d for d in [top / rel, *(h / rel for h in top.iterdir() if h.is_dir())] if d.is_dir()]


@pytest.mark.parametrize("case", ["no-listener-path", "unreachable", "default-action", "write"])
def test_refused_in_one_line_leaving_nothing(rt: Any, runc: Any, bundle: Bundle, busybox_rootfs: str, tmp_path: Path, case: str) -> None:
    """Refused by runc too; pyrkt says why in one line and leaves no state, cgroup or process."""
    profile = notify_profile(str(tmp_path / "nobody-listens.sock"))
    if case == "no-listener-path":
        del profile["listenerPath"]
    elif case == "default-action":
        profile["defaultAction"] = "SCMP_ACT_NOTIFY"
    elif case == "write":
        profile["syscalls"][0]["names"].append("write")
    want = {
        "no-listener-path": "listenerPath is not set",
        "unreachable": "failed to connect with seccomp agent",
        "default-action": "SCMP_ACT_NOTIFY cannot be used as default action",
        "write": "SCMP_ACT_NOTIFY cannot be used for the write syscall",
    }[case]
    for runtime in (runc, rt):
        cgroup = f"/pyrkt-test-{uuid.uuid4().hex[:12]}"
        b = bundle(["true"], rootfs=busybox_rootfs, linux={"seccomp": profile, "cgroupsPath": cgroup})
        p = runtime("run", "--bundle", b, unique("refused"))
        assert p.returncode != 0 and want in p.stderr and len(p.stderr.strip().splitlines()) == 1, (runtime.binary, p.stderr)
    assert os.listdir(rt.root) == [] if os.path.isdir(rt.root) else True
    assert cgroup_dirs(cgroup) == []  # pyrkt's: no cgroup, so no process of the container left in it


def test_a_listener_path_without_notify_rules_is_not_used(rt: Any, runc: Any, bundle: Bundle, busybox_rootfs: str, tmp_path: Path) -> None:
    """No SCMP_ACT_NOTIFY rule: no listener, so nobody is connected to (runc runs it too)."""
    profile = {"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": str(tmp_path / "nobody.sock"), "listenerMetadata": "x",
               "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 18}]}
    b = bundle(["sh", "-c", SCRIPT], rootfs=busybox_rootfs, linux={"seccomp": profile})
    outs = [runtime("run", "--bundle", b, unique("no-rules"), check=True).stdout for runtime in (rt, runc)]
    assert outs[0] == outs[1] and outs[0].splitlines()[0] == "mkdir=1"
