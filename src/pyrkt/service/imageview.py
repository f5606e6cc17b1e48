"""What the API service knows about images: the store's index, opened read-only.

`pyrkt.image.store.Store` creates its directories and, on a new database, the
schema: a service that "never changes the store" must not, so the index is
opened here with SQLite's `mode=ro` (WAL readers see committed rows while
`rkt fetch` writes). A missing index is an empty store.
"""

from __future__ import annotations

import json
import os
import sqlite3
import urllib.parse
from dataclasses import dataclass

from pyrkt.image.store import ImageRecord, Store

# api.proto ImageType
IMAGE_TYPE_APPC, IMAGE_TYPE_DOCKER, IMAGE_TYPE_OCI = 1, 2, 3


@dataclass
class ImageView:
    id: str
    name: str
    version: str
    import_time: float
    size: int
    manifest: bytes
    labels: list[tuple[str, str]]
    annotations: list[tuple[str, str]]
    format_type: int
    format_version: str
    latest: bool
    display_name: str


class ReadOnlyStore(Store):
    """The index of a data dir, read only: no directories made, no schema written."""

    def __init__(self, data_dir: str) -> None:
        super().__init__(data_dir, make_dirs=False)

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            uri = "file:" + urllib.parse.quote(self.db_path) + "?mode=ro"
            self._db = sqlite3.connect(uri, uri=True, timeout=30, isolation_level=None, check_same_thread=False)
        return self._db


def _format(store: ReadOnlyStore, rec: ImageRecord) -> tuple[int, str]:
    """The format the image came in: appc for ACIs; for the others the media type of its manifest blob."""
    if rec.kind == "aci":
        try:
            return IMAGE_TYPE_APPC, str(json.loads(rec.manifest).get("acVersion", ""))
        except ValueError:
            return IMAGE_TYPE_APPC, ""
    try:
        with open(store.blob_path(rec.blob), "rb") as f:
            media = str(json.loads(f.read()).get("mediaType", ""))
    except (OSError, ValueError, AttributeError):
        media = ""
    if "docker" in media:
        return IMAGE_TYPE_DOCKER, "v2.2" if "v2+json" in media else media
    return IMAGE_TYPE_OCI, "1.0"


def _view(store: ReadOnlyStore, rec: ImageRecord) -> ImageView:
    try:
        raw = json.loads(rec.manifest)
    except ValueError:
        raw = {}
    annotations = [(str(a.get("name", "")), str(a.get("value", ""))) for a in (raw.get("annotations") or []) if isinstance(a, dict)]
    kind, version = _format(store, rec)
    return ImageView(id=rec.id, name=rec.name, version=rec.version or "", import_time=rec.import_time, size=rec.size,
                     manifest=rec.manifest, labels=sorted(rec.labels.items()), annotations=annotations,
                     format_type=kind, format_version=version, latest=rec.latest, display_name=rec.display_name)


def list_images(data_dir: str) -> list[ImageView]:
    """Every image of the store, by import time (as `rkt image list`)."""
    store = ReadOnlyStore(data_dir)
    if not os.path.exists(store.db_path):
        return []
    try:
        return [_view(store, rec) for rec in store.images()]
    finally:
        store.close()


def find_images(data_dir: str, prefix: str) -> list[ImageView]:
    """The images whose ID starts with `prefix` (`sha512-` IDs also by their 64-digit form)."""
    prefix = prefix.strip()
    return [i for i in list_images(data_dir) if i.id.startswith(prefix) or (len(prefix) > 71 and prefix.startswith(i.id))]
