"""Verified blobs made visible in the background, so fsyncs overlap the downloads.

A cold `rkt fetch docker://…` writes the manifest, the config and each layer
as a blob; each must reach the disk (fsync) before its rename makes it visible,
and the directory before the image is indexed. Done inline, every fsync (a
journal commit, 2–10 ms here) waits in line before the next download starts.
Here the fetching thread verifies the digest (so a bad blob fails where it
was read), hands the temp file to a `Publisher` and goes on; a thread per
blob fsyncs and renames it, holding the blob's lock until it is visible (a
concurrent fetch of the same blob waits and then finds it); `wait()` joins
them and fsyncs each blob directory once, before the caller indexes the image.

The guarantees stay those of `BlobWriter.commit`: nothing unverified is ever
renamed into the store, a blob is on disk before it is visible, and a kill at
any point leaves at most temp files in `cas/tmp` (swept by gc).
"""

from __future__ import annotations

import os

from pyrkt.image.digest import Digest
from pyrkt.image.errors import NotFound
from pyrkt.image.store import BlobWriter, Store, fsync_dir
from pyrkt.image.threads import Lock, Task

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import ContextManager


class Publisher:
    def __init__(self) -> None:
        self._tasks: list[Task] = []
        self._pending: dict[Digest, str] = {}  # digest -> temp path, until renamed
        self._errors: list[BaseException] = []
        self._dirs: set[str] = set()
        self._lock = Lock()

    def submit(self, writer: BlobWriter, digest: Digest, lock: "ContextManager[object] | None" = None, background: bool = True) -> None:
        """Publish a verified writer's blob from a thread (or here, when the caller has
        nothing else to do meanwhile); `lock` (entered) is left after the rename."""
        if not background:
            self._publish(writer, digest, lock)
            return
        writer.file.flush()  # read() may read the temp file before the publishing thread runs
        with self._lock:
            self._pending[digest] = writer.tmp
        try:
            t = Task(lambda: self._publish(writer, digest, lock))
        except BaseException:
            self._publish(writer, digest, lock)  # no thread to be had: inline
            return
        with self._lock:
            self._tasks.append(t)

    def _publish(self, writer: BlobWriter, digest: Digest, lock: "ContextManager[object] | None") -> None:
        try:
            writer.publish(digest, sync_dir=False)
            with self._lock:
                self._dirs.add(os.path.dirname(writer.store.blob_path(digest)))
        except BaseException as exc:  # re-raised by wait(), in the fetching thread
            writer.abort()
            with self._lock:
                self._errors.append(exc)
        finally:
            with self._lock:
                self._pending.pop(digest, None)
            if lock is not None:
                lock.__exit__(None, None, None)

    def read(self, store: "Store", digest: Digest) -> bytes:
        """A submitted (or stored) blob's bytes: from its temp file until it is renamed."""
        with self._lock:
            tmp = self._pending.get(digest)
        if tmp is not None:
            try:
                with open(tmp, "rb") as f:
                    return f.read()
            except FileNotFoundError:
                pass  # renamed meanwhile (or its publishing failed: then wait() says why)
        try:
            return store.read_blob(digest)
        except NotFound:
            self.wait()
            raise

    def wait(self) -> None:
        """Every submitted blob visible and its directory synced; the first failure raised."""
        while True:
            with self._lock:
                tasks, self._tasks = self._tasks, []
            if not tasks:
                break
            for t in tasks:
                t.join()  # _publish keeps its errors: none escape
        with self._lock:
            dirs, self._dirs = sorted(self._dirs), set()
            errors, self._errors = self._errors, []
        if errors:
            raise errors[0]
        for d in dirs:
            fsync_dir(d)
