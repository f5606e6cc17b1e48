"""The last-resort handler of every CLI: an exception nobody expected becomes one line.

An error pyrkt raises on purpose (its own exception classes, and OSError,
which `pyrkt.linux` fills with the call and the path) is already a sentence
for the user. Anything else (a KeyError, a SystemError from a C scanner, a
bug) is an internal error: the user gets one line naming it and the path of a
debug log holding the traceback, so a report can carry it. The log goes where
nobody else can predict or pre-create it: beside the command's own state when
that is a private directory of ours, else a fresh `mkstemp` file (mode 0600,
random name). Nothing here is imported until an exception happened.
"""

from __future__ import annotations

import os
import sys


def expected(exc: BaseException) -> bool:
    """True for an error pyrkt raised on purpose: it is already a sentence."""
    if isinstance(exc, OSError):
        return True
    return any(cls.__module__.startswith("pyrkt.") for cls in type(exc).__mro__)


def _private_dir(path: str) -> bool:
    """A directory of ours that no other user can write (so a debug log there is safe)."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    import stat

    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid() and not st.st_mode & 0o022


def write_debug_log(program: str, exc: BaseException, state_dir: str | None) -> str:
    """Write the traceback of `exc` to a debug log; its path, or '' when none could be written."""
    import time
    import traceback

    text = f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {program} pid {os.getpid()}\nargv: {sys.argv!r}\n"
    text += "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)) + "\n"
    data = text.encode("utf-8", "backslashreplace")
    if state_dir and _private_dir(state_dir):
        path = os.path.join(state_dir, "debug.log")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
            return path
        except OSError:
            pass  # full or read-only: a private temp file instead
    try:
        import tempfile

        fd, path = tempfile.mkstemp(prefix=f"{program}-debug-", suffix=".log")
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        return path
    except OSError:
        return ""


def internal_error(program: str, exc: BaseException, state_dir: str | None) -> str:
    """The one line for an unexpected exception (without the program prefix), log written."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    what = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    log = write_debug_log(program, exc, state_dir)
    where = f"details in {log}" if log else "no debug log could be written"
    return f"internal error: {what}; {where}"
