"""`rkt image list|rm|gc|cat-manifest|export|extract|render|verify`.

Argument parsing and output formatting only; the store, rendering and gc
live in `pyrkt.image`. Output follows rkt: tab-aligned columns with a legend,
short IDs unless `--full`, humanized sizes and times.
"""

from __future__ import annotations

import json
import re
import sys
import time
from typing import Any, Callable

from pyrkt.cli.args import Flag, UsageError, parse
from pyrkt.cli.rkt._imagecli import one_line_errors
from pyrkt.cli.rkt.common import GlobalOptions, RktError

USAGE = """Usage: rkt image SUBCOMMAND

Subcommands:
  cat-manifest [--pretty-print] IMAGE     print the image manifest
  export [--overwrite] IMAGE FILE.aci     export an image as an ACI file
  extract [--rootfs-only] [--overwrite] IMAGE DIR   extract an image (without dependencies)
  gc [--grace-period=24h]                 remove unused images, trees and blobs
  list [--full] [--no-legend] [--fields=...] [--sort=...] [--order=asc|desc] [--format=json|json-pretty]
  render [--rootfs-only] [--overwrite] IMAGE DIR    render an image with its dependencies
  rm IMAGE...                             remove images
  verify [IMAGE...]                       re-check the digests of stored images
"""

FIELDS = {
    "id": "ID",
    "name": "NAME",
    "importtime": "IMPORT TIME",
    "lastused": "LAST USED",
    "size": "SIZE",
    "latest": "LATEST",
}
DEFAULT_FIELDS = "id,name,importtime,lastused,size,latest"


def _parse(argv: list[str], flags: tuple[Flag, ...]) -> tuple[dict[str, Any], list[str]]:
    try:
        return parse(argv, flags + (Flag("h,help", dest="help"),))
    except UsageError as exc:
        raise RktError(str(exc)) from None


def human_size(n: int) -> str:
    """rkt's humanize.IBytes style: 1.8GiB, 184MiB, 512B."""
    if n < 1024:
        return f"{n}B"
    value = float(n)
    for unit in ("KiB", "MiB", "GiB", "TiB", "PiB"):
        value /= 1024
        if value < 1024 or unit == "PiB":
            return f"{value:.1f}{unit}" if value < 10 else f"{value:.0f}{unit}"
    return f"{n}B"  # pragma: no cover


def human_time(t: float, now: float | None = None) -> str:
    """'4 minutes ago', like go-humanize's Time."""
    now = time.time() if now is None else now
    d = now - t
    if d < 1:
        return "now"
    for limit, div, unit in ((60, 1, "second"), (3600, 60, "minute"), (86400, 3600, "hour"), (86400 * 30, 86400, "day"),
                             (86400 * 365, 86400 * 30, "month"), (float("inf"), 86400 * 365, "year")):
        if d < limit:
            n = int(d // div)
            return f"{n} {unit}{'s' if n != 1 else ''} ago"
    return ""  # pragma: no cover


_DUR = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """A Go duration (`24h`, `1h30m`, `0s`) in seconds."""
    if text in ("0", "+0", "-0"):
        return 0.0
    pos, total = 0, 0.0
    for m in _DUR.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos != len(text) or not text:
        raise RktError(f"invalid duration {text!r} (examples: 24h, 30m, 1h30m, 0s)")
    return total


def _table(rows: list[list[str]], header: list[str] | None) -> str:
    all_rows = ([header] if header else []) + rows
    if not all_rows:
        return ""
    widths = [max(len(r[i]) for r in all_rows) for i in range(len(all_rows[0]))]
    lines = ["\t".join(cell.ljust(widths[i]) if i < len(widths) - 1 else cell for i, cell in enumerate(r)).rstrip() for r in all_rows]
    return "\n".join(line.replace("\t", "  ") for line in lines)


def cmd_list(opts: GlobalOptions, argv: list[str]) -> int:
    values, rest = _parse(argv, (Flag("full"), Flag("no-legend"), Flag("fields", takes_value=True, default=DEFAULT_FIELDS),
                                 Flag("sort", takes_value=True, default="importtime"), Flag("order", takes_value=True, default="asc"),
                                 Flag("format", takes_value=True, default="")))
    if rest:
        raise RktError(f"image list: unexpected argument {rest[0]!r}")
    fields = [f.strip().lower() for f in str(values["fields"]).split(",") if f.strip()]
    for f in fields:
        if f not in FIELDS:
            raise RktError(f"image list: unknown field {f!r} (one of {', '.join(FIELDS)})")
    sort_keys = [s.strip().lower() for s in str(values["sort"]).split(",") if s.strip()]
    for s in sort_keys:
        if s not in FIELDS:
            raise RktError(f"image list: unknown sort field {s!r} (one of {', '.join(FIELDS)})")
    order = str(values["order"]).lower()
    if order not in ("asc", "desc"):
        raise RktError(f"image list: --order must be asc or desc, not {order!r}")
    fmt = str(values["format"])
    if fmt not in ("", "json", "json-pretty"):
        raise RktError(f"image list: --format must be json or json-pretty, not {fmt!r}")
    from pyrkt.image.store import Store

    store = Store(opts.dir)
    images = store.images()
    store.close()
    keyf: dict[str, Callable[[Any], Any]] = {
        "id": lambda r: r.id, "name": lambda r: r.display_name, "importtime": lambda r: r.import_time,
        "lastused": lambda r: r.last_used, "size": lambda r: r.size, "latest": lambda r: r.latest,
    }
    images.sort(key=lambda r: tuple(keyf[s](r) for s in sort_keys), reverse=order == "desc")
    if fmt:
        out = [{"id": r.id, "name": r.display_name, "import_time": int(r.import_time * 1e9), "last_used_time": int(r.last_used * 1e9),
                "size": r.size, "latest": r.latest} for r in images]
        print(json.dumps(out, indent=2 if fmt == "json-pretty" else None))
        return 0
    full = bool(values["full"])
    now = time.time()
    rows = []
    for r in images:
        algo, _, hx = r.id.partition("-")
        cells = {
            "id": r.id if full else f"{algo}-{hx[:12]}",
            "name": r.display_name,
            "importtime": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.import_time)) if full else human_time(r.import_time, now),
            "lastused": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.last_used)) if full else human_time(r.last_used, now),
            "size": str(r.size) if full else human_size(r.size),
            "latest": "true" if r.latest else "false",
        }
        rows.append([cells[f] for f in fields])
    text = _table(rows, None if values["no_legend"] else [FIELDS[f] for f in fields])
    if text:
        print(text)
    return 0


