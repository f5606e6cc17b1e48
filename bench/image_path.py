#!/usr/bin/env python3
"""Trace the image argument of `rkt run IMAGE` through pyrkt: which functions and files it crosses.

Not a benchmark of time: a count, for the pipeline's shape (issue 9 item 2).
Runs `rkt --dir=DIR run --net=host IMAGE --exec /bin/true` in this process
under `sys.setprofile` and records every call of a pyrkt function, from
another pyrkt file, with an argument that carries the image: the IMAGE text,
its image ID, one of its layer directories, or a value holding one of those (a
list, dict, tuple, or a record's attributes, a few levels deep). A "hop" is one
distinct such (calling file -> called function) edge; "files" are the distinct
source files on either end. pyrkt.records' generated methods are left out
(constructing a record is not a hop). Also counted, whatever they carry: the
calls that look the image up, write or parse JSON, or parse an OCI config.

    .venv/bin/python bench/image_path.py --dir DATA_DIR example.com/busybox

DATA_DIR must hold the image already (rkt fetch first); the pod is gc'd after.
Needs root, like `rkt run`.
"""

from __future__ import annotations

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "src"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", required=True)
    ap.add_argument("image")
    args = ap.parse_args()
    from pyrkt.image.render import runnable_image
    from pyrkt.image.store import Store

    store = Store(args.dir)
    img = runnable_image(store, args.image)
    store.close()
    markers = {args.image, img.image_id, *img.lowerdirs}

    def carries(obj: object, depth: int = 0) -> bool:
        if isinstance(obj, str):
            return any(m in obj for m in markers)
        if depth > 5 or obj is None or isinstance(obj, (int, float, bool, bytes)):
            return False
        if isinstance(obj, dict):
            return any(carries(v, depth + 1) for v in obj.values())
        if isinstance(obj, (list, tuple, set, frozenset)):
            return any(carries(v, depth + 1) for v in obj)
        attrs = getattr(obj, "__dict__", None)
        if isinstance(attrs, dict):
            return any(carries(v, depth + 1) for v in attrs.values())
        for name in getattr(type(obj), "__slots__", ()):
            if carries(getattr(obj, name, None), depth + 1):
                return True
        return False

    hops: dict[tuple[str, str, str], int] = {}
    counted = ("Store.resolve", "parse_reference", "dumps", "loads", "load", "Config.__init__", "PodPlan.from_json",
               "Pod.read_json", "runnable", "runnable_image")
    counts: dict[str, int] = {}
    pid = os.getpid()
    src = os.path.join(os.path.dirname(HERE), "src", "pyrkt") + os.sep
    alt = os.sep + "pyrkt" + os.sep

    def profile(frame, event, _arg):  # type: ignore[no-untyped-def]
        if event != "call" or os.getpid() != pid:
            return
        code = frame.f_code
        fn = code.co_filename
        if not (fn.startswith(src) or alt in fn) or fn.endswith(os.sep + "records.py"):
            return
        name = fn[fn.rindex(alt) + 1:]
        if code.co_qualname in counted:
            what = f"{name}:{code.co_qualname}"
            counts[what] = counts.get(what, 0) + 1
        caller = frame.f_back.f_code.co_filename if frame.f_back is not None else ""
        if caller == fn or not (alt in caller):
            return
        n = code.co_argcount + code.co_kwonlyargcount
        loc = frame.f_locals
        if any(carries(loc.get(v)) for v in code.co_varnames[:n]):
            key = (caller[caller.rindex(alt) + 1:], name, code.co_qualname)
            hops[key] = hops.get(key, 0) + 1

    from pyrkt.cli.rkt import main as rkt_main

    uuid_file = os.path.join(args.dir, "image-path.uuid")
    sys.setprofile(profile)
    try:
        code = rkt_main(["--dir", args.dir, "run", "--uuid-file-save", uuid_file, "--net=host", args.image, "--exec", "/bin/true"])
    finally:
        sys.setprofile(None)
    files = sorted({f for c, f, _ in hops} | {c for c, f, _ in hops})
    for (c, f, q), calls in sorted(hops.items()):
        print(f"{c} -> {f}:{q}" + (f"  x{calls}" if calls > 1 else ""))
    print("\ncalls (whatever they carry):")
    for what, n in sorted(counts.items()):
        print(f"  {what}  x{n}")
    print(f"\nexit {code}; hops (calling file -> function, carrying the image): {len(hops)}; files: {len(files)}")
    rkt_main(["--dir", args.dir, "gc", "--grace-period=0s"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
