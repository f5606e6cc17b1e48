"""`rkt run [flags] IMAGE [per-app flags] [-- ARGS… ---] IMAGE…`: run a pod in the foreground.

The app grammar and every flag are parsed by `pyrkt.cli.rkt.podargs`'s table; the pod is
prepared and run by `pyrkt.pod.pods`. The exit status is the app's (with
several apps, the first non-zero in app order).
"""

from __future__ import annotations

from pyrkt.cli.rkt._podcli import check_spec, fetch_options, pod_errors
from pyrkt.cli.rkt.common import GlobalOptions


@pod_errors
def main(opts: GlobalOptions, argv: list[str]) -> int:
    from pyrkt.cli.rkt import podargs

    parsed = podargs.parse(argv, "run")
    if parsed is None:
        print(podargs.usage("run"))
        return 0
    spec, cli, _, _ = parsed
    check_spec(spec, cli, opts)
    from pyrkt.pod import pods

    return pods.run(opts.dir, spec, lambda: fetch_options(opts, spec.pull_policy))
