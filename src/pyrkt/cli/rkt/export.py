"""`rkt export [--app=NAME] [--overwrite] UUID FILE.aci`: an exited app's rootfs as an ACI."""

from __future__ import annotations

from pyrkt.cli.args import Flag
from pyrkt.cli.rkt._podcli import pod_errors
from pyrkt.cli.rkt.common import GlobalOptions, RktError, command

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

USAGE = """Usage: rkt export [--app=APPNAME] [--overwrite] UUID OUTPUT_ACI_FILE

Export an app from an exited pod to an ACI file.
"""

FLAGS = (Flag("app", takes_value=True), Flag("overwrite"))


@command(FLAGS, USAGE, pod_errors)
def main(opts: GlobalOptions, values: dict[str, Any], rest: list[str]) -> int:
    if len(rest) != 2:
        raise RktError("export takes a pod UUID and an output file")
    from pyrkt.pod.pods import export

    export(opts.dir, rest[0], values["app"], rest[1], bool(values["overwrite"]))
    return 0
