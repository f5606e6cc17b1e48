"""A tiny command-line flag parser shaped like Go's flag packages.

runc (urfave/cli) and rkt (cobra/pflag) accept `--flag value`, `--flag=value`,
`-flag value` and, for short names, `-f value`; podman and containerd use all of
these, and put flags before or after positional arguments. argparse handles
neither the single-dash long form nor stays cheap to build for every verb, so
the runtime uses this parser: each verb declares its flags as data (a
`Flag` table) and parsing is one pass over argv. `flag_value` is the one
reader of a flag's value for every pyrkt command line (this parser, rkt's
global flags and pod flag table, pyrkt-runtime's fast lane).

No `from __future__ import annotations`: pyrkt-runtime's start and delete
import this module and little else, and that line is an import too (as is
`pyrkt.strconv`, imported by the one function that needs it); the generic
annotations are strings instead, which are not evaluated at definition.
"""


class UsageError(Exception):
    """A command line that does not fit the verb's flags."""


class Flag:
    """One flag: its names, whether it takes a value, and whether it may repeat.

    `bare`: the value of a value-taking flag that stands alone (`--wait`, not
    `--wait=30s`), as pflag's NoOptDefVal; None: a value is required.
    """

    __slots__ = ("names", "dest", "takes_value", "repeat", "default", "bare")

    def __init__(
        self,
        names: str,
        takes_value: bool = False,
        repeat: bool = False,
        default: object = None,
        dest: str | None = None,
        bare: str | None = None,
    ) -> None:
        self.bare = bare
        self.names = tuple(n.strip() for n in names.split(","))
        self.dest = dest or self.names[0].replace("-", "_")
        self.takes_value = takes_value
        self.repeat = repeat
        if default is None:
            default = [] if repeat else (None if takes_value else False)
        self.default = default


def parse_bool(text: str, name: str) -> bool:
    """`--NAME=TEXT` of a boolean flag (pyrkt.strconv's spelling); UsageError if it is none."""
    from pyrkt.strconv import parse_bool as strconv_bool

    return strconv_bool(text, f"flag --{name}", UsageError)


def flag_value(argv: "list[str]", i: int, spelled: str, eq: str, inline: str,
               error: "type[Exception]" = UsageError) -> "tuple[str, int]":
    """The value of a value-taking flag that stood at argv[i-1], and the index to go on from.

    What follows its `=` if it had one (`eq`/`inline` from `partition("=")`),
    else the next argument, which it then consumes; `spelled` is the flag as
    the error names it (`-bundle` for runc's verbs, `--dir` for rkt's).
    """
    if eq:
        return inline, i
    if i < len(argv):
        return argv[i], i + 1
    raise error(f"flag needs an argument: {spelled}")


def parse(
    argv: "list[str]",
    flags: "tuple[Flag, ...]",
    interspersed: bool = True,
) -> "tuple[dict[str, object], list[str]]":
    """Split argv into flag values (by dest) and positional arguments.

    With `interspersed`, flags may follow positional arguments; `--` ends flag
    parsing either way. Without it, the first positional argument ends flag
    parsing (used where the rest is a command line of its own, as in `exec`).
    """
    by_name: dict[str, Flag] = {}
    for flag in flags:
        for name in flag.names:
            by_name[name] = flag
    values: dict[str, object] = {}
    for flag in flags:
        values[flag.dest] = list(flag.default) if flag.repeat else flag.default  # type: ignore[call-overload]
    positional: list[str] = []
    i = 0
    n = len(argv)
    while i < n:
        arg = argv[i]
        i += 1
        if arg == "--":
            positional.extend(argv[i:])
            break
        if len(arg) < 2 or arg[0] != "-":
            positional.append(arg)
            if not interspersed:
                positional.extend(argv[i:])
                break
            continue
        body = arg[2:] if arg.startswith("--") else arg[1:]
        name, eq, inline = body.partition("=")
        known = by_name.get(name)
        if known is None:
            raise UsageError(f"flag provided but not defined: -{name}")
        flag = known
        value: object
        if flag.takes_value and flag.bare is not None and not eq:
            value = flag.bare
        elif flag.takes_value:
            value, i = flag_value(argv, i, f"-{name}", eq, inline)
        else:
            value = parse_bool(inline, name) if eq else True
        if flag.repeat:
            values[flag.dest].append(value)  # type: ignore[attr-defined]
        else:
            values[flag.dest] = value
    return values, positional
