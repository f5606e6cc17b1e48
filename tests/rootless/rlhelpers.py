"""The rootless tests' unprivileged user: its subid ranges and how to run commands as it.

`rl_user` is a fresh account `pyrkt-rl<N>` with no password, its own home and
$XDG_RUNTIME_DIR (short temp dirs: an exec socket path must fit in 108
bytes), and one subordinate id range in /etc/subuid and /etc/subgid, picked
at 300000000 or above so it overlaps no other entry. Everything is undone at
the end: the user's processes (by pid), its subid lines, the account, the
dirs. Commands run as the user through `setpriv` (util-linux): real uid, gid
and no supplementary groups, with a clean environment, as a login would.
"""

from __future__ import annotations

import fcntl
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
RUNTIME = str(REPO / ".venv" / "bin" / "pyrkt-runtime")
sys.path.insert(0, str(REPO / "tests" / "integration"))

SUBID_BASE = 300_000_000
SUBID_SIZE = 65536


def _edit_subids(change: Any) -> Any:
    """Rewrite /etc/subuid and /etc/subgid atomically, under a lock of our own."""
    with open("/run/.pyrkt-rl-subid.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return change()


def _rewrite(path: str, lines: list[str]) -> None:
    tmp = f"{path}.pyrkt-rl.{os.getpid()}"
    with open(tmp, "w") as f:
        f.writelines(lines)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def _read_lines(path: str) -> list[str]:
    try:
        with open(path) as f:
            return f.readlines()
    except FileNotFoundError:
        return []


def _can_traverse(path: Path) -> bool:
    """Whether any user can reach `path` (o+x on every parent, o+rx on it)."""
    for p in [path, *path.parents]:
        mode = p.stat().st_mode
        if not mode & 0o001:
            return False
    return bool(path.stat().st_mode & 0o004)


class User:
    """The test's unprivileged user and how to run commands as it."""

    def __init__(self, name: str, home: str, xdg: str, subid: int) -> None:
        pw = pwd.getpwnam(name)
        self.name, self.uid, self.gid = name, pw.pw_uid, pw.pw_gid
        self.home, self.xdg, self.subid = home, xdg, subid
        self.env = {
            "HOME": home, "USER": name, "LOGNAME": name, "XDG_RUNTIME_DIR": xdg,
            "PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "LANG": "C.UTF-8",
        }

    def argv(self, *cmd: str) -> list[str]:
        return ["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}", "--clear-groups", "--", *cmd]

    def run(self, *cmd: str, cwd: str | None = None, timeout: float = 60, env: dict[str, str] | None = None,
            cgroup: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run `cmd` as the user; `cgroup`: first placed (by root) in that v2 cgroup, as a delegation does."""
        argv = self.argv(*cmd)
        if cgroup is not None:
            argv = ["sh", "-c", f'echo $$ > "$0/cgroup.procs" && exec "$@"', cgroup, *argv]
        # files, not pipes: a detached container keeps its stdio open
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            p = subprocess.run(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=cwd or self.home,
                               env=env or self.env, timeout=timeout)
            out.seek(0)
            err.seek(0)
            return subprocess.CompletedProcess(argv, p.returncode, out.read().decode(errors="replace"), err.read().decode(errors="replace"))

    def pids(self) -> list[int]:
        found = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    if os.stat(f"/proc/{entry}").st_uid in (self.uid, self.subid) or _owned_by_range(int(entry), self.subid):
                        found.append(int(entry))
                except OSError:
                    pass
        return found


def _owned_by_range(pid: int, base: int) -> bool:
    try:
        uid = os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return False
    return base <= uid < base + SUBID_SIZE


