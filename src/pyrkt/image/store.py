"""The image store: content-addressed blobs, a SQLite index, rendered trees.

Layout under the data dir (`--dir`, default /var/lib/rkt):

    cas/blobs/<algo>/<hex>      blobs: ACI tars (sha512), OCI manifests, configs, layers (sha256)
    cas/index.sqlite            the image index, WAL mode, shared by concurrent processes
    cas/tree/<key>/rootfs       rendered trees (one per OCI layer, one per ACI), read-only lowerdirs
    cas/tmp/                    in-flight downloads and renders; only `image gc` looks here
    cas/locks/                  flock files: per blob, per fetch, per tree, and the gc lock

Why this shape: rkt's ql database broke when several commands ran at once,
and rkt flattened every Docker image and re-downloaded shared layers. Here a
blob is written to `tmp/`, hashed while written, fsynced, verified and only
then renamed to its content address, so a killed fetch leaves only garbage in
`tmp/` and nothing a later command trusts; an image row is inserted only after
all its blobs are in place. SQLite with WAL and a busy timeout lets readers
and writers from many processes work at once, and flock serialises the few
things that must not race (downloading the same blob, rendering the same
tree, gc against fetch).
"""

from __future__ import annotations

import fcntl
import os
import time

from pyrkt.image.appc import ImageManifest
from pyrkt.image.digest import Digest
from pyrkt.image.errors import Ambiguous, DigestMismatch, ImageError, NotFound
from pyrkt.image.reference import AppcNameRef, ImageIDRef, parse_reference
from pyrkt import fastjson
from pyrkt.records import dataclass, field

# Imported where used, not here: hashlib (OpenSSL), tempfile, shutil, json (with
# re) and contextlib cost ~15 ms together, and `rkt run` only reads the index.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import sqlite3
    from typing import IO, Any
else:
    try:
        # the C module alone: sqlite3's Python part adds only DB-API constants and
        # date adapters (unused here) and imports datetime (~2 ms on every rkt run)
        import _sqlite3 as sqlite3
    except ImportError:  # pragma: no cover - a Python whose sqlite3 is not CPython's
        import sqlite3

SCHEMA_VERSION = 1  # PRAGMA user_version of an index whose SCHEMA and WAL mode are in place
SCHEMA = """
CREATE TABLE IF NOT EXISTS images (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    labels TEXT NOT NULL,
    manifest TEXT NOT NULL,
    blob TEXT NOT NULL,
    config TEXT,
    layers TEXT NOT NULL,
    import_time REAL NOT NULL,
    last_used REAL NOT NULL,
    size INTEGER NOT NULL,
    latest INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS images_name ON images(name);
CREATE TABLE IF NOT EXISTS remotes (
    url TEXT PRIMARY KEY,
    image_id TEXT NOT NULL,
    etag TEXT,
    max_age INTEGER,
    download_time REAL NOT NULL
);
"""


def fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: str, data: bytes, mode: int = 0o644) -> None:
    """Write a file so readers see the old content or the new one, never half."""
    import tempfile

    d = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp-")
    try:
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:
            from pyrkt.ioerr import named

            raise named(exc, path) from None
        os.chmod(tmp, mode)
        os.rename(tmp, path)
        fsync_dir(d)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


@dataclass
class ImageRecord:
    """One row of the index: an image the store holds completely."""

    id: str
    kind: str  # "aci" or "oci"
    name: str
    labels: dict[str, str]
    manifest: bytes  # the appc image manifest (native for ACIs, mapped for OCI)
    blob: str  # ACI: sha512 digest of the tar; OCI: digest of the image manifest
    config: str | None = None
    layers: list[str] = field(default_factory=list)
    import_time: float = 0.0
    last_used: float = 0.0
    size: int = 0
    latest: bool = False

    @property
    def image_manifest(self) -> ImageManifest:
        """Parsed once per record: `rkt run` reads it several times while it renders the image."""
        cached: ImageManifest | None = self.__dict__.get("_parsed_manifest")
        if cached is None or self.__dict__.get("_parsed_from") is not self.manifest:
            cached = ImageManifest.from_bytes(self.manifest)
            self.__dict__.update(_parsed_manifest=cached, _parsed_from=self.manifest)
        return cached

    @property
    def version(self) -> str | None:
        return self.labels.get("version")

    @property
    def display_name(self) -> str:
        return f"{self.name}:{self.version}" if self.version else self.name

    def blob_digests(self) -> list[str]:
        out = [self.blob]
        if self.config:
            out.append(self.config)
        out.extend(self.layers)
        return out


