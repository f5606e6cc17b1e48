"""A new store's index: built aside and linked into place (pyrkt.image.indexinit)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

from pyrkt.image.indexinit import create_index
from pyrkt.image.store import SCHEMA, SCHEMA_VERSION, Store

RKT = os.path.join(sys.prefix, "bin", "rkt")


def test_new_index_is_complete_and_in_wal_mode(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = Store(str(tmp_path / "d"))
    try:
        db = store.db
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert tables == {"images", "remotes"}
        assert db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL, as set on every open
    finally:
        store.close()
    assert os.listdir(store.tmp_dir) == []
    assert os.path.exists(os.path.join(store.cas, "reserve"))
    assert oct(os.stat(store.db_path).st_mode & 0o777) == "0o644"


def test_an_existing_index_is_never_replaced(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = str(tmp_path / "index.sqlite")
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE mine (x)")
    db.commit()
    db.close()
    before = os.stat(path).st_ino
    assert create_index(path, str(tmp_path), SCHEMA, SCHEMA_VERSION) is True
    assert os.stat(path).st_ino == before
    db = sqlite3.connect(path)
    assert [r[0] for r in db.execute("SELECT name FROM sqlite_master")] == ["mine"]
    db.close()
    assert sorted(os.listdir(tmp_path)) == ["index.sqlite"]  # no temp file left


def test_concurrent_first_commands_share_one_index(tmp_path) -> None:  # type: ignore[no-untyped-def]
    data = str(tmp_path / "d")
    procs = [subprocess.Popen([RKT, f"--dir={data}", "image", "list"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(6)]
    outs = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    assert os.listdir(os.path.join(data, "cas", "tmp")) == []
    db = sqlite3.connect(os.path.join(data, "cas", "index.sqlite"))
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    db.close()
