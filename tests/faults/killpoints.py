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

STATE_CHANGING = ("mkdir", "mkdirat", "rename", "renameat", "renameat2", "unlink", "unlinkat", "rmdir", "mount",
                  "umount2", "fsync", "clone", "clone3", "symlink", "symlinkat", "link", "linkat", "pivot_root",
                  "ftruncate", "flock")
_LINE = re.compile(r"^(\d+)\s+([a-z0-9_]+)\(")


def kill_points(argv: list[str], env: dict[str, str], tmp: str) -> list[tuple[str, int]]:
    out = os.path.join(tmp, "strace.out")
    subprocess.run(["strace", "-f", "-qq", "-o", out, "-e", "trace=" + ",".join(STATE_CHANGING), *argv],
                   env=env, capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
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


def run_killed(argv: list[str], env: dict[str, str], point: tuple[str, int]) -> subprocess.CompletedProcess[str]:
    name, n = point
    return subprocess.run(["strace", "-f", "-qq", "-o", "/dev/null", "-e", f"trace={name}",
                           "-e", f"inject={name}:signal=KILL:when={n}", *argv],
                          env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
