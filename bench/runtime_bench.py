#!/usr/bin/env python3
"""OCI runtime start-up benchmark: pyrkt-runtime vs runc vs crun.

What runs: one busybox bundle (rootfs from `pyrkt.devtools.busybox`, config
from `runc spec` with terminal=false and args ["/bin/true"]) shared by every
runtime; each runtime has its own `--root`. Per iteration, for each runtime in
turn (round-robin, the order rotated every iteration so that machine drift and
cache effects hit all alike):

  cycle A: `run -d ID` then `delete --force ID`
  cycle B: `create ID`, `start ID`, `delete --force ID`

Time: wall clock from fork to exit of `/usr/bin/time -f %M -o FILE RUNTIME
...` per command, summed per cycle (a cycle is one container's cost); the
~1 ms that /usr/bin/time adds is the same for every runtime.

Memory: what `/usr/bin/time -f %M` prints, i.e. ru_maxrss from wait4 of the
runtime process: the peak resident set of the runtime process itself, and of
any descendant it waited for (runc's `runc init` stages of nsexec that exit
early; never the container's init, which the runtime does not reap: after
`run -d` it is re-parented to this benchmark, a child subreaper, and reaped
here). /usr/bin/time is the parent on purpose: the kernel keeps the peak of
the pre-exec image, so a fork of this Python process would report its own
size. The table gives the largest over the cycle's commands.

crun on this machine works only in a mount namespace where
/sys/fs/cgroup/unified is unmounted: its commands are started and timed by a
helper process (a fork of this one) living in such a namespace; pyrkt-runtime
and runc are started and timed the same way, from this process, in the host
mount namespace.

Everything is cleaned up: containers (delete --force), their cgroups, the
roots, the bundle. Needs root. Not part of the test suite.

    make bench BENCH_ARGS="--iterations 100"
    .venv/bin/python bench/runtime_bench.py --quick
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
SRC = os.path.join(REPO, "src")
PYRKT = os.path.join(REPO, ".venv", "bin", "pyrkt-runtime")
TIME = "/usr/bin/time"

CLONE_NEWNS = 0x00020000
MS_REC = 0x4000
MS_PRIVATE = 0x40000
MNT_DETACH = 2
PR_SET_CHILD_SUBREAPER = 36

_libc = ctypes.CDLL(None, use_errno=True)


def _ok(res: int, what: str) -> None:
    if res != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def become_subreaper() -> None:
    _ok(_libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), "prctl(PR_SET_CHILD_SUBREAPER)")


def reap_orphans() -> None:
    """Reap re-parented container processes (we are a child subreaper)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def timed(argv: list[str], cwd: str) -> dict[str, object]:
    """Run one runtime command: wall time (ms), ru_maxrss (KiB), exit code, stderr."""
    err = tempfile.TemporaryFile()
    rss_file = tempfile.NamedTemporaryFile(prefix="rss-")
    # /usr/bin/time (a small C program) forks and execs the runtime: a fork of
    # this Python process would carry its resident pages into the child's
    # ru_maxrss (the kernel keeps the pre-exec peak), so it must not be the parent
    argv = [TIME, "-f", "%M", "-o", rss_file.name, *argv]
    devnull = os.open(os.devnull, os.O_RDWR)
    t0 = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        try:
            os.chdir(cwd)
            os.dup2(devnull, 0)
            os.dup2(devnull, 1)
            os.dup2(err.fileno(), 2)
            os.execv(argv[0], argv)
        finally:
            os._exit(127)
    _, status, _ = os.wait4(pid, 0)
    elapsed = (time.perf_counter() - t0) * 1000.0
    os.close(devnull)
    with open(rss_file.name) as f:
        lines = f.read().split()
    rss_file.close()
    rss = int(lines[-1]) if lines and lines[-1].isdigit() else 0
    err.seek(0)
    stderr = err.read().decode(errors="replace")
    err.close()
    reap_orphans()
    return {"ms": elapsed, "rss": rss, "rc": os.waitstatus_to_exitcode(status), "stderr": stderr}


