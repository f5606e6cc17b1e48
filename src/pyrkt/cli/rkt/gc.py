"""`rkt gc [--grace-period=30m] [--expire-prepared=24h] [--mark-only]`: garbage collect pods."""

from __future__ import annotations

from pyrkt.cli.args import Flag
from pyrkt.cli.rkt._podcli import out, pod_errors
from pyrkt.cli.rkt.common import GlobalOptions, RktError, command

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

USAGE = """Usage: rkt gc [--grace-period=30m0s] [--expire-prepared=24h0m0s] [--mark-only]

Garbage collect rkt pods no longer in use: exited pods are marked as garbage, and removed once
they have been garbage for the grace period.
"""

FLAGS = (Flag("grace-period", takes_value=True, default="30m"), Flag("expire-prepared", takes_value=True, default="24h"),
         Flag("mark-only"))


@command(FLAGS, USAGE, pod_errors)
def main(opts: GlobalOptions, values: dict[str, Any], rest: list[str]) -> int:
    if rest:
        raise RktError("gc takes no arguments")
    from pyrkt.pod.grammar import parse_duration
    from pyrkt.pod.pods import gc

    gc(opts.dir, parse_duration(str(values["grace_period"]), "--grace-period"),
       parse_duration(str(values["expire_prepared"]), "--expire-prepared"), bool(values["mark_only"]),
       lambda m: out(m + "\n"))
    return 0
