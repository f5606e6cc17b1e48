"""Shared by the pod subcommands of `rkt`: flag parsing, one-line errors, time formats.

Only parsing and formatting here; the behaviour is in `pyrkt.pod`.
"""

from __future__ import annotations

import sys
import time

from pyrkt.cli.args import UsageError
from pyrkt.cli.rkt.common import GlobalOptions, RktError, wrapped

TYPE_CHECKING = False  # typing costs ~4 ms at import, on every `rkt run`; annotations are strings
if TYPE_CHECKING:
    from typing import Any, Callable

    from pyrkt.cli.rkt.podargs import Options
    from pyrkt.pod.grammar import PodSpec
    from pyrkt.pod.store import Pod


# the pod layer's one-line errors: (module, class). Looked up in sys.modules when one is raised,
# not imported up front: a module that was never imported raised nothing, and importing the
# grammar and prepare only to name their errors cost `rkt enter` ~4 ms
POD_ERRORS = (("pyrkt.pod.grammar", "GrammarError"), ("pyrkt.pod.prepare", "PrepareError"),
              ("pyrkt.pod.stage1", "Stage1Error"), ("pyrkt.pod.store", "PodError"), ("pyrkt.image.errors", "ImageError"))


def _from_pod_layer(exc: Exception) -> bool:
    for module, name in POD_ERRORS:
        cls = getattr(sys.modules.get(module), name, None)
        if isinstance(cls, type) and isinstance(exc, cls):
            return True
    return False


def pod_errors(fn: Callable[[GlobalOptions, list[str]], int]) -> Callable[[GlobalOptions, list[str]], int]:
    """Turn the pod layer's errors into RktError (one line, exit 254)."""

    def wrapper(opts: GlobalOptions, argv: list[str]) -> int:
        try:
            return fn(opts, argv)
        except UsageError as exc:
            raise RktError(str(exc)) from None
        except Exception as exc:
            if not _from_pod_layer(exc):
                raise
            raise RktError(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None

    return wrapped(wrapper, fn)


def uuids(values: dict[str, Any], rest: list[str]) -> list[str]:
    from pyrkt.pod.store import read_uuid_file

    out = list(rest)
    if values.get("uuid_file"):
        out.append(read_uuid_file(str(values["uuid_file"])))
    if not out:
        raise RktError("missing pod UUID")
    return out


def go_time(ts: float | None) -> str:
    """Go's default time layout as rkt prints it: 2006-01-02 15:04:05.999 -0700 MST."""
    if ts is None:
        return ""
    lt = time.localtime(ts)
    ms = f"{ts % 1:.3f}"[1:].rstrip("0").rstrip(".")
    return time.strftime("%Y-%m-%d %H:%M:%S", lt) + ms + time.strftime(" %z %Z", lt)


def humanize(ts: float | None, now: float | None = None) -> str:
    """go-humanize's relative time, as `rkt list` prints it."""
    if ts is None:
        return ""
    delta = (now or time.time()) - ts
    if delta < 1:
        return "just now"
    units = ((60, "second", 1), (3600, "minute", 60), (86400, "hour", 3600), (86400 * 7, "day", 86400),
             (86400 * 30, "week", 86400 * 7), (86400 * 365, "month", 86400 * 30))
    for limit, name, size in units:
        if delta < limit:
            n = int(delta // size)
            return f"{n} {name}{'s' if n != 1 else ''} ago" if n > 1 else f"1 {name} ago"
    n = int(delta // (86400 * 365))
    return f"{n} year{'s' if n != 1 else ''} ago"


def fetch_options(opts: GlobalOptions, pull_policy: str):  # type: ignore[no-untyped-def]
    from pyrkt.cli.rkt.fetch import fetch_options as fo

    return fo(opts, pull_policy)


def check_spec(spec: PodSpec, cli: Options, opts: GlobalOptions) -> None:
    """Refuse what pyrkt cannot do (one line, exit 254) and apply the global options a pod needs.

    Refused, and why: --mds-register with --net=host (the metadata service
    tells pods apart by their address). The --stage1-* flags are accepted and
    ignored with a warning: pyrkt's stage1 is built in.
    """
    from pyrkt.cli.rkt.common import warn

    if spec.mds_register and spec.net == ["host"]:
        raise RktError("--mds-register cannot be used with --net=host: the metadata service needs a contained network")
    if cli.stage1:
        warn(f"--{cli.stage1[0][0]} ignored: pyrkt has one built-in stage1")
    spec.insecure_seccomp = opts.insecure("seccomp")
    spec.local_config, spec.system_config = opts.local_config, opts.system_config


def each_pod(data_dir: str, prefixes: list[str], act: Callable[[Pod], None]) -> int:
    """rkt's loop of `stop` and `rm`: act on the pod each prefix names and print its UUID quoted.

    A pod that fails is one line on stderr and the others are still done; the
    command then ends with 254.
    """
    from pyrkt.pod.store import PodError, PodStore

    store = PodStore(data_dir)
    failed = 0
    for prefix in prefixes:
        try:
            pod = store.find(prefix)
            act(pod)
            out(f'"{pod.uuid}"\n')
        except PodError as exc:
            print(f"rkt: {exc}", file=sys.stderr)
            failed += 1
    return 254 if failed else 0


def out(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()
