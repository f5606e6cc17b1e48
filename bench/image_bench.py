#!/usr/bin/env python3
"""Image fetch benchmark: pyrkt vs skopeo (and podman when installed), on a loopback registry.

Generates a multi-layer image (busybox + N layers of incompressible data),
pushes it to a local `docker-registry`, then measures:

1. a cold fetch: `rkt fetch docker://…` into an empty store vs
   `skopeo copy docker://… oci:DIR` into an empty layout (median of runs,
   the two interleaved), of the whole image and of a one-layer image; rkt is
   the installed launcher (`.venv/bin/rkt`, what a person runs) unless
   `--rkt` names another command line;
2. a re-fetch after one layer changed: bytes each tool downloads, read from the
   registry's access log;
3. the first render: pyrkt unpacking every layer into its tree store (what the
   first `rkt run` pays), vs `tar -xzf` of the same layers as a floor.

Prints a Markdown table. Needs root only for ownership in the render; runs
everything on 127.0.0.1 and removes its temp dirs. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(HERE, "..", "src")
sys.path.insert(0, SRC)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "image"))

from imagebuild import Entry, busybox_entries, tar_bytes, write_oci_layout  # noqa: E402

_LAUNCHER = os.path.join(sys.prefix, "bin", "rkt")
RKT = [_LAUNCHER] if os.path.exists(_LAUNCHER) else [sys.executable, "-c", "import sys; from pyrkt.cli.rkt import main; sys.exit(main())"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def timed(cmd: list[str], env: dict[str, str] | None = None) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, env=env)
    return time.perf_counter() - t


def blob_bytes(log: str, repo: str) -> int:
    """Bytes of blob bodies served for `repo`, from the registry's combined access log."""
    total = 0
    for m in re.finditer(rf'"GET /v2/{re.escape(repo)}/blobs/\S+ HTTP/1.1" 200 (\d+)', log):
        total += int(m.group(1))
    return total


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--layer-mb", type=float, default=10.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--rkt", help="the rkt command line to time, split on spaces (default: the installed launcher)")
    args = ap.parse_args()
    rkt = args.rkt.split() if args.rkt else RKT
    for tool in ("docker-registry", "skopeo"):
        if shutil.which(tool) is None:
            print(f"{tool} is not installed (see packages.apt)", file=sys.stderr)
            return 1
    work = tempfile.mkdtemp(prefix="pyrkt-image-bench-")
    reg = None
    try:
        port = free_port()
        host = f"127.0.0.1:{port}"
        cfg = os.path.join(work, "registry.json")
        with open(cfg, "w") as f:
            json.dump({"version": 0.1, "log": {"level": "error", "accesslog": {"disabled": False}},
                       "storage": {"filesystem": {"rootdirectory": os.path.join(work, "reg")}}, "http": {"addr": host}}, f)
        log_path = os.path.join(work, "registry.log")
        reg = subprocess.Popen(["docker-registry", "serve", cfg], stdout=open(log_path, "w"), stderr=subprocess.STDOUT)
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), 0.1).close()
                break
            except OSError:
                time.sleep(0.05)
        size = int(args.layer_mb * 1024 * 1024)
        layers = [tar_bytes(busybox_entries())]
        layers += [tar_bytes([Entry(f"data{i}", "dir", mode=0o755)] + [Entry(f"data{i}/f{j}", data=os.urandom(size // 16)) for j in range(16)])
                   for i in range(args.layers)]
        total_mb = sum(len(x) for x in layers) / 1048576
        layout = os.path.join(work, "layout")
        write_oci_layout(layout, layers, tag="v1")
        changed = layers[:-1] + [tar_bytes([Entry("changed", "dir", mode=0o755), Entry("changed/f", data=os.urandom(size))])]
        write_oci_layout(layout, changed, tag="v2")
        write_oci_layout(layout, layers[:1], tag="one")
        push = ["skopeo", "--insecure-policy", "copy", "-q", "--dest-tls-verify=false"]
        subprocess.run(push + [f"oci:{layout}:v1", f"docker://{host}/bench/img:v1"], check=True, capture_output=True)
        subprocess.run(push + [f"oci:{layout}:v2", f"docker://{host}/bench/img:v2"], check=True, capture_output=True)
        subprocess.run(push + [f"oci:{layout}:one", f"docker://{host}/bench/one:v1"], check=True, capture_output=True)
        env = {**os.environ, "PYTHONPATH": SRC}
        pyrkt_fetch = rkt + ["--insecure-options=image,http"]

        rows: list[tuple[str, str, str, str]] = []
        t_py, t_sk, t_pod = [], [], []
        t_py1, t_sk1 = [], []
        for i in range(args.runs):
            store = os.path.join(work, f"store{i}")
            t_py.append(timed(pyrkt_fetch + ["--dir", store, "fetch", f"docker://{host}/bench/img:v1"], env))
            oci = os.path.join(work, f"oci{i}")
            t_sk.append(timed(["skopeo", "--insecure-policy", "copy", "-q", "--src-tls-verify=false", f"docker://{host}/bench/img:v1", f"oci:{oci}:v1"]))
            t_py1.append(timed(pyrkt_fetch + ["--dir", os.path.join(work, f"one-store{i}"), "fetch", f"docker://{host}/bench/one:v1"], env))
            t_sk1.append(timed(["skopeo", "--insecure-policy", "copy", "-q", "--src-tls-verify=false", f"docker://{host}/bench/one:v1",
                                f"oci:{os.path.join(work, f'one-oci{i}')}:v1"]))
        podman = shutil.which("podman")
        if podman:
            for i in range(args.runs):
                root = os.path.join(work, f"podman{i}")
                try:
                    t_pod.append(timed([podman, "--root", root, "--runroot", root + "-run", "pull", "-q", "--tls-verify=false", f"{host}/bench/img:v1"]))
                except subprocess.CalledProcessError:
                    t_pod = []
                    break
        py, sk = statistics.median(t_py), statistics.median(t_sk)
        rows.append((f"cold fetch, {args.layers + 1} layers, {total_mb:.0f} MiB", f"{py:.3f} s", f"skopeo {sk:.3f} s", f"{sk / py:.2f}x"))
        py1, sk1 = statistics.median(t_py1), statistics.median(t_sk1)
        rows.append((f"cold fetch, 1 layer, {len(layers[0]) / 1048576:.1f} MiB", f"{py1:.3f} s", f"skopeo {sk1:.3f} s", f"{sk1 / py1:.2f}x"))
        if t_pod:
            pd = statistics.median(t_pod)
            rows.append(("cold fetch (podman pull)", f"{py:.2f} s", f"podman {pd:.2f} s", f"{pd / py:.2f}x"))

        # re-fetch after one layer changed, into the stores/layouts that hold v1
        with open(log_path) as f:
            before = f.read()
        timed(pyrkt_fetch + ["--dir", os.path.join(work, "store0"), "fetch", f"docker://{host}/bench/img:v2"], env)
        with open(log_path) as f:
            after_py = f.read()
        timed(["skopeo", "--insecure-policy", "copy", "-q", "--src-tls-verify=false", f"docker://{host}/bench/img:v2", f"oci:{os.path.join(work, 'oci0')}:v2"])
        with open(log_path) as f:
            after_sk = f.read()
        py_bytes = blob_bytes(after_py, "bench/img") - blob_bytes(before, "bench/img")
        sk_bytes = blob_bytes(after_sk, "bench/img") - blob_bytes(after_py, "bench/img")
        changed_mb = len(changed[-1]) / 1048576
        rows.append((f"re-fetch, 1 layer changed ({changed_mb:.1f} MiB)", f"{py_bytes / 1048576:.1f} MiB", f"skopeo {sk_bytes / 1048576:.1f} MiB",
                     f"{sk_bytes / py_bytes:.2f}x" if py_bytes else "n/a"))
        # and nothing at all when nothing changed
        with open(log_path) as f:
            before = f.read()
        timed(pyrkt_fetch + ["--dir", os.path.join(work, "store0"), "fetch", f"docker://{host}/bench/img:v1"], env)
        with open(log_path) as f:
            again = blob_bytes(f.read(), "bench/img") - blob_bytes(before, "bench/img")
        rows.append(("re-fetch, nothing changed", f"{again / 1048576:.1f} MiB", "", ""))

        # first render
        from pyrkt.image import open_store, runnable_image

        t_render = []
        t_tar = []
        for i in range(args.runs):
            store = open_store(os.path.join(work, f"store{i}"))
            t = time.perf_counter()
            img = runnable_image(store, f"docker://{host}/bench/img:v1")
            t_render.append(time.perf_counter() - t)
            store.close()
            dest = os.path.join(work, f"tar{i}")
            os.makedirs(dest)
            t = time.perf_counter()
            for d in os.listdir(os.path.join(work, "layout/blobs/sha256")):
                pass
            for layer in layers:
                p = subprocess.run(["tar", "-xzf", "-", "-C", dest], input=layer, capture_output=True)
            t_tar.append(time.perf_counter() - t)
        rd, tr = statistics.median(t_render), statistics.median(t_tar)
        rows.append((f"first render ({len(img.lowerdirs)} layer trees)", f"{rd:.2f} s", f"tar -xzf {tr:.2f} s", f"{tr / rd:.2f}x"))
        t = time.perf_counter()
        runnable_image(open_store(os.path.join(work, "store0")), f"docker://{host}/bench/img:v1")
        rows.append(("second run (already rendered)", f"{(time.perf_counter() - t) * 1000:.1f} ms", "", ""))

        load = os.getloadavg()
        print(f"runs: {args.runs} (medians); rkt: {' '.join(rkt)}; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
        print("| measure | pyrkt | other | other / pyrkt |")
        print("|---|---|---|---|")
        for r in rows:
            print("| " + " | ".join(r) + " |")
        return 0
    finally:
        if reg is not None:
            reg.terminate()
            reg.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
