"""`rkt prepare [flags] IMAGE…`: prepare a pod and print its UUID (run it with `rkt run-prepared`)."""

from __future__ import annotations

from pyrkt.cli.rkt._podcli import check_spec, fetch_options, out, pod_errors
from pyrkt.cli.rkt.common import GlobalOptions


@pod_errors
def main(opts: GlobalOptions, argv: list[str]) -> int:
    from pyrkt.cli.rkt import podargs

    parsed = podargs.parse(argv, "prepare")
    if parsed is None:
        print(podargs.usage("prepare"))
        return 0
    spec, cli, _, _ = parsed
    check_spec(spec, cli, opts)
    from pyrkt.pod import pods

    pod = pods.prepare(opts.dir, spec, lambda: fetch_options(opts, spec.pull_policy))
    out(pod.uuid + "\n")
    return 0
