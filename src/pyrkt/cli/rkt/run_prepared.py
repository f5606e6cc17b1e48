"""`rkt run-prepared [flags] UUID`: run a prepared pod in the foreground.

As in rkt, the pod's network, DNS and host name are chosen when it runs: these
flags override what `rkt prepare` recorded (a pod prepared without them gets
the same defaults as `rkt run`).
"""

from __future__ import annotations

from typing import Any

from pyrkt.cli.args import Flag
from pyrkt.cli.rkt._podcli import pod_errors
from pyrkt.cli.rkt.common import GlobalOptions, RktError, parse_flags
from pyrkt.pod.plan import RunOverrides

USAGE = """Usage: rkt run-prepared [flags] UUID

Run a prepared application pod in rkt.

Flags:
  --interactive[=BOOL]   the app gets the terminal (one app only)
  --net=NET[,NET…]       the pod's networks (as rkt run: default, default-restricted, host, none, all,
                         named networks from <local-config>/net.d, NAME:K=V;K2=V2 for CNI_ARGS)
  --dns=IP (repeatable, or "host"), --dns-search=DOMAIN, --dns-opt=OPT, --dns-domain=DOMAIN
  --hostname=NAME        the pod's host name (default rkt-<uuid>, or what prepare was given)
  --mds-register         register the pod with `rkt metadata-service` (not with --net=host)
"""

FLAGS = (Flag("interactive"), Flag("net", takes_value=True, repeat=True), Flag("mds-register"),
         Flag("dns", takes_value=True, repeat=True), Flag("dns-search", takes_value=True, repeat=True),
         Flag("dns-opt", takes_value=True, repeat=True), Flag("dns-domain", takes_value=True),
         Flag("hostname", takes_value=True))


def overrides(values: dict[str, Any], opts: GlobalOptions | None = None, interactive: bool | None = None) -> RunOverrides:
    """What the flags change of the prepared plan; only the flags given on the command line override."""
    from pyrkt.net.dns import resolv_conf
    from pyrkt.pod.grammar import GrammarError, PodSpec, _apply_pod_flag
    from pyrkt.pod.pods import _check_networks
    from pyrkt.pod.prepare import PrepareError

    spec = PodSpec()
    try:
        for name in ("net", "dns", "dns-search", "dns-opt"):
            for value in values.get(name.replace("-", "_")) or []:
                _apply_pod_flag(spec, name, str(value))
        for name in ("hostname", "dns-domain"):
            if values.get(name.replace("-", "_")) is not None:
                _apply_pod_flag(spec, name, str(values[name.replace("-", "_")]))
        if spec.net is not None and opts is not None:
            _check_networks(spec.net, opts.local_config, opts.system_config)
    except (GrammarError, PrepareError) as exc:
        raise RktError(str(exc)) from None
    return RunOverrides(
        net=None if spec.net is None else tuple(spec.net), hostname=spec.hostname,
        resolv=resolv_conf(spec.dns, spec.dns_search, spec.dns_opt, spec.dns_domain),
        # the networks are looked up where this command says, as rkt does
        local_config=opts.local_config if opts is not None else None,
        system_config=opts.system_config if opts is not None else None,
        mds_register=bool(values.get("mds_register")), interactive=interactive,
    )


@pod_errors
def main(opts: GlobalOptions, argv: list[str]) -> int:
    parsed = parse_flags(argv, FLAGS, USAGE)
    if parsed is None:
        return 0
    values, rest = parsed
    if len(rest) != 1:
        raise RktError("run-prepared takes exactly one pod UUID")
    interactive = values["interactive"] if any(a.split("=")[0] == "--interactive" for a in argv) else None
    extra = overrides(values, opts, interactive)  # mds_register: registered by the stage1 hook (pyrkt.pod.mds)
    from pyrkt.pod import pods

    # what the pod cannot run with (--mds-register with --net=host, ...) is refused before it is moved
    return pods.run_prepared(opts.dir, rest[0], show_logs=True, overrides=extra)
