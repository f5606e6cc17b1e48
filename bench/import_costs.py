"""What each speed rule of bench/README.md ("Speed rules") saves, measured on this machine.

Each line starts a fresh `python -I -S` (as the installed launchers do) that times
one import with perf_counter, N times, and prints the median: the module a rule
forbids next to the one it uses instead. Run it when the README's figures look
stale: `.venv/bin/python bench/import_costs.py [-n 30]`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys

SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")

# (rule, the import it avoids, what is used instead)
PAIRS = [
    ("_signal, not signal", "signal", "_signal"),
    ("_socket, not socket", "socket", "_socket"),
    ("TYPE_CHECKING = False, not typing's", "typing", None),
    ("pyrkt.records, not dataclasses", "dataclasses", "pyrkt.records"),
    ("pyrkt.fastjson, not json", "json", "pyrkt.fastjson"),
    ("no re on the hot path", "re", None),
    ("_ctypes, not ctypes", "ctypes", "_ctypes"),
    ("posix, not os (oci/quick)", "os", "posix"),
    ("no subprocess on the hot path", "subprocess", None),
]

TIMER = "import time; t = time.perf_counter(); import {m}; print(time.perf_counter() - t)"


def cost(module: str, n: int) -> float:
    """Median milliseconds of importing `module` first thing in a fresh interpreter."""
    samples = []
    env = dict(os.environ, PYTHONPATH=SRC)
    for _ in range(n):
        out = subprocess.run([sys.executable, "-I", "-S", "-c", f"import sys; sys.path.insert(0, {SRC!r}); " + TIMER.format(m=module)],
                             capture_output=True, text=True, check=True, env=env).stdout
        samples.append(float(out) * 1000)
    return statistics.median(samples)


def exit_cost(n: int) -> tuple[float, float]:
    """Median wall time of `python -I -S -c pass` and of the same ending in posix._exit(0)."""
    import time

    out = []
    for code in ("pass", "import posix; posix._exit(0)"):
        samples = []
        for _ in range(n):
            t = time.perf_counter()
            subprocess.run([sys.executable, "-I", "-S", "-c", code], check=True)
            samples.append((time.perf_counter() - t) * 1000)
        out.append(statistics.median(samples))
    return out[0], out[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=20, help="runs per import (default 20)")
    n = ap.parse_args().n
    print(f"median of {n} fresh `python -I -S` runs, ms; load average {os.getloadavg()[0]:.1f}")
    print("| rule | avoided | ms | instead | ms |")
    print("|---|---|---:|---|---:|")
    for rule, heavy, light in PAIRS:
        light_ms = f"{cost(light, n):.2f}" if light else "—"
        print(f"| {rule} | `{heavy}` | {cost(heavy, n):.2f} | {f'`{light}`' if light else '—'} | {light_ms} |")
    plain, quick_exit = exit_cost(n)
    print(f"| posix._exit: no interpreter finalization | `-c pass` | {plain:.2f} | `posix._exit(0)` | {quick_exit:.2f} |")


if __name__ == "__main__":
    main()