class BlobWriter:
    """A temp file in `cas/tmp` that becomes a blob only if its digest checks out."""

    def __init__(self, store: "Store", algorithm: str = "sha256", expected: Digest | None = None) -> None:
        import hashlib

        from pyrkt.image.tmpname import mkstemp

        self.store = store
        self.expected = expected
        self.hasher = hashlib.new(expected.algorithm if expected else algorithm)
        self.algorithm = expected.algorithm if expected else algorithm
        fd, self.tmp = mkstemp(store.tmp_dir, "blob-")
        self.file: IO[bytes] = os.fdopen(fd, "wb")
        self.size = 0
        self.digest: Digest | None = None

    def write(self, data: bytes) -> int:
        self.hasher.update(data)
        try:
            self.file.write(data)
        except OSError as exc:  # a full disk: say where (a file's write names no file)
            from pyrkt.ioerr import named

            raise named(exc, self.tmp) from None
        self.size += len(data)
        return len(data)

    def commit(self, what: str = "blob") -> Digest:
        digest = self.verify(what)
        self.publish(digest)
        return digest

    def verify(self, what: str = "blob") -> Digest:
        """The digest of what was written; a mismatch removes the temp file and raises.

        commit() is verify() then publish(); a fetcher may publish later (in
        another thread, overlapping the fsync with the next download): nothing
        is visible in the store before publish()."""
        digest = Digest(self.algorithm, self.hasher.hexdigest())
        if self.expected is not None and digest != self.expected:
            self.abort()
            raise DigestMismatch(f"digest mismatch for {what}: expected {self.expected}, got {digest}")
        return digest

    def publish(self, digest: Digest, sync_dir: bool = True) -> None:
        """fsync the temp file and rename it to its blob path (then fsync that dir, unless
        the caller does it once for several blobs before it indexes them)."""
        try:
            self.file.flush()
            os.fsync(self.file.fileno())
            self.file.close()
        except OSError as exc:
            from pyrkt.ioerr import named

            raise named(exc, self.tmp) from None
        dest = self.store.blob_path(digest)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        os.chmod(self.tmp, 0o644)
        os.rename(self.tmp, dest)
        if sync_dir:
            fsync_dir(os.path.dirname(dest))
        self.digest = digest

    def abort(self) -> None:
        try:
            self.file.close()
        except Exception:
            pass
        try:
            os.unlink(self.tmp)
        except FileNotFoundError:
            pass

    def __enter__(self) -> "BlobWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        if self.digest is None:
            self.abort()


