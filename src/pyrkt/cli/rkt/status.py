"""`rkt status [--wait[=DURATION]] [--wait-ready[=DURATION]] [--format=json] [--logs] UUID`."""

from __future__ import annotations

import json

from pyrkt.cli.args import Flag
from pyrkt.cli.rkt._podcli import go_time, out, pod_errors, uuids
from pyrkt.cli.rkt.common import GlobalOptions, RktError, parse_flags

USAGE = """Usage: rkt status [--wait] [--wait-ready] [--uuid-file=FILE] [--format=json|json-pretty] [--logs] UUID

Check the status of a rkt pod.

Flags:
  --wait[=DURATION]        wait for the pod to exit (0 or no value: forever)
  --wait-ready[=DURATION]  wait for the pod to be running with its apps started
  --logs                   also print each app's output (kept under the pod dir)
"""

FLAGS = (Flag("wait", takes_value=True), Flag("wait-ready", takes_value=True), Flag("uuid-file", takes_value=True),
         Flag("format", takes_value=True, default=""), Flag("logs"))


def _preprocess(argv: list[str]) -> list[str]:
    # --wait and --wait-ready may stand alone (optional value, as pflag's NoOptDefVal)
    return [a + "=0" if a in ("--wait", "-wait", "--wait-ready", "-wait-ready") else a for a in argv]


@pod_errors
def main(opts: GlobalOptions, argv: list[str]) -> int:
    parsed = parse_flags(_preprocess(argv), FLAGS, USAGE)
    if parsed is None:
        return 0
    values, rest = parsed
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
