"""containerd drives pyrkt-runtime for real: `ctr run --runc-binary <pyrkt-runtime>` through the runc shim.

The test starts its own containerd (private socket, root and state dirs, no
CRI plugin), imports a docker-archive of the busybox image it builds, and
runs, execs into, lists, pauses, kills and attaches a terminal to tasks.
Everything it started is stopped and removed, even on failure.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from clients import RUNTIME, busybox_layout, need, run_in_pty, wait_for

pytestmark = pytest.mark.root
IMAGE = "docker.io/pyrkt/busybox:latest"
NS = "pyrkt-test"


class Containerd:
    def __init__(self, base: str) -> None:
        self.base = base
        self.sock = os.path.join(base, "containerd.sock")
        config = os.path.join(base, "config.toml")
        with open(config, "w") as f:
            f.write(
                "version = 2\n"
                f'root = "{base}/root"\nstate = "{base}/state"\n'
                'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
                f'[grpc]\n  address = "{self.sock}"\n'
                f'[ttrpc]\n  address = "{self.sock}.ttrpc"\n'
            )
        self.log = open(os.path.join(base, "containerd.log"), "w")
        self.proc = subprocess.Popen(["containerd", "--config", config], stdout=self.log, stderr=self.log)
        wait_for(lambda: os.path.exists(self.sock) or self.proc.poll() is not None, 20, "containerd's socket")
        assert self.proc.poll() is None, "containerd exited"
        self.argv = ["ctr", "--address", self.sock, "--namespace", NS]

    def __call__(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        res = subprocess.run(self.argv + list(args), capture_output=True, text=True, timeout=timeout)
        if check and res.returncode != 0:
            raise AssertionError(f"ctr {' '.join(args)} exited {res.returncode}: {res.stderr.strip()}")
        return res

    def run(self, *args: str, **kw: object) -> subprocess.CompletedProcess[str]:
        return self("run", "--snapshotter", "native", "--runc-binary", RUNTIME, *args, **kw)  # type: ignore[arg-type]

    def task_status(self, cid: str) -> str:
        for line in self("task", "ls").stdout.splitlines()[1:]:
            fields = line.split()
            if fields and fields[0] == cid:
                return fields[2]
        return ""

    def remove(self, cid: str) -> None:
        self("task", "kill", "--signal", "SIGKILL", cid, check=False)
        wait_for(lambda: self.task_status(cid) in ("STOPPED", ""), 15, f"task {cid} to stop")
        self("task", "rm", "--force", cid, check=False)
        self("container", "rm", cid, check=False)

    def shims(self) -> list[int]:
        out = []
        for name in os.listdir("/proc"):
            if name.isdigit():
                try:
                    with open(f"/proc/{name}/cmdline", "rb") as f:
                        cmd = f.read()
                except OSError:
                    continue
                if b"containerd-shim" in cmd and self.sock.encode() in cmd:
                    out.append(int(name))
        return out

    def close(self) -> None:
        for line in self("container", "ls", "-q", check=False).stdout.split():
            self.remove(line)
        self("image", "rm", IMAGE, check=False)
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for pid in self.shims():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.log.close()
        with open("/proc/mounts") as f:
            mounts = [line.split()[1] for line in f if self.base in line.split()[1]]
        for m in reversed(mounts):
            subprocess.run(["umount", "-l", m], capture_output=True)


@pytest.fixture(scope="module")
def ctr(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    need("containerd", "ctr", "containerd-shim-runc-v2", "skopeo")
    base = str(tmp_path_factory.mktemp("containerd"))
    layout = busybox_layout(os.path.join(base, "image"))
    archive = os.path.join(base, "busybox.tar")
    subprocess.run(["skopeo", "--insecure-policy", "copy", "-q", f"oci:{layout}:latest", f"docker-archive:{archive}:pyrkt/busybox:latest"],
                   check=True, capture_output=True, timeout=120)
    cd = Containerd(base)
    try:
        cd("image", "import", "--snapshotter", "native", archive, timeout=120)
        yield cd
    finally:
        cd.close()


@pytest.fixture
def task(ctr):  # type: ignore[no-untyped-def]
    cid = f"t{os.getpid()}-{time.monotonic_ns() % 10**9}"
    ctr.run("-d", IMAGE, cid, "sleep", "1000")
    try:
        yield cid
    finally:
        ctr.remove(cid)


def test_run_rm_echo(ctr) -> None:  # type: ignore[no-untyped-def]
    res = ctr.run("--rm", IMAGE, f"echo{os.getpid()}", "sh", "-c", "echo hi; exit 3", check=False)
    assert res.stdout == "hi\n"
    assert res.returncode == 3
    assert ctr("container", "ls", "-q").stdout.strip() == ""


def test_exec_ps_kill(ctr, task) -> None:  # type: ignore[no-untyped-def]
    assert ctr.task_status(task) == "RUNNING"
    res = ctr("task", "exec", "--exec-id", "e1", task, "sh", "-c", "cat /proc/1/cmdline; echo; id -u; exit 4", check=False)
    assert res.returncode == 4
    assert res.stdout.split() == ["sleep1000", "0"] or res.stdout.split()[0].startswith("sleep")
    ps = ctr("task", "ps", task).stdout.splitlines()
    assert ps[0].split()[0] == "PID" and len(ps) == 2
    init_pid = int(ps[1].split()[0])
    assert os.readlink(f"/proc/{init_pid}/exe").endswith("busybox")
    ctr("task", "exec", "--detach", "--exec-id", "e2", task, "sleep", "1000")
    wait_for(lambda: len(ctr("task", "ps", task).stdout.splitlines()) == 3, 10, "the exec'd process in task ps")
    ctr("task", "kill", "--signal", "SIGKILL", task)
    wait_for(lambda: ctr.task_status(task) == "STOPPED", 15, "the task to stop")


def test_exec_missing_executable(ctr, task) -> None:  # type: ignore[no-untyped-def]
    res = ctr("task", "exec", "--exec-id", "e3", task, "no-such-command", check=False)
    assert res.returncode != 0
    assert "executable file not found" in res.stderr


def test_pause_resume(ctr, task) -> None:  # type: ignore[no-untyped-def]
    ctr("task", "pause", task)
    assert ctr.task_status(task) == "PAUSED"
    ctr("task", "resume", task)
    assert ctr.task_status(task) == "RUNNING"
    assert ctr("task", "exec", "--exec-id", "e4", task, "echo", "alive").stdout == "alive\n"


def test_terminal(ctr) -> None:  # type: ignore[no-untyped-def]
    cid = f"tty{os.getpid()}"
    try:
        code, out = run_in_pty(ctr.argv + ["run", "--snapshotter", "native", "--runc-binary", RUNTIME, "-t", "--rm", IMAGE, cid,
                                           "sh", "-c", "tty; echo tok-$((6*7)); exit 2"])
    finally:
        ctr.remove(cid)
    assert b"/dev/pts/0" in out and b"tok-42" in out, out
    assert code == 2


def test_exec_terminal(ctr, task) -> None:  # type: ignore[no-untyped-def]
    code, out = run_in_pty(ctr.argv + ["task", "exec", "-t", "--exec-id", "tty1", task, "sh", "-c", "tty; echo xok-$((6*7)); exit 6"])
    assert b"/dev/pts/" in out and b"xok-42" in out, out
    assert code == 6
