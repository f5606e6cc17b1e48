"""`tempfile.mkstemp` for the store's temp files, without importing tempfile.

`tempfile` pulls in shutil, random, weakref and the compressors (~8 ms here),
paid by every cold `rkt fetch` for its first blob. The file is made the same
way: O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600, a random name tried again if taken.
"""

from __future__ import annotations

import os

_FLAGS = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def mkstemp(dir: str, prefix: str) -> tuple[int, str]:  # noqa: A002 - tempfile's name
    """(fd, path) of a new, empty 0600 file `dir/prefix<random>`."""
    for _ in range(100):
        path = os.path.join(dir, prefix + os.urandom(6).hex())
        try:
            return os.open(path, _FLAGS, 0o600), path
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temp file name in {dir}")
