"""Rootless podman drives the installed pyrkt-runtime, as it drives runc for a user.

The test user's podman has its own storage under its home (vfs), its
$XDG_RUNTIME_DIR, cgroupfs, file events and no default ulimits (this machine
lacks CAP_SYS_RESOURCE); the busybox image is pulled from an OCI layout on
disk (no registry, no traffic), and every container has `--network=none`.
podman runs the runtime inside its own user namespace (root there, mapping
the user and its /etc/subuid range), with no --root: the runtime's state goes
under $XDG_RUNTIME_DIR/pyrkt-runtime, and its cgroups are skipped (v1 here).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from typing import Any, Iterator

import pytest

from rlhelpers import RUNTIME, User

pytestmark = pytest.mark.root

IMAGE = "localhost/pyrkt-rl/busybox:latest"


class UserPodman:
    def __init__(self, user: User) -> None:
        self.user = user
        conf = os.path.join(user.home, "containers.conf")
        with open(conf, "w") as f:
            f.write('[containers]\ndefault_ulimits = []\n[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n')
        self.env = dict(user.env, CONTAINERS_CONF=conf)
        self.argv = ["podman", "--runtime", RUNTIME, "--cgroup-manager=cgroupfs", "--events-backend=file"]

    def __call__(self, *args: str, check: bool = True, timeout: float = 90) -> subprocess.CompletedProcess[str]:
        res = self.user.run(*self.argv, *args, env=self.env, timeout=timeout)
        if check and res.returncode != 0:
            raise AssertionError(f"podman {' '.join(args)} exited {res.returncode}: {res.stderr.strip()}")
        return res

    def in_pty(self, *args: str, timeout: float = 60) -> tuple[int, bytes]:
        from clients import run_in_pty

        return run_in_pty(self.user.argv(*self.argv, *args), self.env, timeout)


@pytest.fixture(scope="module")
def podman(rl_user: User) -> Iterator[UserPodman]:
    from toolcheck import need_tools

    need_tools("podman", "conmon")
    from clients import busybox_layout

    # podman names an oci: image after its path, which must then be a valid reference:
    # mkdtemp's suffix may end in "_" or hold "__" ("invalid reference format"), so not mkdtemp
    top = os.path.join(tempfile.gettempdir(), f"prl-img-{os.getpid()}-{os.urandom(4).hex()}")
    os.mkdir(top, 0o755)
    os.chmod(top, 0o755)
    pm = UserPodman(rl_user)
    try:
        layout = busybox_layout(top)
        for dirpath, dirnames, filenames in os.walk(top):
            for name in dirnames + filenames:
                os.chmod(os.path.join(dirpath, name), 0o755 if name in dirnames else 0o644, follow_symlinks=False) if not os.path.islink(os.path.join(dirpath, name)) else None
        pm("pull", f"oci:{layout}:latest")
        image_id = pm("images", "-q", "--no-trunc").stdout.split()[0]
        pm("tag", image_id, IMAGE)
        yield pm
    finally:
        pm("rm", "--all", "--force", "--time", "0", check=False)
        pm("system", "reset", "--force", check=False)
        shutil.rmtree(top, ignore_errors=True)


@pytest.fixture
def container(podman: UserPodman) -> Iterator[str]:
    name = f"prl-c{time.monotonic_ns() % 10**9}"
    podman("run", "-d", "--pull=never", "--name", name, "--network=none", IMAGE, "sleep", "1000")
    try:
        yield name
    finally:
        podman("rm", "--force", "--time", "0", name, check=False)


def test_run_rm_echo(podman: UserPodman) -> None:
    res = podman("run", "--rm", "--pull=never", "--network=none", IMAGE, "echo", "hi")
    assert res.stdout == "hi\n"
    assert podman("ps", "-a", "-q").stdout.strip() == ""
    # the runtime kept its state where runc would: under $XDG_RUNTIME_DIR, now empty again
    root = os.path.join(podman.user.xdg, "pyrkt-runtime")
    assert os.path.isdir(root) and os.listdir(root) == []


def test_run_sees_podmans_user_namespace_and_exit_status(podman: UserPodman) -> None:
    res = podman("run", "--rm", "--pull=never", "--network=none", IMAGE, "sh", "-c", "id -u; cat /proc/self/uid_map; exit 7", check=False)
    assert res.returncode == 7, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0] == "0"
    maps = [line.split() for line in lines[1:]]
    assert ["0", str(podman.user.uid), "1"] in maps  # root in the container is the user
    assert any(m[1] == str(podman.user.subid) for m in maps)  # and the rest its /etc/subuid range
    res = podman("run", "--rm", "--pull=never", "--network=none", IMAGE, "no-such-command", check=False)
    assert res.returncode == 127 and "executable file not found" in res.stderr


def test_run_interactive_terminal(podman: UserPodman) -> None:
    code, out = podman.in_pty("run", "-it", "--rm", "--pull=never", "--network=none", IMAGE, "sh", "-c", "tty; echo ok-$((6*7)); exit 4")
    assert code == 4, out
    assert b"/dev/pts/0" in out and b"ok-42" in out


def test_exec(podman: UserPodman, container: str) -> None:
    res = podman("exec", "-e", "FOO=bar", "-u", "65534", "-w", "/tmp", container, "sh", "-c", "echo $FOO; id -u; pwd; cat /proc/1/cmdline")
    assert res.stdout.split("\n")[:3] == ["bar", "65534", "/tmp"]
    assert res.stdout.split("\n")[3].startswith("sleep")
    assert podman("exec", container, "sh", "-c", "exit 5", check=False).returncode == 5
    code, out = podman.in_pty("exec", "-it", container, "sh", "-c", "tty; echo exec-ok")
    assert code == 0, out
    assert b"/dev/pts/" in out and b"exec-ok" in out


def test_stop(podman: UserPodman) -> None:
    name = f"prl-stop{os.getpid()}"
    podman("run", "-d", "--pull=never", "--name", name, "--network=none", IMAGE, "sh", "-c", "trap 'exit 143' TERM; while :; do sleep 0.1; done")
    try:
        podman("stop", "-t", "30", name)
        inspect: Any = json.loads(podman("inspect", name).stdout)[0]
        assert inspect["State"]["Status"] == "exited"
        assert inspect["State"]["ExitCode"] == 143  # TERM reached the shell: not the timeout's KILL
    finally:
        podman("rm", "--force", "--time", "0", name, check=False)
