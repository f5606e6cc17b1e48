"""pyrkt's own rkt runs inside rkt-run's process; any other rkt is exec'd (pyrkt.runner.inproc).

Which one happened is seen from the host's process tree while the app runs:
the chain of processes from rkt-run down to the app holds an rkt process
(its command line names the rkt launcher) only when rkt was exec'd. Both
ways must give the app the same user, environment and exit status, and
leave no env file behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from runnerfixtures import CHECKOUT_RKT, RKT, RKT_DIR, RKT_SH, RKT_SRC, Installed, launcher_text

POLICY = """rkt = "{rkt}"
[environment]
GREETING = "hello {{{{.Username}}}}"
[options]
general = ["--insecure-options=image", "--dir=@DIR@"]
run = ["--net=host"]
[alias.bb]
image = "example.com/busybox"
"""


def _procs() -> dict[int, tuple[int, list[str]]]:
    """pid -> (ppid, argv) of every process now."""
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
            with open(f"/proc/{name}/cmdline", "rb") as f:
                argv = [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
        except (OSError, IndexError, ValueError):
            continue
        out[int(name)] = (ppid, argv)
    return out


def chain_to_app(inst: Installed, rkt: str, marker: str, term_rkt_run: bool = False) -> list[list[str]]:
    """Run `rkt-run -e /bin/sleep bb MARKER` with policy rkt = RKT; the argv of every process from
    rkt-run down to the sleeping app (the app is then killed, or rkt-run gets SIGTERM); checks the
    run's result (137: the app's SIGKILL; 143: the pod stopped by SIGTERM) and that no env file is left."""
    inst.policy(POLICY.format(rkt=rkt))
    u = inst.users[0]
    argv = ["setpriv", f"--reuid={u.pw_uid}", f"--regid={u.pw_gid}", "--init-groups", "--", "/usr/bin/env", "-i",
            "PATH=/usr/bin:/bin", os.path.join(inst.bin, "rkt-run"), "-e", "/bin/sleep", "bb", marker]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd="/")
    chain: list[list[str]] = []
    try:
        deadline = time.monotonic() + 60
        while not chain and time.monotonic() < deadline and proc.poll() is None:
            procs = _procs()
            for pid, (_, args) in procs.items():
                if args == ["/bin/sleep", marker]:
                    path, cur = [], pid
                    while cur in procs and cur != proc.pid:
                        path.append(procs[cur][1])
                        cur = procs[cur][0]
                    if cur == proc.pid:
                        chain = [procs[proc.pid][1], *reversed(path)]
                        os.kill(proc.pid if term_rkt_run else pid, signal.SIGTERM if term_rkt_run else signal.SIGKILL)
                        break
            time.sleep(0.05)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert chain, "the app never ran"
    assert proc.returncode == (143 if term_rkt_run else 137), (proc.returncode, out, err)
    assert not [n for n in os.listdir(inst.state) if n.startswith("env-")]
    return chain


def names_rkt(chain: list[list[str]], path: str) -> bool:
    return any(path in args for args in chain)


def test_pyrkts_rkt_runs_in_rkt_runs_process(installed: Installed) -> None:
    chain = chain_to_app(installed, RKT, "271")
    assert chain[0][-4:] == ["-e", "/bin/sleep", "bb", "271"], chain  # rkt-run itself
    assert not names_rkt(chain, RKT), chain


def test_a_foreign_rkt_is_execd(installed: Installed) -> None:
    chain = chain_to_app(installed, RKT_SH, "272")
    assert names_rkt(chain, CHECKOUT_RKT), chain


def test_rkt_code_others_can_write_is_execd_not_loaded(installed: Installed) -> None:
    """A group-writable source dir: not loaded into the privileged process (exec'd as before)."""
    loose = os.path.join(RKT_DIR, "loose")
    os.makedirs(loose, exist_ok=True)
    os.chmod(loose, 0o775)
    if not os.path.lexists(os.path.join(loose, "pyrkt")):
        os.symlink(os.path.join(RKT_SRC, "pyrkt"), os.path.join(loose, "pyrkt"))
    rkt = os.path.join(RKT_DIR, "rkt-loose")
    with open(rkt, "w") as f:
        f.write(launcher_text(loose, []))
    os.chmod(rkt, 0o755)
    chain = chain_to_app(installed, rkt, "273")
    assert names_rkt(chain, rkt), chain


@pytest.mark.parametrize("args", [["-e", "/bin/sh", "bb", "-c", "id; env | sort; pwd; exit 3"]])
def test_same_user_environment_and_status_either_way(installed: Installed, args: list[str]) -> None:
    results = []
    for rkt in (RKT, RKT_SH):
        installed.policy(POLICY.format(rkt=rkt))
        r = installed.run(installed.users[0], *args, env={"PYTHONPATH": "/tmp", "LD_PRELOAD": "/nonexistent.so"})
        assert r.returncode == 3, r.stderr
        results.append(r.stdout)
    assert results[0] == results[1]
    u = installed.users[0]
    assert f"uid={u.pw_uid}" in results[0] and f"GREETING=hello {u.pw_name}" in results[0]
    assert "PYTHONPATH" not in results[0] and "LD_PRELOAD" not in results[0]


@pytest.mark.parametrize("which", ["in-process", "exec"])
def test_sigterm_to_rkt_run_stops_the_pod_and_cleans_up(installed: Installed, which: str) -> None:
    chain = chain_to_app(installed, RKT if which == "in-process" else RKT_SH, "274", term_rkt_run=True)
    assert names_rkt(chain, CHECKOUT_RKT) == (which == "exec")
