"""Shared by the image subcommands: turn every failure into one line, exit 254.

The dispatcher prints `RktError`s; this wrapper makes sure image-layer errors,
SQLite errors and — unless `--debug` — unexpected bugs reach it as one line
instead of a traceback.
"""

from __future__ import annotations

import sys

from pyrkt.cli.rkt.common import GlobalOptions, RktError

# `_sqlite3`, not `sqlite3` (same Error class), and tarfile looked up, not
# imported: a `rkt fetch docker://…` never loads tarfile (~15 ms), and a
# TarError cannot come from a program that has not imported it.
try:
    from _sqlite3 import Error as _SQLiteError
except ImportError:  # pragma: no cover - a Python whose sqlite3 is not CPython's
    from sqlite3 import Error as _SQLiteError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable


def one_line_errors(fn: Callable[[GlobalOptions, list[str]], int]) -> Callable[[GlobalOptions, list[str]], int]:
    def wrapper(opts: GlobalOptions, argv: list[str]) -> int:
        from pyrkt.image.errors import ImageError

        try:
            return fn(opts, argv)
        except RktError:
            raise
        except ImageError as exc:
            raise RktError(str(exc)) from None
        except _SQLiteError as exc:
            raise RktError(f"image store database error: {exc}") from None
        except (OSError, KeyboardInterrupt):
            raise
        except Exception as exc:  # noqa: BLE001 - one line, as rkt, unless debugging
            tarfile = sys.modules.get("tarfile")
            if tarfile is not None and isinstance(exc, tarfile.TarError):
                raise RktError(f"corrupt archive: {exc}") from None
            if opts.debug:
                raise
            raise RktError(f"internal error: {type(exc).__name__}: {exc} (run with --debug for details)") from None

    wrapper.__name__, wrapper.__qualname__, wrapper.__doc__ = fn.__name__, fn.__qualname__, fn.__doc__
    wrapper.__module__, wrapper.__wrapped__ = fn.__module__, fn  # type: ignore[attr-defined]
    return wrapper
