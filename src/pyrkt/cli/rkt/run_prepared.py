"""`rkt run-prepared [flags] UUID`: run a prepared pod in the foreground.

As in rkt, the pod's network, DNS and host name are chosen when it runs: these
flags override what `rkt prepare` recorded (a pod prepared without them gets
the same defaults as `rkt run`).
"""

from __future__ import annotations

from pyrkt.cli.rkt._podcli import pod_errors
from pyrkt.cli.rkt.common import GlobalOptions, RktError
from pyrkt.pod.plan import RunOverrides

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pyrkt.pod.grammar import PodSpec


def overrides(spec: PodSpec, opts: GlobalOptions | None = None, interactive: bool | None = None) -> RunOverrides:
    """What the flags change of the prepared plan; only the flags given on the command line override."""
    from pyrkt.net.dns import resolv_conf
    from pyrkt.pod.pods import _check_networks
    from pyrkt.pod.prepare import PrepareError

    try:
        if spec.net is not None and opts is not None:
            _check_networks(spec.net, opts.local_config, opts.system_config)
    except PrepareError as exc:
        raise RktError(str(exc)) from None
    return RunOverrides(
        net=None if spec.net is None else tuple(spec.net), hostname=spec.hostname,
        resolv=resolv_conf(spec.dns, spec.dns_search, spec.dns_opt, spec.dns_domain),
        # the networks are looked up where this command says, as rkt does
        local_config=opts.local_config if opts is not None else None,
        system_config=opts.system_config if opts is not None else None,
        mds_register=bool(spec.mds_register), interactive=interactive,
    )


@pod_errors
def main(opts: GlobalOptions, argv: list[str]) -> int:
    from pyrkt.cli.rkt import podargs

    parsed = podargs.parse(argv, "run-prepared")
    if parsed is None:
        print(podargs.usage("run-prepared"))
        return 0
    spec, _, rest, given = parsed
    if len(rest) != 1:
        raise RktError("run-prepared takes exactly one pod UUID")
    interactive = spec.interactive if "interactive" in given else None
    extra = overrides(spec, opts, interactive)  # mds_register: registered by the stage1 hook (pyrkt.pod.mds)
    from pyrkt.pod import pods

    # what the pod cannot run with (--mds-register with --net=host, ...) is refused before it is moved
    return pods.run_prepared(opts.dir, rest[0], show_logs=True, overrides=extra)
