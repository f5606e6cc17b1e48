"""Background work for a fetch on `_thread`, without importing `threading`.

`threading` brings functools and collections (~4 ms here) into every
`rkt fetch`; a fetch needs only "run this in a thread, later wait for it" and
locks, which `_thread` has. Threads started here are daemonic (the process
never waits for them at exit): every caller joins what it started.
"""

from __future__ import annotations

import _thread

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable

Lock = _thread.allocate_lock


class Task:
    """`fn()` running in a thread of its own; `join()` waits for it.

    `fn` must handle its own errors (an exception escaping it is kept in
    `error`, and re-raised by `join`)."""

    __slots__ = ("_done", "error")

    def __init__(self, fn: "Callable[[], None]") -> None:
        self.error: BaseException | None = None
        self._done = _thread.allocate_lock()
        self._done.acquire()
        try:
            _thread.start_new_thread(self._run, (fn,))
        except BaseException:
            self._done.release()
            raise

    def _run(self, fn: "Callable[[], None]") -> None:
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001 - handed to join()
            self.error = exc
        finally:
            self._done.release()

    def join(self) -> None:
        with self._done:
            pass
        if self.error is not None:
            raise self.error
