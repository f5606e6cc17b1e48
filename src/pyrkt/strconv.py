"""`parse_bool`: the one spelling of a boolean on pyrkt's command lines and in their values.

rkt and runc read booleans with Go's `strconv.ParseBool` (through pflag and
urfave/cli); pyrkt also takes `yes/no`, `y/n` and `on/off`, as it always has.
Every reader of a boolean uses this function: the flag parsers of `pyrkt.cli`
(`--flag=BOOL`), `rkt run`'s flag table, and the value parsers of `pyrkt.pod`
(`--volume …,readOnly=BOOL`). It sits at the top of the package, below every
layer, because both the CLI and the pod layer need it and the pod layer may not
import the CLI. Built-ins only: it is on every hot path.
"""

_TRUE = frozenset(("1", "t", "true", "yes", "y", "on", "T", "TRUE", "True"))
_FALSE = frozenset(("0", "f", "false", "no", "n", "off", "F", "FALSE", "False"))


def parse_bool(text: str, what: str, error: type[Exception] = ValueError) -> bool:
    """True or False for `text`; else `error("invalid boolean value 'TEXT' for WHAT")`.

    `error` is the caller's one-line error type (UsageError, GrammarError), so
    no caller has to translate.
    """
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise error(f"invalid boolean value {text!r} for {what}")
