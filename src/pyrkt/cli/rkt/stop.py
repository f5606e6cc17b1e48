"""`rkt stop [--force] [--uuid-file=FILE] UUID…`: stop running pods; prints each stopped UUID quoted."""

from __future__ import annotations

import sys

from pyrkt.cli.args import Flag
from pyrkt.cli.rkt._podcli import out, parse_flags, pod_errors, uuids
from pyrkt.cli.rkt.common import GlobalOptions

USAGE = """Usage: rkt stop [--force] [--uuid-file=FILE] UUID ...

Stop a pod: its apps get SIGTERM, then SIGKILL after 10s; --force kills them at once.
"""

FLAGS = (Flag("force"), Flag("uuid-file", takes_value=True))


@pod_errors
def main(opts: GlobalOptions, argv: list[str]) -> int:
    parsed = parse_flags(argv, FLAGS, USAGE)
    if parsed is None:
        return 0
    values, rest = parsed
    from pyrkt.pod.pods import stop
    from pyrkt.pod.store import PodError, PodStore

    failed = 0
    for prefix in uuids(values, rest):
        try:
            pod = PodStore(opts.dir).find(prefix)
            stop(pod, force=bool(values["force"]))
            out(f'"{pod.uuid}"\n')
        except PodError as exc:
            print(f"rkt: {exc}", file=sys.stderr)
            failed += 1
    return 254 if failed else 0
