"""`rkt run [flags] IMAGE [per-app flags] [-- ARGS… ---] IMAGE…`: run a pod in the foreground.

The app grammar and every flag are parsed by `pyrkt.pod.grammar`; the pod is
prepared and run by `pyrkt.pod.pods`. The exit status is the app's (with
several apps, the first non-zero in app order).
"""

from __future__ import annotations

from pyrkt.cli.rkt._podcli import check_spec, fetch_options, pod_errors
from pyrkt.cli.rkt.common import GlobalOptions

USAGE = """Usage: rkt run [--volume=name,kind=host,...] [--mount volume=VOL,target=PATH] IMAGE [-- image-args...[---]]...

Run image(s) in a pod in rkt.

Pod flags: --volume --set-env --set-env-file --inherit-env --interactive --hostname --dns --dns-search
  --dns-opt --dns-domain --hosts-entry --net=default|default-restricted|host|none|all|NAME[:K=V;…]
  --port=NAME:[HOSTIP:]HOSTPORT --ipc=auto|private|parent --no-overlay
  --private-users --pull-policy=new|update|never --uuid-file-save --pod-manifest --logs
Per-app flags (after the image they apply to): --exec --name --user --group --supplementary-gids
  --working-dir --readonly-rootfs --mount --environment --user-annotation --user-label --cpu --memory
  --cpu-shares --caps-retain --caps-remove --seccomp --oom-score-adj --signature --stdin --stdout --stderr
"""


@pod_errors
def main(opts: GlobalOptions, argv: list[str]) -> int:
    if argv in (["-h"], ["--help"]):
        print(USAGE)
        return 0
    from pyrkt.pod import pods
    from pyrkt.pod.grammar import parse_pod_args

    spec = parse_pod_args(argv, "run")
    check_spec(spec, opts)
    return pods.run(opts.dir, spec, lambda: fetch_options(opts, spec.pull_policy))
