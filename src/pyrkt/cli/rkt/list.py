"""`rkt list [--full] [--no-legend] [--format=json|json-pretty]`: one row per app of every pod.

Tab-separated columns aligned as Go's tabwriter with tab padding does (rkt's
output; rktrunner parses `list --full --no-legend`).
"""

from __future__ import annotations

import json

from pyrkt.cli.args import Flag
from pyrkt.cli.rkt._podcli import go_time, humanize, out, pod_errors
from pyrkt.cli.rkt.common import GlobalOptions, RktError, command

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

USAGE = """Usage: rkt list [--full] [--no-legend] [--format=json|json-pretty]

List pods.
"""

FLAGS = (Flag("full"), Flag("no-legend"), Flag("format", takes_value=True, default=""))


def tabwrite(rows: list[list[str]], tabwidth: int = 8, padding: 1 = 1) -> str:  # type: ignore[valid-type]
    """Go's text/tabwriter with padchar '\\t': every cell but the last of a row is padded with tabs."""
    ncols = max((len(r) for r in rows), default=0)
    widths = []
    for c in range(ncols - 1):
        w = max((len(r[c]) for r in rows if len(r) > c + 1), default=0) + padding
        widths.append(((w + tabwidth - 1) // tabwidth) * tabwidth)
    lines = []
    for r in rows:
        parts = []
        for c, cell in enumerate(r):
            if c < len(r) - 1:
                n = widths[c] - len(cell)
                parts.append(cell + "\t" * max(1, (n + tabwidth - 1) // tabwidth))
            else:
                parts.append(cell)
        lines.append("".join(parts) + "\n")
    return "".join(lines)


def to_json(i) -> dict[str, object]:  # type: ignore[no-untyped-def]
    d: dict[str, object] = {"name": i.uuid, "state": i.state, "networks": i.network_list or [], "app_names": [a["name"] for a in i.apps]}
    if i.created is not None:
        d["created_at"] = int(i.created * 1e9)
    if i.started is not None:
        d["started_at"] = int(i.started * 1e9)
    return d


@command(FLAGS, USAGE, pod_errors)
def main(opts: GlobalOptions, values: dict[str, Any], rest: list[str]) -> int:
    if rest:
        raise RktError("list takes no arguments")
    from pyrkt.pod.pods import info
    from pyrkt.pod.store import PodStore

    infos = sorted((info(p) for p in PodStore(opts.dir).all()), key=lambda i: (i.created or 0, i.uuid))
    fmt = values["format"]
    if fmt in ("json", "json-pretty"):
        data = [to_json(i) for i in infos]
        out((json.dumps(data, indent=2) if fmt == "json-pretty" else json.dumps(data)) + "\n")
        return 0
    if fmt:
        raise RktError(f"invalid --format {fmt!r}: use json or json-pretty")
    full = bool(values["full"])
    rows: list[list[str]] = []
    if not values["no_legend"]:
        rows.append(["UUID", "APP", "IMAGE NAME"] + (["IMAGE ID"] if full else []) + ["STATE", "CREATED", "STARTED", "NETWORKS"])
    for i in infos:
        when = go_time if full else humanize
        for app in i.apps or [{"name": "", "image_name": "", "image_id": ""}]:
            image_id = app["image_id"] if full else app["image_id"][:19]
            rows.append([i.uuid if full else i.uuid[:8], app["name"], app["image_name"]] + ([image_id] if full else [])
                        + [i.state, when(i.created), when(i.started), i.networks])
    out(tabwrite(rows))
    return 0