def _resolve(store: Any, ref: str) -> Any:
    from pyrkt.image.errors import ImageError

    try:
        return store.resolve(ref)
    except ImageError as exc:
        raise RktError(str(exc)) from None


def cmd_rm(opts: GlobalOptions, argv: list[str]) -> int:
    values, refs = _parse(argv, (Flag("force"),))
    if not refs:
        raise RktError("image rm: at least one image ID or name is needed")
    from pyrkt.image.errors import ImageError
    from pyrkt.image.gc import remove_image
    from pyrkt.image.store import Store
    from pyrkt.image.uselock import ImageUse
    from pyrkt.pod.imagerefs import trees_of_pods
    from pyrkt.pod.pods import images_of_live_pods

    store = Store(opts.dir)
    store.reclaiming = True  # a full disk: may spend the store's reserve to free space
    done = failed = 0
    with ImageUse(opts.dir, shared=False):  # no prepare between reading the pods and removing
        live = set() if values["force"] else images_of_live_pods(opts.dir)
        keep_trees = frozenset() if values["force"] else trees_of_pods(opts.dir)  # exited pods' (rkt export)
        for ref in refs:
            try:
                rec = store.resolve(ref)
                if rec.id in live:
                    print(f"rkt: image rm: {rec.id} is used by a pod that is not garbage yet (remove the pod, or --force)", file=sys.stderr)
                    failed += 1
                    continue
                remove_image(store, rec, keep_trees)
                print(f'successfully removed aci for image: "{rec.id}"', file=sys.stderr)
                done += 1
            except ImageError as exc:
                print(f"rkt: image rm: {exc}", file=sys.stderr)
                failed += 1
    store.close()
    store.ensure_reserve()
    if done:
        print(f"rm: {done} image(s) successfully removed", file=sys.stderr)
    if failed:
        raise RktError(f"rm: {failed} image(s) failed to be removed")
    return 0


