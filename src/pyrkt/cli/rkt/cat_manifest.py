"""`rkt cat-manifest [--pretty-print] UUID`: print the pod manifest."""

from __future__ import annotations

import json

from pyrkt.cli.args import Flag
from pyrkt.cli.rkt._podcli import out, pod_errors, uuids
from pyrkt.cli.rkt.common import GlobalOptions, RktError, command

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

USAGE = """Usage: rkt cat-manifest [--pretty-print=true] UUID

Inspect and print the pod manifest.
"""

FLAGS = (Flag("pretty-print", takes_value=False, default=True), Flag("uuid-file", takes_value=True))


@command(FLAGS, USAGE, pod_errors)
def main(opts: GlobalOptions, values: dict[str, Any], rest: list[str]) -> int:
    ids = uuids(values, rest)
    if len(ids) != 1:
        raise RktError("cat-manifest takes exactly one pod UUID")
    from pyrkt.pod.store import PodStore

    pod = PodStore(opts.dir).find(ids[0])
    if pod.read("pod") is None:
        raise RktError(f"pod {pod.uuid} has no manifest yet (state: {pod.state})")
    data = pod.read_json("pod")  # damage: one line naming the file
    out((json.dumps(data, indent="\t") if values["pretty_print"] else json.dumps(data, separators=(",", ":"))) + "\n")
    return 0
