"""`rkt run-prepared [--interactive] UUID`: run a prepared pod in the foreground."""

from __future__ import annotations

from pyrkt.cli.args import Flag
from pyrkt.cli.rkt._podcli import parse_flags, pod_errors
from pyrkt.cli.rkt.common import GlobalOptions, RktError

USAGE = """Usage: rkt run-prepared UUID

Run a prepared application pod in rkt.

Flags:
  --interactive   the app gets the terminal (one app only)
  --net=host|none, --dns..., --hostname, --mds-register: accepted as rkt does, taken from prepare
"""

FLAGS = (Flag("interactive"), Flag("net", takes_value=True, repeat=True), Flag("mds-register"),
         Flag("dns", takes_value=True, repeat=True), Flag("dns-search", takes_value=True, repeat=True),
         Flag("dns-opt", takes_value=True, repeat=True), Flag("dns-domain", takes_value=True),
         Flag("hostname", takes_value=True))


@pod_errors
def main(opts: GlobalOptions, argv: list[str]) -> int:
    parsed = parse_flags(argv, FLAGS, USAGE)
    if parsed is None:
        return 0
    values, rest = parsed
    if len(rest) != 1:
        raise RktError("run-prepared takes exactly one pod UUID")
    from pyrkt.pod import pods

    return pods.run_prepared(opts.dir, rest[0], interactive=True if values["interactive"] else None)
