"""Intent records: what a command is about to create, written before it creates it.

A create killed after making the container's cgroups but before state.json
exists would leave cgroup directories nothing names. So the cgroup paths are
written to the state dir first (`cgroups.intent`), and `delete` (and so
`rkt gc`, which deletes a pod's containers) removes whatever the record names
when there is no usable state: idempotently, since a dir already gone is fine.
"""

from __future__ import annotations

import os

INTENT_FILE = "cgroups.intent"


def record_cgroups(state_dir: str, paths: dict[str, str]) -> None:
    """Write the cgroup dirs about to be made (atomically: a torn record is never read)."""
    dirs = sorted(set(paths.values()))
    tmp = os.path.join(state_dir, f".{INTENT_FILE}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, ("".join(d + "\n" for d in dirs if "\n" not in d)).encode())
    except OSError as exc:
        from pyrkt.ioerr import named

        raise named(exc, tmp) from None
    finally:
        os.close(fd)
    os.rename(tmp, os.path.join(state_dir, INTENT_FILE))


def remove_recorded_cgroups(state_dir: str) -> None:
    """Kill what runs in the recorded cgroups and remove them (deepest first); missing is fine."""
    try:
        with open(os.path.join(state_dir, INTENT_FILE), "rb") as f:
            dirs = [d for d in f.read().decode(errors="replace").split("\n") if d.startswith("/sys/fs/cgroup/")]
    except OSError:
        return
    import signal

    for d in dirs:
        try:
            with open(os.path.join(d, "cgroup.procs")) as f:
                pids = [int(x) for x in f.read().split()]
        except (OSError, ValueError):
            pids = []
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
    import time

    for d in sorted(dirs, key=len, reverse=True):
        for _ in range(50):
            try:
                os.rmdir(d)
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.02)  # its processes are still exiting