class Helper:
    """A forked copy of this process in its own mount namespace without
    /sys/fs/cgroup/unified (for crun), running `timed` on request."""

    def __init__(self) -> None:
        req_r, req_w = os.pipe()
        rep_r, rep_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(req_w)
            os.close(rep_r)
            code = 0
            try:
                _ok(_libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
                _ok(_libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "mount(/, rprivate)")
                if os.path.ismount("/sys/fs/cgroup/unified"):
                    _ok(_libc.umount2(b"/sys/fs/cgroup/unified", MNT_DETACH), "umount2(/sys/fs/cgroup/unified)")
                become_subreaper()
                rin = os.fdopen(req_r, "r")
                wout = os.fdopen(rep_w, "w")
                for line in rin:
                    req = json.loads(line)
                    wout.write(json.dumps(timed(req["argv"], req["cwd"])) + "\n")
                    wout.flush()
            except BaseException as exc:  # noqa: BLE001
                sys.stderr.write(f"crun helper: {exc}\n")
                code = 1
            os._exit(code)
        os.close(req_r)
        os.close(rep_w)
        self.pid = pid
        self.w = os.fdopen(req_w, "w")
        self.r = os.fdopen(rep_r, "r")

    def timed(self, argv: list[str], cwd: str) -> dict[str, object]:
        self.w.write(json.dumps({"argv": argv, "cwd": cwd}) + "\n")
        self.w.flush()
        line = self.r.readline()
        if not line:
            raise RuntimeError("crun helper died")
        return json.loads(line)  # type: ignore[no-any-return]

    def close(self) -> None:
        self.w.close()
        self.r.close()
        os.waitpid(self.pid, 0)


class Runtime:
    def __init__(self, name: str, binary: str, root: str, helper: Helper | None = None) -> None:
        self.name = name
        self.binary = binary
        self.root = root
        self.helper = helper
        self.ids: list[str] = []
        self.samples: dict[str, list[dict[str, float]]] = {"run": [], "create": []}

    def cmd(self, *args: str, cwd: str) -> dict[str, object]:
        argv = [self.binary, "--root", self.root, *args]
        if self.helper is not None:
            return self.helper.timed(argv, cwd)
        return timed(argv, cwd)


def percentile(values: list[float], p: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    xs = sorted(values)
    if not xs:
        return float("nan")
    k = (len(xs) - 1) * p
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def make_bundle(path: str) -> None:
    sys.path.insert(0, SRC)
    from pyrkt.devtools.busybox import build_rootfs

    build_rootfs(os.path.join(path, "rootfs"))
    subprocess.run(["runc", "spec"], cwd=path, check=True)
    with open(os.path.join(path, "config.json")) as f:
        spec = json.load(f)
    spec["process"]["terminal"] = False
    spec["process"]["args"] = ["/bin/true"]
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(spec, f, indent=2)


def cycle(rt: Runtime, mode: str, cid: str, bundle: str) -> dict[str, float]:
    rt.ids.append(cid)
    steps = [("run", "-d", cid)] if mode == "run" else [("create", cid), ("start", cid)]
    steps.append(("delete", "--force", cid))
    out: dict[str, float] = {"ms": 0.0, "rss": 0.0}
    for step in steps:
        res = rt.cmd(*step, cwd=bundle)
        if res["rc"] != 0:
            raise RuntimeError(f"{rt.name} {' '.join(step)}: exit {res['rc']}: {str(res['stderr']).strip()}")
        out[step[0]] = float(res["ms"])  # type: ignore[arg-type]
        out[step[0] + "_rss"] = float(res["rss"])  # type: ignore[arg-type]
        out["ms"] += float(res["ms"])  # type: ignore[arg-type]
        out["rss"] = max(out["rss"], float(res["rss"]))  # type: ignore[arg-type]
    return out


def cleanup(runtimes: list[Runtime], bundle: str, prefix: str, pyrkt_parent_existed: bool) -> list[str]:
    problems = []
    for rt in runtimes:
        for cid in rt.ids:
            if os.path.isdir(os.path.join(rt.root, cid)):
                try:
                    rt.cmd("delete", "--force", cid, cwd=bundle)
                except Exception as exc:  # noqa: BLE001
                    problems.append(f"{rt.name} delete {cid}: {exc}")
        shutil.rmtree(rt.root, ignore_errors=True)
    # cgroups named after our ids, in every hierarchy (runc's, crun's, ours)
    for top in ("/sys/fs/cgroup",):
        for dirpath, dirnames, _ in os.walk(top, topdown=False):
            for d in dirnames:
                if d.startswith(prefix) or (d.endswith(".scope") and prefix in d):
                    try:
                        os.rmdir(os.path.join(dirpath, d))
                    except OSError as exc:
                        problems.append(f"rmdir {os.path.join(dirpath, d)}: {exc.strerror}")
    if not pyrkt_parent_existed:
        for h in os.listdir("/sys/fs/cgroup"):
            p = os.path.join("/sys/fs/cgroup", h, "pyrkt")
            if os.path.isdir(p) and not os.path.islink(os.path.join("/sys/fs/cgroup", h)):
                try:
                    os.rmdir(p)
                except OSError:
                    pass
    return problems


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--iterations", "-n", type=int, default=50, help="containers per runtime and cycle (default 50)")
    ap.add_argument("--quick", action="store_true", help="10 iterations")
    ap.add_argument("--warmup", type=int, default=2, help="discarded iterations first (default 2)")
    ap.add_argument("--runtimes", default="pyrkt-runtime,runc,crun", help="comma-separated subset")
    ap.add_argument("--pyrkt", default=PYRKT, help="pyrkt-runtime launcher to measure")
    ap.add_argument("--json", help="also write raw samples here")
    args = ap.parse_args()
    if args.quick:
        args.iterations = 10
    if os.geteuid() != 0:
        print("runtime_bench: needs root", file=sys.stderr)
        return 2

    work = tempfile.mkdtemp(prefix="pyrkt-bench-")
    bundle = os.path.join(work, "bundle")
    os.makedirs(bundle)
    make_bundle(bundle)
    prefix = f"prb{os.getpid()}-"
    pyrkt_parent_existed = any(os.path.isdir(os.path.join("/sys/fs/cgroup", h, "pyrkt")) for h in os.listdir("/sys/fs/cgroup"))
    become_subreaper()

    wanted = [n.strip() for n in args.runtimes.split(",") if n.strip()]
    runtimes: list[Runtime] = []
    helper = None
    for name in wanted:
        root = os.path.join(work, f"root-{name}")
        if name == "pyrkt-runtime":
            runtimes.append(Runtime(name, args.pyrkt, root))
        elif name in ("runc", "crun"):
            binary = shutil.which(name)
            if binary is None:
                print(f"runtime_bench: {name} not found, skipped", file=sys.stderr)
                continue
            if name == "crun":
                helper = Helper()
            runtimes.append(Runtime(name, binary, root, helper if name == "crun" else None))
        else:
            print(f"runtime_bench: unknown runtime {name}", file=sys.stderr)
            return 2

    total = args.warmup + args.iterations
    failed = None
    try:
        for i in range(total):
            order = runtimes[i % len(runtimes):] + runtimes[: i % len(runtimes)]
            for mode in ("run", "create"):
                for rt in order:
                    cid = f"{prefix}{rt.name[:2]}{mode[0]}{i}"
                    s = cycle(rt, mode, cid, bundle)
                    if i >= args.warmup:
                        rt.samples[mode].append(s)
            print(f"\r{i + 1}/{total}", end="", file=sys.stderr, flush=True)
        print(file=sys.stderr)
    except (RuntimeError, KeyboardInterrupt) as exc:
        failed = exc
    finally:
        problems = cleanup(runtimes, bundle, prefix, pyrkt_parent_existed)
        if helper is not None:
            helper.close()
        shutil.rmtree(work, ignore_errors=True)
        for p in problems:
            print(f"runtime_bench: cleanup: {p}", file=sys.stderr)
    if failed is not None:
        print(f"\nruntime_bench: {failed}", file=sys.stderr)
        return 1

    report(runtimes, args.iterations)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({rt.name: rt.samples for rt in runtimes}, f)
    return 0


def versions(runtimes: list[Runtime]) -> str:
    out = []
    for rt in runtimes:
        try:
            v = subprocess.run([rt.binary, "--version"], capture_output=True, text=True, timeout=10).stdout.splitlines()[0]
        except Exception:  # noqa: BLE001
            v = "?"
        out.append(v.strip())
    return "; ".join(out)


def report(runtimes: list[Runtime], n: int) -> None:
    base = {mode: None for mode in ("run", "create")}
    stats: dict[tuple[str, str], dict[str, float]] = {}
    for rt in runtimes:
        for mode in ("run", "create"):
            ms = [s["ms"] for s in rt.samples[mode]]
            rss = [s["rss"] for s in rt.samples[mode]]
            st = {
                "med": percentile(ms, 0.5),
                "p10": percentile(ms, 0.1),
                "p90": percentile(ms, 0.9),
                "rss_med": percentile(rss, 0.5) / 1024,
                "rss_max": max(rss) / 1024,
            }
            for step in ("run", "create", "start", "delete"):
                vals = [s[step] for s in rt.samples[mode] if step in s]
                if vals:
                    st[step] = percentile(vals, 0.5)
            stats[(rt.name, mode)] = st
            if rt.name == "runc":
                base[mode] = st["med"]  # type: ignore[assignment]
    print(f"\n{n} containers per runtime and cycle, interleaved; {os.cpu_count()} CPUs; kernel {os.uname().release}")
    print(f"versions: {versions(runtimes)}\n")
    print("| runtime | cycle | median ms | p10–p90 ms | vs runc | per command (median ms) | peak RSS MB (median / max) |")
    print("|---|---|---:|---:|---:|---|---:|")
    for mode, label in (("run", "`run -d` + `delete`"), ("create", "`create` + `start` + `delete`")):
        for rt in runtimes:
            st = stats[(rt.name, mode)]
            ratio = f"{st['med'] / base[mode]:.2f}×" if base[mode] else "–"
            steps = ("run", "delete") if mode == "run" else ("create", "start", "delete")
            per = ", ".join(f"{s} {st[s]:.1f}" for s in steps if s in st)
            print(
                f"| {rt.name} | {label} | {st['med']:.1f} | {st['p10']:.1f}–{st['p90']:.1f} | {ratio} | {per} | "
                f"{st['rss_med']:.1f} / {st['rss_max']:.1f} |"
            )
    print(
        "\nTime: wall clock per container (sum of its commands, each fork to exit of `/usr/bin/time RUNTIME ...`). "
        "Peak RSS: `/usr/bin/time -f %M` of each runtime process (ru_maxrss from wait4: the process "
        "and the children it reaped, not the container's init), the largest of the cycle's commands."
    )


if __name__ == "__main__":
    sys.exit(main())
