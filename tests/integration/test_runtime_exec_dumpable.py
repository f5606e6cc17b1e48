"""`pyrkt-runtime exec`: until its execve the forked process is the runtime itself (the host's
Python as /proc/PID/exe, the host's environment) inside the container's pid namespace. It must
not be dumpable then, so a process of the container with the same uid and capabilities cannot
read or ptrace it (the class of runc's CVE-2016-9962 and CVE-2019-5736)."""

from __future__ import annotations

import os
import subprocess
import time

import pytest
from test_runtime_verbs import RT, rootfs  # noqa: F401  (the module's fixture)
from toolcheck import need_tools

from clients import RUNTIME

pytestmark = pytest.mark.root

# inside the container: the held exec (its command line is the runtime's; `[e]` keeps the probe
# from matching itself), and whether its environment can be read (PTRACE_MODE_READ: denied for
# a process that is not dumpable)
PROBE = r"""
for d in /proc/[0-9]*; do
  if tr '\0' ' ' < $d/cmdline 2>/dev/null | grep -q '[e]xec c true'; then
    if cat $d/environ > /dev/null 2>&1; then echo "readable ${d#/proc/}"; else echo "denied ${d#/proc/}"; fi
  fi
done
"""


@pytest.fixture
def rt(rootfs: str, tmp_path):  # type: ignore[no-untyped-def]  # noqa: F811
    r = RT(str(tmp_path / "state"), str(tmp_path), rootfs)
    yield r
    for cid in os.listdir(r.root) if os.path.isdir(r.root) else []:
        r("delete", "--force", cid)


def test_an_exec_before_its_execve_cannot_be_read_from_the_container(rt) -> None:  # type: ignore[no-untyped-def]
    need_tools("strace")
    rt.running("c")
    # hold the exec'd process at its execve (strace counts per process: the launcher's own first
    # execve is held too, before anything runs)
    held = subprocess.Popen(["strace", "-f", "-qq", "-o", "/dev/null", "-e", "trace=execve",
                             "-e", "inject=execve:delay_enter=2500000:when=1",
                             RUNTIME, "--root", rt.root, "exec", "c", "true"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        seen: list[str] = []
        deadline = time.monotonic() + 8
        while not seen and time.monotonic() < deadline:
            seen = rt.ok("exec", "c", "sh", "-c", PROBE).stdout.split("\n")
            seen = [line for line in seen if line]
        assert seen, "the held exec was never seen from inside the container"
        assert all(line.startswith("denied ") for line in seen), seen
    finally:
        _, err = held.communicate(timeout=30)
    assert held.returncode == 0, err


def test_a_created_container_cannot_be_read_from_a_pid_namespace_it_shares(rt) -> None:  # type: ignore[no-untyped-def]
    """A created (not started) container joining another's pid namespace: its init waits as the
    runtime until `start`; the other container's processes must not read it."""
    first = rt.running("a")

    def join_a(cfg: dict) -> None:  # type: ignore[type-arg]
        cfg["linux"]["namespaces"] = [ns if ns["type"] != "pid" else {"type": "pid", "path": f"/proc/{first['pid']}/ns/pid"}
                                      for ns in cfg["linux"]["namespaces"]]

    rt.ok("create", "--bundle", rt.bundle(["true"], join_a), "b")
    probe = PROBE.replace("[e]xec c true", "[c]reate --bundle")
    seen = [line for line in rt.ok("exec", "a", "sh", "-c", probe).stdout.split("\n") if line]
    assert seen, "the created container's init was not seen from the container it shares a pid namespace with"
    assert all(line.startswith("denied ") for line in seen), seen
