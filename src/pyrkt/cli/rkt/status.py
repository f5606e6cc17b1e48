"""`rkt status [--wait[=DURATION]] [--wait-ready[=DURATION]] [--format=json] [--logs] UUID`."""

from __future__ import annotations

import json

from pyrkt.cli.args import Flag
from pyrkt.cli.rkt._podcli import go_time, out, pod_errors, uuids
from pyrkt.cli.rkt.common import GlobalOptions, RktError, command

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

USAGE = """Usage: rkt status [--wait] [--wait-ready] [--uuid-file=FILE] [--format=json|json-pretty] [--logs] UUID

Check the status of a rkt pod.

Flags:
  --wait[=DURATION]        wait for the pod to exit (0 or no value: forever)
  --wait-ready[=DURATION]  wait for the pod to be running with its apps started
  --logs                   also print each app's output (kept under the pod dir)
"""

# --wait and --wait-ready may stand alone: 0, wait for ever
FLAGS = (Flag("wait", takes_value=True, bare="0"), Flag("wait-ready", takes_value=True, bare="0"), Flag("uuid-file", takes_value=True),
         Flag("format", takes_value=True, default=""), Flag("logs"))


@command(FLAGS, USAGE, pod_errors)
def main(opts: GlobalOptions, values: dict[str, Any], rest: list[str]) -> int:
    ids = uuids(values, rest)
    if len(ids) != 1:
        raise RktError("status takes exactly one pod UUID")
    from pyrkt.pod.grammar import parse_duration
    from pyrkt.pod.pods import info, wait
    from pyrkt.pod.store import PodStore

    pod = PodStore(opts.dir).find(ids[0])
    if values["wait_ready"] is not None:
        wait(pod, parse_duration(str(values["wait_ready"]), "--wait-ready"), ready=True)
    if values["wait"] is not None:
        wait(pod, parse_duration(str(values["wait"]), "--wait"))
    i = info(pod)
    pid = pod.pid()
    fmt = values["format"]
    if fmt in ("json", "json-pretty"):
        from pyrkt.cli.rkt.list import to_json

        d = to_json(i)
        if pid is not None:
            d["pid"] = pid
        d["app_exit_codes"] = i.exit_codes
        out((json.dumps(d, indent=2) if fmt == "json-pretty" else json.dumps(d)) + "\n")
        return 0
    if fmt:
        raise RktError(f"invalid --format {fmt!r}: use json or json-pretty")
    lines = [f"state={i.state}", f"created={go_time(i.created)}", f"started={go_time(i.started)}"]
    if i.state in ("running", "exited"):
        lines.append(f"networks={i.networks}")
    if i.state in ("running", "deleting", "exited", "exited garbage"):
        lines.append(f"pid={pid if pid is not None else -1}")
        lines.append(f"exited={'true' if i.state in ('exited', 'exited garbage') else 'false'}")
    if i.state != "running":
        for name, code in sorted(i.exit_codes.items()):
            lines.append(f"app-{name}={code}")
    out("\n".join(lines) + "\n")
    if values["logs"]:
        for app in i.apps:
            text = pod.read(f"apps/{app['name']}/log") or ""
            out(f"--- app {app['name']} ---\n{text}")
    return 0
