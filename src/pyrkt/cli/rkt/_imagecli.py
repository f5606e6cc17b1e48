"""Shared by the image subcommands: turn every failure into one line, exit 254.

The dispatcher prints `RktError`s; this wrapper makes sure image-layer errors,
SQLite errors and — unless `--debug` — unexpected bugs reach it as one line
instead of a traceback.
"""

from __future__ import annotations

import functools
import sqlite3
import tarfile
from typing import Callable

from pyrkt.cli.rkt.common import GlobalOptions, RktError


def one_line_errors(fn: Callable[[GlobalOptions, list[str]], int]) -> Callable[[GlobalOptions, list[str]], int]:
    @functools.wraps(fn)
    def wrapper(opts: GlobalOptions, argv: list[str]) -> int:
        from pyrkt.image.errors import ImageError

        try:
            return fn(opts, argv)
        except RktError:
            raise
        except ImageError as exc:
            raise RktError(str(exc)) from None
        except sqlite3.Error as exc:
            raise RktError(f"image store database error: {exc}") from None
        except tarfile.TarError as exc:
            raise RktError(f"corrupt archive: {exc}") from None
        except (OSError, KeyboardInterrupt):
            raise
        except Exception as exc:  # noqa: BLE001 - one line, as rkt, unless debugging
            if opts.debug:
                raise
            raise RktError(f"internal error: {type(exc).__name__}: {exc} (run with --debug for details)") from None

    return wrapper
