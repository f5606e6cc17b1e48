"""`rkt stop [--force] [--uuid-file=FILE] UUID…`: stop running pods; prints each stopped UUID quoted."""

from __future__ import annotations

from pyrkt.cli.args import Flag
from pyrkt.cli.rkt._podcli import each_pod, pod_errors, uuids
from pyrkt.cli.rkt.common import GlobalOptions, command

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

USAGE = """Usage: rkt stop [--force] [--uuid-file=FILE] UUID ...

Stop a pod: its apps get SIGTERM, then SIGKILL after 10s; --force kills them at once.
"""

FLAGS = (Flag("force"), Flag("uuid-file", takes_value=True))


@command(FLAGS, USAGE, pod_errors)
def main(opts: GlobalOptions, values: dict[str, Any], rest: list[str]) -> int:
    from pyrkt.pod.pods import stop

    force = bool(values["force"])
    return each_pod(opts.dir, uuids(values, rest), lambda pod: stop(pod, force=force))
