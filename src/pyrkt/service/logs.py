"""An app's output as the pod keeps it: `apps/<name>/log`, with the times of `log.times`.

The pod's supervisor (pyrkt.pod.stage1) appends each chunk of an app's
output to `log` and, beside it, one line `OFFSET TIME` to `log.times`: the
byte offset the chunk starts at and when it was written. A line gets the time
of the chunk its first byte arrived in; that is what `since_time` and
`until_time` of GetLogs compare. A log without `log.times` (written before it
existed) dates every line at the log's mtime.
"""

from __future__ import annotations

import bisect
import os
from dataclasses import dataclass


@dataclass
class LogLine:
    time: float
    app: str
    text: str


def _stamps(path: str) -> tuple[list[int], list[float]]:
    offsets: list[int] = []
    times: list[float] = []
    try:
        with open(path + ".times") as f:
            for line in f:
                parts = line.split()
                if len(parts) != 2 or not line.endswith("\n"):
                    continue  # a line being written
                try:
                    off, t = int(parts[0]), float(parts[1])
                except ValueError:
                    continue
                if offsets and off < offsets[-1]:
                    continue
                offsets.append(off)
                times.append(t)
    except OSError:
        pass
    return offsets, times


def read_lines(path: str, app: str, start: int = 0, complete_only: bool = False) -> tuple[list[LogLine], int]:
    """The lines of the log from byte `start` on, and the offset after the last one returned.

    `complete_only`: keep back a last line with no newline yet (a running app
    may still be writing it).
    """
    try:
        with open(path, "rb") as f:
            f.seek(start)
            data = f.read()
            mtime = os.fstat(f.fileno()).st_mtime
    except (FileNotFoundError, NotADirectoryError):
        return [], start
    if complete_only:
        cut = data.rfind(b"\n") + 1
        data = data[:cut]
    offsets, times = _stamps(path)
    out: list[LogLine] = []
    pos = start
    for raw in data.splitlines(keepends=True):
        i = bisect.bisect_right(offsets, pos) - 1
        t = times[i] if i >= 0 else (times[0] if times else mtime)
        out.append(LogLine(t, app, raw.rstrip(b"\r\n").decode("utf-8", "replace")))
        pos += len(raw)
    return out, pos


def select(lines: list[LogLine], since: int = 0, until: int = 0, last: int = 0) -> list[LogLine]:
    """GetLogs' filters: lines at or after `since`, before `until` (seconds; 0: no bound), the `last` N."""
    out = [ln for ln in lines if (not since or ln.time >= since) and (not until or ln.time < until)]
    out.sort(key=lambda ln: ln.time)  # stable: a log's own order stays
    if last > 0:
        out = out[-last:]
    return out
