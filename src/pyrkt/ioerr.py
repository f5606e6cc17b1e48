"""OSErrors that name their file.

An error of os.write, os.fsync, a file object's write or os.utime on an fd
carries no file name: on a full disk `rkt run` said only "[Errno 28] No space
left on device", and the user could not tell which file system filled. The
writers of pod, store and runtime files re-raise through `named`, and the
CLIs print an OSError as `PATH: reason` (`describe`).
"""

from __future__ import annotations


def named(exc: OSError, path: str) -> OSError:
    """`exc`, or the same error (same subclass, same errno) naming `path` when it names no file."""
    if exc.filename is not None or exc.errno is None:
        return exc
    return OSError(exc.errno, exc.strerror, path)  # OSError(errno, …) picks the subclass (PermissionError, …)


def describe(exc: OSError) -> str:
    """One line for the user: `PATH: reason` (no "[Errno N]" prefix, no quotes)."""
    if exc.filename is not None:
        second = f" -> {exc.filename2}" if exc.filename2 is not None else ""
        return f"{exc.filename}{second}: {exc.strerror or exc}"
    return exc.strerror or str(exc)
