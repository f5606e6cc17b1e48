"""What every `rkt` subcommand shares: global options and the error convention.

rkt exits 254 on every error, with one line on stderr; subcommands raise
`RktError` and the dispatcher prints it. The global flags may stand before or
after the subcommand, as with rkt's cobra persistent flags.
"""

from __future__ import annotations

import sys

from pyrkt.cli.args import Flag, UsageError, parse
from pyrkt.records import dataclass, field

TYPE_CHECKING = False  # typing costs ~4 ms at import, on every `rkt run`; annotations are strings
if TYPE_CHECKING:
    from typing import Any, Callable

    Main = Callable[["GlobalOptions", list[str]], int]  # what the dispatcher calls: main(opts, argv)
    Handler = Callable[["GlobalOptions", dict[str, Any], list[str]], int]  # main(opts, flag values, arguments)

EXIT_ERROR = 254

INSECURE_OPTIONS = ("none", "image", "tls", "ondisk", "http", "pubkey", "capabilities", "paths", "seccomp", "run-all", "all-fetch", "all-run", "all")


class RktError(Exception):
    """An error a user sees as one line, exit status 254."""


@dataclass(frozen=True)
class GlobalOptions:
    """rkt's global flags, parsed once and handed to the subcommand."""

    dir: str = "/var/lib/rkt"
    insecure_options: frozenset[str] = field(default_factory=frozenset)
    debug: bool = False
    local_config: str = "/etc/rkt"
    system_config: str = "/usr/lib/rkt"
    user_config: str = ""
    trust_keys_from_https: bool = False

    def insecure(self, what: str) -> bool:
        """True when `--insecure-options` disables the check named `what`."""
        opts = self.insecure_options
        if "all" in opts or what in opts:
            return True
        if what in ("image", "tls", "http", "pubkey", "ondisk") and "all-fetch" in opts:
            return True
        if what in ("capabilities", "paths", "seccomp", "run-all") and "all-run" in opts:
            return True
        return False


GLOBAL_FLAGS = (
    Flag("dir", takes_value=True),
    Flag("insecure-options", takes_value=True, repeat=True),
    Flag("debug"),
    Flag("local-config", takes_value=True),
    Flag("system-config", takes_value=True),
    Flag("user-config", takes_value=True),
    Flag("trust-keys-from-https"),
)


def parse_insecure_options(values: list[str]) -> frozenset[str]:
    opts: set[str] = set()
    for value in values:
        for item in value.split(","):
            item = item.strip()
            if not item:
                continue
            if item not in INSECURE_OPTIONS:
                raise RktError(f"invalid value {item!r} for --insecure-options: expected one of {', '.join(INSECURE_OPTIONS)}")
            opts.add(item)
    opts.discard("none")
    return frozenset(opts)


def warn(message: str) -> None:
    print(f"rkt: {message}", file=sys.stderr)


def parse_flags(argv: list[str], flags: tuple[Flag, ...], usage: str) -> tuple[dict[str, Any], list[str]] | None:
    """A subcommand's flags (with -h/--help); None when the usage was printed instead.

    A command line that does not fit is an RktError: one line, exit 254.
    """
    try:
        values, rest = parse(argv, flags + (Flag("h,help", dest="help"),))
    except UsageError as exc:
        raise RktError(str(exc)) from None
    if values["help"]:
        print(usage)
        return None
    return values, rest


def wrapped(wrapper: Main, fn: Callable[..., int]) -> Main:
    """What functools.wraps copies, without functools (~4 ms of imports with collections on rkt run's path)."""
    for name in ("__module__", "__name__", "__qualname__", "__doc__"):
        setattr(wrapper, name, getattr(fn, name))
    wrapper.__dict__.update(fn.__dict__, __wrapped__=fn)
    return wrapper


def command(flags: tuple[Flag, ...], usage: str, errors: Callable[[Main], Main] | None = None) -> Callable[[Handler], Main]:
    """The preamble every flag-taking subcommand had: parse its flags, print `usage` for -h/--help.

    `@command(FLAGS, USAGE)` turns `main(opts, values, args)` into the
    `main(opts, argv)` the dispatcher calls; `errors` (pod_errors,
    one_line_errors) turns the layer's errors into one-line RktErrors.
    """
    def decorate(fn: Handler) -> Main:
        def main(opts: GlobalOptions, argv: list[str]) -> int:
            parsed = parse_flags(argv, flags, usage)
            if parsed is None:
                return 0
            return fn(opts, parsed[0], parsed[1])

        done = wrapped(main, fn)
        return errors(done) if errors is not None else done
    return decorate
