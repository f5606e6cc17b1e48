"""`rkt prepare [flags] IMAGE…`: prepare a pod and print its UUID (run it with `rkt run-prepared`)."""

from __future__ import annotations

from pyrkt.cli.rkt._podcli import check_spec, fetch_options, out, pod_errors
from pyrkt.cli.rkt.common import GlobalOptions

USAGE = """Usage: rkt prepare [--quiet] [run flags] IMAGE [-- image-args...[---]]...

Prepare to run image(s) in a pod in rkt; prints the pod UUID. Takes the flags of `rkt run`
except --interactive and --mds-register.
"""


@pod_errors
def main(opts: GlobalOptions, argv: list[str]) -> int:
    if argv in (["-h"], ["--help"]):
        print(USAGE)
        return 0
    from pyrkt.pod import pods
    from pyrkt.pod.grammar import parse_pod_args

    spec = parse_pod_args(argv, "prepare")
    check_spec(spec, opts)
    pod = pods.prepare(opts.dir, spec, lambda: fetch_options(opts, spec.pull_policy))
    out(pod.uuid + "\n")
    return 0