def cmd_gc(opts: GlobalOptions, argv: list[str]) -> int:
    values, rest = _parse(argv, (Flag("grace-period", takes_value=True, default="24h"),))
    if rest:
        raise RktError(f"image gc: unexpected argument {rest[0]!r}")
    grace = parse_duration(str(values["grace_period"]))
    from pyrkt.image.gc import gc
    from pyrkt.image.store import Store

    from pyrkt.image.uselock import ImageUse
    from pyrkt.pod.imagerefs import trees_of_pods
    from pyrkt.pod.pods import images_of_live_pods

    store = Store(opts.dir)
    store.reclaiming = True  # a full disk: may spend the store's reserve to free space
    with ImageUse(opts.dir, shared=False):  # no prepare between reading the pods and removing
        res = gc(store, grace, keep=frozenset(images_of_live_pods(opts.dir)), keep_trees=trees_of_pods(opts.dir))
    store.close()
    store.ensure_reserve()
    for image_id in res.removed_images:
        print(f'successfully removed aci for image: "{image_id}"', file=sys.stderr)
    for image_id in res.kept_in_use:
        print(f"rkt: image gc: keeping {image_id}: in use by a pod", file=sys.stderr)
    print(f"gc: {len(res.removed_images)} image(s), {len(res.removed_trees)} tree(s), {res.removed_blobs} blob(s) removed", file=sys.stderr)
    return 0


def cmd_cat_manifest(opts: GlobalOptions, argv: list[str]) -> int:
    values, refs = _parse(argv, (Flag("pretty-print"),))
    if len(refs) != 1:
        raise RktError("image cat-manifest: exactly one image is needed")
    from pyrkt.image.store import Store

    store = Store(opts.dir)
    rec = _resolve(store, refs[0])
    store.close()
    obj = json.loads(rec.manifest)
    print(json.dumps(obj, indent=4 if values["pretty_print"] else None, separators=None if values["pretty_print"] else (",", ":")))
    return 0


def cmd_export(opts: GlobalOptions, argv: list[str]) -> int:
    values, args = _parse(argv, (Flag("overwrite"),))
    if len(args) != 2:
        raise RktError("image export: usage: rkt image export IMAGE OUTPUT_ACI_FILE")
    from pyrkt.image.errors import ImageError
    from pyrkt.image.export import export_aci
    from pyrkt.image.store import Store

    store = Store(opts.dir)
    rec = _resolve(store, args[0])
    try:
        export_aci(store, rec, args[1], bool(values["overwrite"]))
    except ImageError as exc:
        raise RktError(f"image export: {exc}") from None
    finally:
        store.close()
    return 0


def _render_cmd(opts: GlobalOptions, argv: list[str], with_deps: bool, name: str) -> int:
    values, args = _parse(argv, (Flag("rootfs-only"), Flag("overwrite")))
    if len(args) != 2:
        raise RktError(f"image {name}: usage: rkt image {name} [--rootfs-only] [--overwrite] IMAGE OUTPUT_DIR")
    from pyrkt.image.errors import ImageError
    from pyrkt.image.export import render_to_dir
    from pyrkt.image.store import Store

    store = Store(opts.dir)
    rec = _resolve(store, args[0])
    try:
        render_to_dir(store, rec, args[1], bool(values["rootfs_only"]), with_deps, bool(values["overwrite"]))
    except ImageError as exc:
        raise RktError(f"image {name}: {exc}") from None
    finally:
        store.close()
    return 0


def cmd_verify(opts: GlobalOptions, argv: list[str]) -> int:
    _, refs = _parse(argv, ())
    from pyrkt.image.errors import ImageError
    from pyrkt.image.store import Store

    store = Store(opts.dir)
    recs = [_resolve(store, r) for r in refs] if refs else store.images()
    bad = 0
    for rec in recs:
        try:
            for d in rec.blob_digests():
                store.verify_blob(d)
            print(f"{rec.id}\t{rec.display_name}\tok")
        except ImageError as exc:
            bad += 1
            print(f"{rec.id}\t{rec.display_name}\tFAILED: {exc}")
    store.close()
    if bad:
        raise RktError(f"image verify: {bad} image(s) failed verification")
    return 0


SUBCOMMANDS: dict[str, Callable[[GlobalOptions, list[str]], int]] = {
    "list": cmd_list,
    "rm": cmd_rm,
    "gc": cmd_gc,
    "cat-manifest": cmd_cat_manifest,
    "export": cmd_export,
    "extract": lambda o, a: _render_cmd(o, a, False, "extract"),
    "render": lambda o, a: _render_cmd(o, a, True, "render"),
    "verify": cmd_verify,
}


@one_line_errors
def main(opts: GlobalOptions, argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0
    sub = SUBCOMMANDS.get(argv[0])
    if sub is None:
        raise RktError(f"unknown command {argv[0]!r} for \"rkt image\"")
    if "-h" in argv[1:] or "--help" in argv[1:]:
        print(USAGE)
        return 0
    return sub(opts, argv[1:])
