"""podman drives pyrkt-runtime for real: `podman --runtime <pyrkt-runtime>`, with conmon.

One busybox image is built, pushed to a loopback docker-registry and pulled by
a podman with its own storage (vfs), runroot, containers.conf (no default
ulimits: this machine lacks CAP_SYS_RESOURCE), cgroupfs and file events.
Every test removes its containers; the module removes the store and the
registry, even on failure.
"""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from clients import RUNTIME, Registry, busybox_layout, need, run_in_pty

pytestmark = pytest.mark.root


class Podman:
    def __init__(self, base: str) -> None:
        self.base = base
        conf = os.path.join(base, "containers.conf")
        with open(conf, "w") as f:
            f.write('[containers]\ndefault_ulimits = []\n[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n')
        storage = os.path.join(base, "storage.conf")
        with open(storage, "w") as f:
            f.write(f'[storage]\ndriver = "vfs"\ngraphroot = "{base}/graph"\nrunroot = "{base}/run"\n')
        self.env = dict(os.environ, CONTAINERS_CONF=conf, CONTAINERS_STORAGE_CONF=storage)
        self.argv = [
            "podman", "--root", f"{base}/graph", "--runroot", f"{base}/run", "--runtime", RUNTIME,
            "--cgroup-manager=cgroupfs", "--events-backend=file", "--tmpdir", f"{base}/tmp",
        ]

    def __call__(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        res = subprocess.run(self.argv + list(args), env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and res.returncode != 0:
            raise AssertionError(f"podman {' '.join(args)} exited {res.returncode}: {res.stderr.strip()}")
        return res

    def in_pty(self, *args: str, timeout: float = 60) -> tuple[int, bytes]:
        """Run podman with a terminal as its stdio; (exit status, everything it wrote)."""
        return run_in_pty(self.argv + list(args), self.env, timeout)


@pytest.fixture(scope="module")
def podman(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    need("podman", "conmon", "docker-registry", "skopeo")
    base = str(tmp_path_factory.mktemp("podman"))
    registry = Registry(os.path.join(base, "registry"))
    pm = Podman(base)
    try:
        ref = registry.push(busybox_layout(os.path.join(base, "image")), "latest", "pyrkt/busybox")
        pm("pull", "--tls-verify=false", ref, timeout=120)
        pm.image = ref  # type: ignore[attr-defined]
        yield pm
    finally:
        pm("rm", "--all", "--force", "--time", "0", check=False)
        pm("system", "reset", "--force", check=False)
        registry.close()
        subprocess.run(["umount", "-R", f"{base}/run"], capture_output=True)


@pytest.fixture
def container(podman):  # type: ignore[no-untyped-def]
    """A long-running detached container, removed after the test."""
    name = f"pyrkt-t{os.getpid()}-{time.monotonic_ns() % 10**9}"
    podman("run", "-d", "--name", name, "--network=none", podman.image, "sleep", "1000")
    try:
        yield name
    finally:
        podman("rm", "--force", "--time", "0", name, check=False)


def test_run_rm_echo(podman) -> None:  # type: ignore[no-untyped-def]
    res = podman("run", "--rm", "--network=none", podman.image, "echo", "hi")
    assert res.stdout == "hi\n"
    assert podman("ps", "-a", "-q").stdout.strip() == ""


def test_run_exit_status_and_missing_executable(podman) -> None:  # type: ignore[no-untyped-def]
    assert podman("run", "--rm", "--network=none", podman.image, "sh", "-c", "exit 7", check=False).returncode == 7
    res = podman("run", "--rm", "--network=none", podman.image, "no-such-command", check=False)
    assert res.returncode == 127, res.stderr
    assert "executable file not found" in res.stderr


def test_run_interactive_terminal(podman) -> None:  # type: ignore[no-untyped-def]
    code, out = podman.in_pty("run", "-it", "--rm", "--network=none", podman.image, "sh", "-c", "tty; echo ok-$((6*7)); exit 4")
    assert code == 4, out
    assert b"/dev/pts/0" in out and b"ok-42" in out


def test_exec(podman, container) -> None:  # type: ignore[no-untyped-def]
    res = podman("exec", "-e", "FOO=bar", "-u", "65534", "-w", "/tmp", container, "sh", "-c", "echo $FOO; id -u; pwd; cat /proc/1/cmdline")
    assert res.stdout.split("\n")[:3] == ["bar", "65534", "/tmp"]
    assert res.stdout.split("\n")[3].startswith("sleep")  # same pid namespace as the container's init
    assert podman("exec", container, "sh", "-c", "exit 5", check=False).returncode == 5
    res = podman("exec", container, "no-such-command", check=False)
    assert res.returncode == 127 and "executable file not found" in res.stderr


def test_exec_interactive_terminal(podman, container) -> None:  # type: ignore[no-untyped-def]
    code, out = podman.in_pty("exec", "-it", container, "sh", "-c", "tty; echo exec-ok")
    assert code == 0, out
    assert b"/dev/pts/" in out and b"exec-ok" in out


def test_top(podman, container) -> None:  # type: ignore[no-untyped-def]
    res = podman("top", container)
    assert "sleep 1000" in res.stdout
    assert res.stdout.splitlines()[0].split()[0] == "USER"


def test_pause_unpause(podman, container) -> None:  # type: ignore[no-untyped-def]
    podman("pause", container)
    inspect = json.loads(podman("inspect", container).stdout)[0]
    assert inspect["State"]["Status"] == "paused"
    assert podman("exec", container, "true", check=False).returncode != 0
    podman("unpause", container)
    assert json.loads(podman("inspect", container).stdout)[0]["State"]["Status"] == "running"
    assert podman("exec", container, "echo", "alive").stdout == "alive\n"


def test_stop(podman) -> None:  # type: ignore[no-untyped-def]
    name = f"pyrkt-stop{os.getpid()}"
    # a shell that exits on SIGTERM: pid 1 only gets signals it handles
    podman("run", "-d", "--name", name, "--network=none", podman.image, "sh", "-c", "trap 'exit 143' TERM; while :; do sleep 0.1; done")
    try:
        started = time.monotonic()
        podman("stop", "-t", "10", name)
        assert time.monotonic() - started < 8
        inspect = json.loads(podman("inspect", name).stdout)[0]
        assert inspect["State"]["Status"] == "exited"
        assert inspect["State"]["ExitCode"] == 143
    finally:
        podman("rm", "--force", "--time", "0", name, check=False)
