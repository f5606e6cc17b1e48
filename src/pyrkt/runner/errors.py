"""The two ways rkt-run says no: a broken policy file, and a request the policy refuses.

Both are one line on stderr and exit 2 (rktrunner's usage status), and both are
raised before anything runs, so a refusal never leaves a half-started pod.
"""

from __future__ import annotations


class RunnerError(Exception):
    """A request rkt-run refuses (bad option, unknown alias, a name like a flag, ...)."""

    exit_code = 2


class ConfigError(RunnerError):
    """The policy file is wrong: says which file, which line and which key."""

    def __init__(self, path: str, line: int, key: str, message: str) -> None:
        self.path = path
        self.line = line
        self.key = key
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {key}: {message}" if key else f"{where}: {message}")
