"""rkt-run's cost: `rkt-run -e /bin/true ALIAS` vs the same `rkt run` typed by hand, and worker enter vs a fresh pod.

Needs root. Installs rkt-run into a temp prefix under /opt (setuid needs a
root-owned path), creates a user `rktrun-tbench`, builds the busybox store the
pod tests use, and runs, interleaved, per iteration:
  by hand   the exact rkt command line rkt-run -v prints, run as root (env file prepared once)
  rkt-run   rkt-run -e /bin/true ALIAS as the user (through setpriv, which adds one exec)
  worker    rkt-run -e /bin/true ALIAS with worker-pods = true, into the running worker
Everything is removed at the end.
"""

from __future__ import annotations

import argparse
import os
import pwd
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "pod"))
RKT = os.path.join(ROOT, ".venv", "bin", "rkt")

POLICY = """rkt = "{rkt}"
worker-pods = {workers}
[environment]
GREETING = "hello {{{{.Username}}}}"
[options]
general = ["--insecure-options=image", "--dir={store}"]
run = ["--net=host"]
[alias.bb]
image = "example.com/busybox"
"""


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--iterations", type=int, default=20)
    a = ap.parse_args()
    if os.geteuid() != 0:
        print("needs root", file=sys.stderr)
        return 2
    from podfixtures import copy_store, make_template

    prefix = tempfile.mkdtemp(prefix="rktrun-b", dir="/opt")
    os.chmod(prefix, 0o755)
    user = "rktrun-tbench"
    work = tempfile.mkdtemp(prefix="rktrun-bench")
    try:
        os.makedirs(f"{prefix}/etc", mode=0o755)
        config = f"{prefix}/etc/rktrunner.toml"
        env = dict(os.environ, PREFIX=prefix, CONFIG=config, STATE=f"{prefix}/state")
        subprocess.run(["bash", f"{ROOT}/scripts/install-rktrun.sh"], env=env, check=True)
        store = copy_store(make_template(work), f"{prefix}/store")
        subprocess.run(["useradd", "-M", "-d", "/nonexistent", "-s", "/bin/sh", user], check=True)
        pw = pwd.getpwnam(user)

        def policy(workers: bool) -> None:
            with open(config + ".tmp", "w") as f:
                f.write(POLICY.format(rkt=RKT, store=store, workers="true" if workers else "false"))
            os.chmod(config + ".tmp", 0o644)
            os.rename(config + ".tmp", config)

        as_user = ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--clear-groups", "--",
                   f"{prefix}/bin/rkt-run", "-e", "/bin/true", "bb"]
        policy(False)
        r = subprocess.run(as_user[:-3] + ["-v", "-e", "/bin/true", "bb"], capture_output=True, text=True, cwd="/")
        line = [x for x in r.stderr.splitlines() if x.startswith("# ")][0][2:].split()
        envfile = f"{work}/env"
        with open(envfile, "w") as f:
            f.write(f"GREETING=hello {user}\n")
        by_hand = [x if not x.startswith("--set-env-file=") else f"--set-env-file={envfile}" for x in line]
        subprocess.run(as_user[:-3] + ["--prepare", "bb"], capture_output=True)

        def timed(argv: list[str]) -> float:
            s = time.perf_counter()
            p = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd="/")
            t = (time.perf_counter() - s) * 1000
            if p.returncode != 0:
                raise SystemExit(f"{argv}: {p.stderr.decode()}")
            return t

        samples: dict[str, list[float]] = {"by hand": [], "rkt-run": [], "worker": []}
        policy(True)
        subprocess.run(as_user, capture_output=True, cwd="/")  # start the worker
        current = [True]
        for i in range(a.iterations + 2):
            order = ["by hand", "rkt-run", "worker"]
            order = order[i % 3:] + order[:i % 3]
            for name in order:
                if name != "by hand" and current[0] != (name == "worker"):
                    # a new policy file: the first rkt-run parses it (tomllib) and caches it; not timed
                    current[0] = name == "worker"
                    policy(current[0])
                    timed(as_user)
                t = timed(by_hand if name == "by hand" else as_user)
                if i >= 2:
                    samples[name].append(t)
            if i % 5 == 4:
                subprocess.run([RKT, f"--dir={store}", "gc", "--grace-period=0s"], capture_output=True)
        med = {k: statistics.median(v) for k, v in samples.items()}
        print(f"| command (n={a.iterations}, interleaved) | median ms | min ms |")
        print("|---|---:|---:|")
        print(f"| `rkt run` by hand (root, the line rkt-run -v prints) | {med['by hand']:.1f} | {min(samples['by hand']):.1f} |")
        print(f"| `rkt-run -e /bin/true bb` (user, via setpriv) | {med['rkt-run']:.1f} | {min(samples['rkt-run']):.1f} |")
        print(f"| `rkt-run -e /bin/true bb` into a running worker pod | {med['worker']:.1f} | {min(samples['worker']):.1f} |")
        print(f"\nrkt-run adds {med['rkt-run'] - med['by hand']:.1f} ms to rkt run; worker/fresh = "
              f"{med['worker'] / med['rkt-run']:.2f}")
        # paired within an iteration (the three ran back to back): steadier when the load drifts
        diffs = [r - h for r, h in zip(samples["rkt-run"], samples["by hand"])]
        ratios = [w / r for w, r in zip(samples["worker"], samples["rkt-run"])]
        print(f"paired per iteration: rkt-run - by hand median {statistics.median(diffs):.1f} ms; "
              f"worker/fresh median {statistics.median(ratios):.2f}")
    finally:
        out = subprocess.run([RKT, f"--dir={prefix}/store", "list", "--full", "--no-legend"], capture_output=True, text=True).stdout
        for row in out.splitlines():
            cells = [c for c in row.split("\t") if c]
            if len(cells) > 4 and cells[4] == "running":
                subprocess.run([RKT, f"--dir={prefix}/store", "stop", "--force", cells[0]], capture_output=True)
        subprocess.run([RKT, f"--dir={prefix}/store", "gc", "--grace-period=0s", "--expire-prepared=0s"], capture_output=True)
        subprocess.run(["userdel", "-f", user], capture_output=True)
        subprocess.run(["bash", f"{ROOT}/scripts/install-rktrun.sh", "uninstall"],
                       env=dict(os.environ, PREFIX=prefix, STATE=f"{prefix}/state"), capture_output=True)
        shutil.rmtree(prefix, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