class Store:
    """The on-disk image store of one data dir. Safe to use from many processes."""

    def __init__(self, data_dir: str, make_dirs: bool = True) -> None:
        """`make_dirs`: create the store's directories (not for a read-only view: service.imageview)."""
        self.data_dir = os.path.abspath(data_dir)
        self.cas = os.path.join(self.data_dir, "cas")
        self.blobs_dir = os.path.join(self.cas, "blobs")
        self.tree_dir = os.path.join(self.cas, "tree")
        self.tmp_dir = os.path.join(self.cas, "tmp")
        self.locks_dir = os.path.join(self.cas, "locks")
        if make_dirs:
            for d in (self.blobs_dir, self.tree_dir, self.tmp_dir, self.locks_dir):
                os.makedirs(d, exist_ok=True)
        self.db_path = os.path.join(self.cas, "index.sqlite")
        self._db: sqlite3.Connection | None = None

    # -- database --------------------------------------------------------
    @property
    def db(self) -> sqlite3.Connection:
        """The index, opened once per Store.

        The schema and WAL mode are set up once per database, not on every
        open: `PRAGMA user_version` (a header read) says whether it was done,
        so a reader such as `rkt run` takes no write lock to open the index.
        """
        if self._db is None:
            try:
                self._db = self._open_db()
            except sqlite3.DatabaseError as exc:
                from pyrkt.image.errors import ImageError

                # a garbled header, a read-only or full data dir: one line naming the file
                raise ImageError(f"image index {self.db_path}: {exc}") from None
        return self._db

    # space kept back for `rkt image rm`/`image gc` on a full disk: SQLite needs a little to
    # open the index (its -shm) and to commit a delete, before anything can be freed
    RESERVE = "reserve"
    RESERVE_SIZE = 1 << 20
    reclaiming = False  # set by image rm/gc: they may spend the reserve
    new_index = False  # this Store made the index file (no commit in it yet)

    def ensure_reserve(self) -> None:
        """Put the reserve back (after it was spent, or in a store made before it existed)."""
        path = os.path.join(self.cas, self.RESERVE)
        if os.path.exists(path):
            return
        tmp = path + ".tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
            try:
                os.posix_fallocate(fd, 0, self.RESERVE_SIZE)
            finally:
                os.close(fd)
            os.rename(tmp, path)
        except OSError:
            try:
                os.unlink(tmp)
            except OSError:
                pass

    def _open_db(self) -> sqlite3.Connection:
        try:
            return self._open_db_once()
        except sqlite3.DatabaseError:
            if not os.path.exists(self.db_path):
                raise
            reserve = os.path.join(self.cas, self.RESERVE)
            if self.reclaiming and os.path.exists(reserve):
                os.unlink(reserve)  # a full disk: spend the reserve to free space
                return self._open_db_once()
            if self.reclaiming:
                raise
            # a reader on a full disk: the index as it is, read-only
            from urllib.parse import quote

            db = sqlite3.connect(f"file:{quote(self.db_path)}?mode=ro&immutable=1", uri=True, isolation_level=None)
            db.execute("SELECT 1 FROM images LIMIT 0")  # an index never set up (empty): one line, not a query's error
            return db

    def _open_db_once(self) -> sqlite3.Connection:
        if os.path.exists(self.db_path) and not os.access(self.cas, os.W_OK):
            # a read-only data dir: WAL wants to create -wal/-shm beside the index, so read
            # it as immutable (nothing can be writing a store nobody can write)
            from urllib.parse import quote

            db = sqlite3.connect(f"file:{quote(self.db_path)}?mode=ro&immutable=1", uri=True, isolation_level=None)
            db.execute("SELECT 1 FROM images LIMIT 0")  # an index never set up (empty): one line, not a query's error
            return db
        created = False
        if not os.path.exists(self.db_path):
            from pyrkt.image.indexinit import create_index  # a new store: one fsync, not seven

            created = create_index(self.db_path, self.tmp_dir, SCHEMA, SCHEMA_VERSION)
            if created:
                self.ensure_reserve()
        if True:
            db = sqlite3.connect(self.db_path, timeout=60, isolation_level=None)  # timeout: the busy timeout
            if db.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
                db.execute("PRAGMA journal_mode=WAL")  # persistent: stored in the database
                with self._tx(db):
                    for statement in SCHEMA.split(";"):
                        if statement.strip():
                            db.execute(statement)
                    db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
                self.ensure_reserve()
            db.execute("PRAGMA synchronous=FULL")
            self.new_index = created  # a fetch makes its first commit early (indexinit.start_wal)
        return db

    def _tx(self, db: sqlite3.Connection | None = None) -> "_Transaction":
        """`with store._tx() as db:` a write transaction, rolled back if the block raises."""
        return _Transaction(db or self.db)

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    # -- locks -----------------------------------------------------------
    def lock(self, name: str, shared: bool = False) -> "_FileLock":
        """An flock on `cas/locks/<name>.lock`, held for the `with` block."""
        safe = name.replace("/", "_").replace(":", "-")
        if len(safe) > 200:
            import hashlib

            safe = hashlib.sha256(safe.encode()).hexdigest()
        return _FileLock(os.path.join(self.locks_dir, safe + ".lock"), shared)

    # -- blobs -----------------------------------------------------------
    def blob_path(self, digest: Digest | str) -> str:
        d = Digest.parse(digest) if isinstance(digest, str) else digest
        return os.path.join(self.blobs_dir, d.algorithm, d.hex)

    def has_blob(self, digest: Digest | str) -> bool:
        return os.path.exists(self.blob_path(digest))

    SMALL_BLOB = 1 << 20  # manifests and configs: cheap to check on every fetch

    def has_sound_blob(self, digest: Digest | str, size: int | None = None) -> bool:
        """`has_blob` for a fetch deciding whether to download: a stored blob of the wrong size,
        or a small one (manifest, config) that no longer hashes to its digest (garbled on disk),
        is removed, so the fetch writes it again instead of trusting it. (Layers are verified
        before they are unpacked, pyrkt.image.render.)"""
        path = self.blob_path(digest)
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return False
        bad = size is not None and st.st_size != size
        if not bad and st.st_size <= self.SMALL_BLOB:
            try:
                self.verify_blob(digest)
            except DigestMismatch:
                bad = True
        if bad:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        return not bad

    def blob_writer(self, algorithm: str = "sha256", expected: Digest | None = None) -> BlobWriter:
        return BlobWriter(self, algorithm, expected)

    def put_blob(self, data: bytes, algorithm: str = "sha256", expected: Digest | None = None) -> Digest:
        with self.blob_writer(algorithm, expected) as w:
            w.write(data)
            return w.commit()

    def read_blob(self, digest: Digest | str) -> bytes:
        try:
            with open(self.blob_path(digest), "rb") as f:
                return f.read()
        except FileNotFoundError:
            raise NotFound(f"blob {digest} is not in the store") from None

    def open_blob(self, digest: Digest | str) -> IO[bytes]:
        try:
            return open(self.blob_path(digest), "rb")
        except FileNotFoundError:
            raise NotFound(f"blob {digest} is not in the store") from None

    def verify_blob(self, digest: Digest | str) -> None:
        d = Digest.parse(digest) if isinstance(digest, str) else digest
        h = d.hasher()
        with self.open_blob(d) as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        d.check(h.hexdigest(), f"blob {d}")

    # -- index -----------------------------------------------------------
    def _row(self, row: tuple[Any, ...]) -> ImageRecord:
        rec = ImageRecord(row[0], row[1], row[2], fastjson.loads(row[3]), row[4].encode(), row[5], row[6], fastjson.loads(row[7]),  # type: ignore[arg-type]
                          row[8], row[9], row[10], bool(row[11]))
        try:  # a use since the row was written: see touch()
            rec.last_used = max(rec.last_used, os.stat(self._used_path(rec.id)).st_mtime)
        except OSError:
            pass
        return rec

    def _used_path(self, image_id: str) -> str:
        return os.path.join(self.cas, "used", image_id)

    _COLS = "id, kind, name, labels, manifest, blob, config, layers, import_time, last_used, size, latest"

    def add_image(self, rec: ImageRecord, remote: str | None = None) -> ImageRecord:
        """Index an image whose blobs are all in place (checked here); `remote`: also
        record it as what that URL names (set_remote's row, in the same commit)."""
        for d in rec.blob_digests():
            if not self.has_blob(d):
                raise ImageError(f"refusing to index image {rec.id}: blob {d} is missing")
        now = time.time()
        with self._tx() as db:
            old = db.execute("SELECT import_time FROM images WHERE id=?", (rec.id,)).fetchone()
            rec.import_time = old[0] if old else (rec.import_time or now)
            rec.last_used = rec.last_used or now
            if rec.latest:
                db.execute("UPDATE images SET latest=0 WHERE name=? AND id<>?", (rec.name, rec.id))
            db.execute(f"INSERT OR REPLACE INTO images ({self._COLS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                       (rec.id, rec.kind, rec.name, fastjson.dumps(dict(sorted(rec.labels.items()))), rec.manifest.decode(), rec.blob,
                        rec.config, fastjson.dumps(rec.layers), rec.import_time, rec.last_used, rec.size, int(rec.latest)))
            if remote is not None:
                db.execute("INSERT OR REPLACE INTO remotes (url, image_id, etag, max_age, download_time) VALUES (?,?,?,?,?)",
                           (remote, rec.id, None, None, now))
        return rec

    def images(self) -> list[ImageRecord]:
        return [self._row(r) for r in self.db.execute(f"SELECT {self._COLS} FROM images ORDER BY import_time")]

    def get(self, image_id: str) -> ImageRecord:
        row = self.db.execute(f"SELECT {self._COLS} FROM images WHERE id=?", (image_id,)).fetchone()
        if row is None:
            raise NotFound(f"image {image_id} is not in the store")
        return self._row(row)

    def by_id_prefix(self, ref: ImageIDRef) -> ImageRecord:
        text = str(ref)
        rows = self.db.execute(f"SELECT {self._COLS} FROM images WHERE substr(id, 1, ?) = ?", (len(text), text)).fetchall()
        if not rows and ref.algorithm == "sha512" and len(ref.prefix) > 64:
            return self.by_id_prefix(ImageIDRef("sha512", ref.prefix[:64]))
        if not rows:
            raise NotFound(f"no image with ID {text} in the store")
        if len(rows) > 1:
            raise Ambiguous(f"image ID {text} is ambiguous: it matches {len(rows)} images")
        return self._row(rows[0])

    def by_name(self, name: str, labels: dict[str, str] | None = None) -> list[ImageRecord]:
        """Images with this name whose labels include `labels`; latest first, then newest."""
        labels = labels or {}
        rows = [self._row(r) for r in self.db.execute(f"SELECT {self._COLS} FROM images WHERE name=? ORDER BY latest DESC, import_time DESC", (name,))]
        return [r for r in rows if all(r.labels.get(k) == v for k, v in labels.items())]

    def resolve(self, text: str) -> ImageRecord:
        """An image in the store by ID (prefix) or `name[:version]`; errors say which."""
        ref = parse_reference(text)
        if isinstance(ref, ImageIDRef):
            return self.by_id_prefix(ref)
        if isinstance(ref, AppcNameRef):
            found = self.by_name(ref.name, dict(ref.labels))
            if not found:
                raise NotFound(f"no image named {text} in the store")
            return found[0]
        from pyrkt.image.reference import DockerRef

        if isinstance(ref, DockerRef):
            rid = self.remote(str(ref))
            if rid:
                return self.get(rid[0])
            from pyrkt.image.mapping import appc_name_for

            found = self.by_name(appc_name_for(ref.name), {"version": ref.tag} if ref.tag and ref.digest is None else {})
            if found:
                return found[0]
            raise NotFound(f"no image {text} in the store")
        rid = self.remote(str(ref))
        if rid:
            return self.get(rid[0])
        raise NotFound(f"no image {text} in the store")

    def touch(self, image_id: str) -> None:
        """Mark an image used now (every `rkt run`): the mtime of `cas/used/<id>`.

        Reads fold that time into `last_used` (`_row`). Why not an UPDATE of the
        index: a commit fsyncs, and then the last connection to close
        checkpoints the WAL with more fsyncs: ~4 ms on every `rkt run`, with
        30 ms spikes. Nothing is fsynced here: a crash may lose the time, and then
        the image only looks unused since its previous use (image gc's grace
        period counts from then).
        """
        path = self._used_path(image_id)
        try:
            os.utime(path)
        except FileNotFoundError:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644))
        except OSError as exc:  # a read-only data dir: say which (utime's error names no file)
            from pyrkt.ioerr import named

            raise named(exc, path) from None

    def remove_image(self, image_id: str) -> None:
        """Drop the index row (blobs and trees go at gc, unless shared they are unreferenced)."""
        with self._tx() as db:
            db.execute("DELETE FROM images WHERE id=?", (image_id,))
            db.execute("DELETE FROM remotes WHERE image_id=?", (image_id,))
        try:
            os.unlink(self._used_path(image_id))
        except FileNotFoundError:
            pass

    # -- remotes (URL -> image, with HTTP cache data) ------------------------
    def remote(self, url: str) -> tuple[str, str | None, int | None, float] | None:
        row = self.db.execute("SELECT image_id, etag, max_age, download_time FROM remotes WHERE url=?", (url,)).fetchone()
        if row is None:
            return None
        try:
            self.get(row[0])
        except NotFound:
            return None
        return (row[0], row[1], row[2], row[3])

    def set_remote(self, url: str, image_id: str, etag: str | None = None, max_age: int | None = None) -> None:
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO remotes (url, image_id, etag, max_age, download_time) VALUES (?,?,?,?,?)",
                       (url, image_id, etag, max_age, time.time()))

    # -- trees -------------------------------------------------------------
    def tree_path(self, key: str) -> str:
        return os.path.join(self.tree_dir, key)

    def has_tree(self, key: str) -> bool:
        return os.path.isdir(os.path.join(self.tree_dir, key, "rootfs"))

    def remove_tree(self, key: str) -> None:
        path = self.tree_path(key)
        if not os.path.lexists(path):
            return
        import shutil
        import tempfile

        trash = tempfile.mkdtemp(dir=self.tmp_dir, prefix="trash-")
        os.rename(path, os.path.join(trash, "t"))  # atomic: no half-removed tree stays visible
        shutil.rmtree(trash, ignore_errors=True)


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK when the block raises (a class: contextlib costs an import)."""

    __slots__ = ("db",)

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self.db.execute("ROLLBACK" if exc_type is not None else "COMMIT")


class _FileLock:
    """An flock on a file, taken on entering the `with` block and dropped on leaving it."""

    __slots__ = ("path", "shared", "fd")

    def __init__(self, path: str, shared: bool) -> None:
        self.path = path
        self.shared = shared
        self.fd = -1

    def __enter__(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX)
        except BaseException:
            os.close(fd)
            raise
        self.fd = fd

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        fd, self.fd = self.fd, -1
        os.close(fd)
