"""Kill points of a command: its state-changing system calls, found from an strace of it.

`kill_points(argv)` runs the command once under `strace -f` and lists
(syscall, n) for every n-th call of each state-changing syscall in any of its
processes, so the list follows the code as it changes. `run_killed` runs the
command again with SIGKILL injected at one such point (strace counts the
calls per process, so the n-th call of whichever process gets there first).
FAULT_SAMPLE picks how many points per command are tried (default 3; `all`
for every one), spread deterministically over the list.
"""

from __future__ import annotations

import os
import random
import re
import subprocess
from typing import Callable

STATE_CHANGING = ("mkdir", "mkdirat", "rename", "renameat", "renameat2", "unlink", "unlinkat", "rmdir", "mount",
                  "umount2", "fsync", "clone", "clone3", "symlink", "symlinkat", "link", "linkat", "pivot_root",
                  "ftruncate", "flock")
_LINE = re.compile(r"^(\d+)\s+([a-z0-9_]+)\(")


def _strace(argv: list[str], env: dict[str, str], unblock: Callable[[], None] | None, timeout: float = 120) -> None:
    """Run strace to its end; `unblock` is called while it waits (a created container's init
    waits for `start`, and strace -f waits for every process it follows)."""
    p = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    for _ in range(int(timeout * 2)):
        try:
            p.wait(timeout=0.5)
            return
        except subprocess.TimeoutExpired:
            if unblock is not None:
                unblock()
    p.kill()
    p.wait()
    raise AssertionError(f"{argv} did not finish")


def kill_points(argv: list[str], env: dict[str, str], tmp: str, unblock: Callable[[], None] | None = None) -> list[tuple[str, int]]:
    out = os.path.join(tmp, "strace.out")
    _strace(["strace", "-f", "-qq", "-o", out, "-e", "trace=" + ",".join(STATE_CHANGING), *argv], env, unblock)
    counts: dict[tuple[int, str], int] = {}
    with open(out) as f:
        for line in f:
            m = _LINE.match(line)
            if m:
                key = (int(m.group(1)), m.group(2))
                counts[key] = counts.get(key, 0) + 1
    most: dict[str, int] = {}
    for (_pid, name), n in counts.items():
        most[name] = max(most.get(name, 0), n)
    os.unlink(out)
    return sorted((name, n) for name, top in most.items() for n in range(1, top + 1))


def sample(points: list[tuple[str, int]], label: str) -> list[tuple[str, int]]:
    want = os.environ.get("FAULT_SAMPLE", "3")
    if want == "all" or len(points) <= int(want):
        return points
    return sorted(random.Random(label).sample(points, int(want)))


def point_at(argv: list[str], env: dict[str, str], tmp: str, syscall: str, needle: str,
             unblock: Callable[[], None] | None = None, nth: int = 1) -> tuple[str, int]:
    """The kill point (syscall, n) of the `nth` `syscall` whose arguments contain `needle`:
    n counts that syscall in the process that made it, as strace's `when=` does."""
    out = os.path.join(tmp, "strace-at.out")
    _strace(["strace", "-f", "-qq", "-s", "256", "-o", out, "-e", f"trace={syscall}", *argv], env, unblock)
    counts: dict[int, int] = {}
    try:
        with open(out) as f:
            for line in f:
                m = _LINE.match(line)
                if m and m.group(2) == syscall:
                    pid = int(m.group(1))
                    counts[pid] = counts.get(pid, 0) + 1
                    if needle in line:
                        nth -= 1
                        if nth == 0:
                            return syscall, counts[pid]
    finally:
        os.unlink(out)
    raise AssertionError(f"no {syscall} of {needle!r} in a trace of {argv}")


def run_killed(argv: list[str], env: dict[str, str], point: tuple[str, int], unblock: Callable[[], None] | None = None,
               extra: tuple[str, ...] = (), also: tuple[str, ...] = (), timeout: float = 120) -> None:
    """Run argv killed at `point`. `extra`: more strace options, e.g. `-e
    inject=X:delay_enter=US` to let another process get ahead, with X in `also`
    (the syscalls to trace besides the point's: a second -e trace would replace the first)."""
    name, n = point
    _strace(["strace", "-f", "-qq", "-o", "/dev/null", "-e", "trace=" + ",".join((name, *also)),
             "-e", f"inject={name}:signal=KILL:when={n}", *extra, *argv], env, unblock, timeout)
