"""Run pyrkt's own rkt in rkt-run's interpreter instead of exec'ing a second one.

Why: behind the setuid launcher rkt-run is itself a Python process, and
exec'ing the policy's `rkt` (a Python launcher too) starts the interpreter a
second time: ~8-10 ms here, most of what rkt-run added to the `rkt run` it
builds (issue 14 allows 15 ms). When the policy's `rkt` is exactly a launcher
that `make install` writes (scripts/install-launchers.py: `#!PYTHON -IS`, the
source tree first on sys.path, site-packages last, `pyrkt.cli.rkt:main`), and
PYTHON is the very interpreter running rkt-run, then running `main()` here is
the same program with the same inputs, so it is run here, after everything the
exec path does first:

  - the same argv (sys.argv too), all ids 0 and no supplementary groups,
    umask 022, cwd /, and an environment of PATH only (the launcher's, which
    rkt-run never widens: the user's environment is data on fd 3);
  - sys.path exactly as that launcher builds it on an `-I -S` interpreter,
    and every `pyrkt` module rkt-run loaded from its own root-owned copy
    forgotten first, so rkt's code comes from rkt's tree only;
  - no fd of rkt-run's left open (the caller closes the state dir's before:
    a pod's init is forked from this process and lives as long as the pod).

It is stricter than the exec path in one way: the source tree and the
site-packages directories (and every directory above them) must be root-owned
and not group/other-writable, or rkt is exec'd as before. Anything else --
another rkt, a launcher of another shape, another interpreter -- is exec'd.
"""

from __future__ import annotations

import os
import sys

from pyrkt.runner import secure
from pyrkt.runner.errors import RunnerError

MAX_LAUNCHER = 8192


class Launcher:
    """A recognised pyrkt rkt launcher: its interpreter, source tree and site-packages dirs."""

    __slots__ = ("python", "src", "site")

    def __init__(self, python: str, src: str, site: list[str]) -> None:
        self.python = python
        self.src = src
        self.site = site

    def text(self) -> str:
        """The launcher install-launchers.py writes for these paths (pyrkt.launcher)."""
        from pyrkt.launcher import text

        return text(self.python, self.src, self.site, "pyrkt.cli.rkt:main")


def _plain_repr(text: str) -> str | None:
    """The path a `'...'` literal of repr() names, if it is one without quotes or escapes."""
    if len(text) >= 3 and text[0] == text[-1] == "'" and "'" not in text[1:-1] and "\\" not in text:
        value = text[1:-1]
        if repr(value) == text and value.startswith("/"):
            return value
    return None


def parse(text: str) -> Launcher | None:
    """The launcher `text` is, or None (any other file: a shell wrapper, another program)."""
    lines = text.split("\n")
    if len(lines) < 4 or not lines[0].startswith("#!/") or not lines[0].endswith(" -IS") or lines[1] != "import sys":
        return None
    python = lines[0][2:-4]
    if not lines[2].startswith("sys.path.insert(0, ") or not lines[2].endswith(")"):
        return None
    src = _plain_repr(lines[2][len("sys.path.insert(0, "):-1])
    if src is None:
        return None
    site = []
    for line in lines[3:]:
        if not line.startswith("sys.path.append("):
            break
        d = _plain_repr(line[len("sys.path.append("):-1]) if line.endswith(")") else None
        if d is None:
            return None
        site.append(d)
    found = Launcher(python, src, site)
    return found if found.text() == text else None


def find(rkt: str) -> Launcher | None:
    """The policy's `rkt` as a launcher to run in this interpreter, or None to exec it."""
    try:
        fd = os.open(rkt, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        data = os.read(fd, MAX_LAUNCHER + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    if len(data) > MAX_LAUNCHER:
        return None
    try:
        launcher = parse(data.decode())
    except UnicodeDecodeError:
        return None
    if launcher is None:
        return None
    try:
        if os.path.realpath(launcher.python) != os.readlink("/proc/self/exe"):
            return None  # another interpreter (or version): exec it
        for path in (launcher.src, *launcher.site):
            secure.check_trusted(path, "rkt's code")
    except (OSError, RunnerError):
        return None
    return launcher


def _stdlib_path() -> list[str]:
    """This interpreter's sys.path without rkt-run's own code (the part `-I -S` gives every script)."""
    import pyrkt

    own = os.path.dirname(os.path.dirname(os.path.abspath(pyrkt.__file__)))
    return [p for p in sys.path if os.path.abspath(p) != own]


def become(launcher: Launcher, argv: list[str]) -> None:
    """Turn this process into what rkt's launcher would start with `argv`, up to importing its main.

    The caller (pyrkt.cli.rktrun) then imports `pyrkt.cli.rkt` -- from rkt's tree
    now -- and calls `main(argv[1:])`.
    """
    path = [launcher.src, *_stdlib_path(), *launcher.site]
    secure.become_root()
    os.umask(0o022)
    os.chdir("/")
    os.environ.clear()  # unsetenv too: what the pod's processes inherit from libc's environ
    os.environ["PATH"] = secure.SAFE_PATH
    for name in [m for m in sys.modules if m == "pyrkt" or m.startswith("pyrkt.")]:
        del sys.modules[name]
    sys.path[:] = path
    sys.argv[:] = argv


__all__ = ["Launcher", "parse", "find", "become"]
