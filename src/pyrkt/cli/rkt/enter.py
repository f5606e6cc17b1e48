"""`rkt enter [--app=NAME] UUID [CMD [ARGS…]]`: run a command in a running app's namespaces and rootfs."""

from __future__ import annotations

from pyrkt.cli.args import Flag, parse
from pyrkt.cli.rkt._podcli import pod_errors
from pyrkt.cli.rkt.common import GlobalOptions, RktError

USAGE = """Usage: rkt enter [--app=APPNAME] UUID [CMD [ARGS ...]]

Enter the namespaces of an app within a rkt pod (default command /bin/bash, or /bin/sh).
"""

FLAGS = (Flag("app", takes_value=True), Flag("h,help", dest="help"))


@pod_errors
def main(opts: GlobalOptions, argv: list[str]) -> int:
    values, rest = parse(argv, FLAGS, interspersed=False)
    if values["help"]:
        print(USAGE)
        return 0
    if not rest:
        raise RktError("missing pod UUID")
    from pyrkt.pod.pods import enter

    app = values["app"]
    return enter(opts.dir, rest[0], str(app) if app else None, rest[1:])
