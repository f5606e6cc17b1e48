"""`rkt rm [--uuid-file=FILE] UUID…`: remove exited (or prepared) pods now."""

from __future__ import annotations

import sys

from pyrkt.cli.args import Flag
from pyrkt.cli.rkt._podcli import each_pod, pod_errors, uuids
from pyrkt.cli.rkt.common import GlobalOptions, command

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

USAGE = """Usage: rkt rm [--uuid-file=FILE] UUID ...

Remove all files and resources associated with an exited pod.
"""

FLAGS = (Flag("uuid-file", takes_value=True),)


@command(FLAGS, USAGE, pod_errors)
def main(opts: GlobalOptions, values: dict[str, Any], rest: list[str]) -> int:
    from pyrkt.pod.pods import rm

    return each_pod(opts.dir, uuids(values, rest), lambda pod: rm(pod, lambda m: print(m, file=sys.stderr)))
