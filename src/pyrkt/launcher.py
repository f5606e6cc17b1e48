"""The source of a pyrkt command's launcher, as scripts/install-launchers.py writes it into .venv/bin.

One function serves the writer and rkt-run's recogniser (pyrkt.runner.inproc), which runs pyrkt's
rkt in its own interpreter only for a file that is byte for byte what this returns. Why a launcher
looks so (scripts/install-launchers.py has the rest):
  - `-IS`: isolated, no site (no .pth files on every start); sys.path is built here: the source
    tree first, the venv's site-packages LAST (after the standard library: found only by the
    optional imports nothing else has, rich and zstandard);
  - no interpreter finalization (module teardown, GC: ~1-2 ms per command; nothing in pyrkt relies
    on atexit): the streams are flushed and `posix._exit` ends the process (posix, not os: built in
    and loaded already; os costs ~1.6 ms).
No imports here: rkt-run's root-owned code copy carries this module.
"""


def text(python: str, src: str, site: list[str], entry: str) -> str:
    """The launcher of `entry` ("module:function") for this interpreter, source tree and site dirs."""
    module, func = entry.split(":")
    return (
        f"#!{python} -IS\n"
        "import sys\n"
        f"sys.path.insert(0, {src!r})\n"
        + "".join(f"sys.path.append({d!r})\n" for d in site)
        + f"from {module} import {func}\ncode = {func}()\n"
        "try:\n"
        "    sys.stdout.flush()\n"
        "    sys.stderr.flush()\n"
        "except BaseException:\n"
        "    code = code or 120\n"
        "import posix\n"
        "posix._exit(code if isinstance(code, int) else (0 if code is None else 1))\n"
    )
