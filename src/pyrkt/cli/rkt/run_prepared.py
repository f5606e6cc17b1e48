"""`rkt run-prepared [flags] UUID`: run a prepared pod in the foreground.

As in rkt, the pod's network, DNS and host name are chosen when it runs: these
flags override what `rkt prepare` recorded (a pod prepared without them gets
the same defaults as `rkt run`).
"""

from __future__ import annotations

from pyrkt.cli.rkt._podcli import pod_errors
from pyrkt.cli.rkt.common import GlobalOptions, RktError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pyrkt.pod.grammar import PodSpec


def overrides(spec: PodSpec, opts: GlobalOptions | None = None) -> dict[str, Any]:
    """runtime.json keys the flags set; only the flags given on the command line override (the others are unset)."""
    from pyrkt.net.dns import resolv_conf
    from pyrkt.pod.pods import _check_networks
    from pyrkt.pod.prepare import PrepareError

    try:
        if spec.net is not None and opts is not None:
            _check_networks(spec.net, opts.local_config, opts.system_config)
    except PrepareError as exc:
        raise RktError(str(exc)) from None
    out: dict[str, Any] = {}
    if spec.net is not None:
        out["net"] = spec.net
    if opts is not None:  # the networks are looked up where this command says, as rkt does
        out["local_config"], out["system_config"] = opts.local_config, opts.system_config
    if spec.hostname is not None:
        out["hostname"] = spec.hostname
    resolv = resolv_conf(spec.dns, spec.dns_search, spec.dns_opt, spec.dns_domain)
    if resolv is not None:
        out["resolv"] = resolv
    return out


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
    extra = overrides(spec, opts)
    if spec.mds_register:
        import json

        from pyrkt.pod.store import PodStore

        net = extra.get("net") or json.loads(PodStore(opts.dir).find(rest[0]).read("runtime.json") or "{}").get("net")
        if net in (["host"], "host"):
            raise RktError("--mds-register cannot be used with --net=host: the metadata service needs a contained network")
        extra["mds_register"] = True  # registered by the stage1 hook (pyrkt.pod.mds)
    from pyrkt.pod import pods

    interactive = spec.interactive if "interactive" in given else None
    return pods.run_prepared(opts.dir, rest[0], interactive=interactive, show_logs=True, overrides=extra)
