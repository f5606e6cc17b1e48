"""A new store's image index, built aside and linked into place with one fsync.

Made in place, a new index costs SQLite's journal dance: the switch to WAL
goes through a rollback journal (journal, its directory, the journal again,
the database: four syncs), then the schema's commit syncs the new WAL and its
directory again — seven syncs, 5–20 ms on this disk, paid by the first
`rkt fetch` into every new data dir (as the fetch benchmark's cold store).

Here the empty index is written to a temp file in `cas/tmp` with journaling
and syncing off (nothing can see it yet), switched to WAL, closed, fsynced
once, and hard-linked to its name: `link` never replaces an index another
process made meanwhile (then this one is dropped and theirs used), and a
reader sees no index or a complete one. A kill leaves at most the temp file
(swept with the rest of cas/tmp). Anything unusual (no hard links, a full
disk) returns False and the caller makes the index in place, as before.

`start_wal` makes a new index's first commit early: the first write creates
`-wal` and syncs it, the directory and it again. A fetch calls it while its
blobs download, so those syncs are not paid by the commit that indexes the
image. That directory sync is also what makes the index's own name durable:
nothing is committed into an index before it, so a power cut that loses the
link loses an empty index, made again at the next open.
"""

from __future__ import annotations

import os

from pyrkt.image.tmpname import mkstemp

TYPE_CHECKING = False
if TYPE_CHECKING:
    import sqlite3
else:
    try:
        import _sqlite3 as sqlite3
    except ImportError:  # pragma: no cover - a Python whose sqlite3 is not CPython's
        import sqlite3


def create_index(db_path: str, tmp_dir: str, schema: str, version: int) -> bool:
    """Put a new WAL-mode index with `schema` and `PRAGMA user_version=version` at `db_path`
    unless a file is there; True if one is there now (ours or another process's)."""
    try:
        fd, tmp = mkstemp(tmp_dir, "index-")
    except OSError:
        return False
    os.close(fd)
    try:
        db = sqlite3.connect(tmp, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=OFF")
            db.execute("PRAGMA synchronous=OFF")
            for statement in schema.split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute(f"PRAGMA user_version={int(version)}")
            if db.execute("PRAGMA journal_mode=WAL").fetchone()[0] != "wal":
                return False
        finally:
            db.close()
        fd = os.open(tmp, os.O_RDONLY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.chmod(tmp, 0o644)
        try:
            os.link(tmp, db_path)
        except FileExistsError:
            pass
        return True  # the directory is synced by the first commit (see the module's docstring)
    except (OSError, sqlite3.Error):
        return False
    finally:
        for path in (tmp, tmp + "-wal", tmp + "-shm", tmp + "-journal"):
            try:
                os.unlink(path)
            except OSError:
                pass


def start_wal(db: "sqlite3.Connection", version: int) -> None:
    """A first, empty-handed commit (user_version rewritten as it is) on a new index."""
    try:
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute(f"PRAGMA user_version={int(version)}")
        finally:
            db.execute("COMMIT")
    except sqlite3.Error:
        pass  # only a head start: the first real commit does the same
