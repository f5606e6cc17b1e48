"""The image-use lock: a prepare's images cannot be removed under it.

A prepare resolves its images, renders their trees, and only then writes the
pod manifest that names them; `rkt image rm`/`image gc` keep an image a pod
manifest names (pyrkt.pod.imagerefs). Between the two, nothing named it, so
an `image rm` there removed an image a pod was about to use (its overlay
then failed to mount). So a prepare holds `cas/locks/image-use.lock` shared
from before it resolves until its manifest is written, and image rm/gc hold
it exclusively while they read which images pods use and remove the others:
the two can no longer interleave. Lock order: image-use, then gc (a prepare's
fetch and render take gc shared; image rm/gc's sweep takes it exclusively).
rkt has the same shape: its image gc takes the prepare lock exclusively.
"""

from __future__ import annotations

import fcntl
import os

LOCK_NAME = "image-use.lock"


class ImageUse:
    """The lock, held from construction until `release` (or the end of a `with` block)."""

    __slots__ = ("fd",)

    def __init__(self, data_dir: str, shared: bool) -> None:
        self.fd = -1
        locks = os.path.join(data_dir, "cas", "locks")
        path = os.path.join(locks, LOCK_NAME)
        flags = os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC  # read-only: flock needs no write access
        try:
            fd = os.open(path, flags, 0o644)
        except FileNotFoundError:
            os.makedirs(locks, exist_ok=True)
            fd = os.open(path, flags, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        except BaseException:
            os.close(fd)
            raise
        self.fd = fd

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __del__(self) -> None:
        self.release()

    def __enter__(self) -> "ImageUse":
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
