"""`rkt rm [--uuid-file=FILE] UUID…`: remove exited (or prepared) pods now."""

from __future__ import annotations

import sys

from pyrkt.cli.args import Flag
from pyrkt.cli.rkt._podcli import out, parse_flags, pod_errors, uuids
from pyrkt.cli.rkt.common import GlobalOptions

USAGE = """Usage: rkt rm [--uuid-file=FILE] UUID ...

Remove all files and resources associated with an exited pod.
"""

FLAGS = (Flag("uuid-file", takes_value=True),)


@pod_errors
def main(opts: GlobalOptions, argv: list[str]) -> int:
    parsed = parse_flags(argv, FLAGS, USAGE)
    if parsed is None:
        return 0
    values, rest = parsed
    from pyrkt.pod.pods import rm
    from pyrkt.pod.store import PodError, PodStore

    failed = 0
    for prefix in uuids(values, rest):
        try:
            uuid = PodStore(opts.dir).find(prefix).uuid
            rm(opts.dir, prefix, lambda m: print(m, file=sys.stderr))
            out(f'"{uuid}"\n')
        except PodError as exc:
            print(f"rkt: {exc}", file=sys.stderr)
            failed += 1
    return 254 if failed else 0
