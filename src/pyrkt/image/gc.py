"""Garbage collection of the image store.

`image gc` removes (1) images not used within the grace period, unless a
mounted overlay still uses one of their trees, (2) trees no remaining image
uses and no mounted overlay references, (3) blobs no remaining image
references, and (4) leftovers of killed fetches and renders in `cas/tmp`.
It holds the gc lock exclusively, and every fetch holds it shared, so blobs a
running fetch has written but not indexed yet are never taken.

Which trees are in use is read from /proc/self/mountinfo (overlay
lowerdirs): a running pod's mounts are the ground truth, whatever state files
say.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field

from pyrkt.image.render import tree_keys
from pyrkt.image.store import ImageRecord, Store


@dataclass
class GCResult:
    removed_images: list[str] = field(default_factory=list)
    kept_in_use: list[str] = field(default_factory=list)
    removed_trees: list[str] = field(default_factory=list)
    removed_blobs: int = 0
    freed_bytes: int = 0


def mounted_tree_keys(store: Store, mountinfo: str = "/proc/self/mountinfo") -> set[str]:
    """Tree names that appear in the options of any mount (overlay lowerdirs)."""
    keys: set[str] = set()
    prefix = store.tree_dir.rstrip("/") + "/"
    try:
        with open(mountinfo) as f:
            text = f.read()
    except OSError:
        return keys
    for line in text.splitlines():
        start = 0
        while True:
            i = line.find(prefix, start)
            if i < 0:
                break
            rest = line[i + len(prefix):]
            key = rest.split("/", 1)[0].split(":", 1)[0].split(",", 1)[0].split(" ", 1)[0]
            keys.add(key)
            start = i + len(prefix)
    return keys


def remove_image(store: Store, rec: ImageRecord, keep_trees: frozenset[str] = frozenset()) -> None:
    """Forget an image; its blobs and trees go now unless another image shares them
    (or, `keep_trees`, a pod still stacks them: pyrkt.pod.imagerefs)."""
    store.remove_image(rec.id)
    sweep(store, GCResult(), tmp_age=None, keep_trees=keep_trees)


def sweep(store: Store, result: GCResult, tmp_age: float | None = 3600.0, keep_trees: frozenset[str] = frozenset()) -> GCResult:
    """Remove trees and blobs no image references (nor `keep_trees`); old tmp leftovers too."""
    with store.lock("gc"):
        images = store.images()
        wanted_trees: set[str] = set()
        wanted_blobs: set[str] = set()
        for rec in images:
            wanted_trees.update(tree_keys(store, rec))
            for d in rec.blob_digests():
                wanted_blobs.add(d.replace(":", "/"))
        wanted_trees |= mounted_tree_keys(store) | keep_trees
        for key in sorted(os.listdir(store.tree_dir)):
            if key not in wanted_trees:
                store.remove_tree(key)
                result.removed_trees.append(key)
        for algo in os.listdir(store.blobs_dir):
            adir = os.path.join(store.blobs_dir, algo)
            for hx in os.listdir(adir):
                if f"{algo}/{hx}" not in wanted_blobs:
                    path = os.path.join(adir, hx)
                    try:
                        result.freed_bytes += os.path.getsize(path)
                        os.unlink(path)
                        result.removed_blobs += 1
                    except FileNotFoundError:
                        pass
        if tmp_age is not None:
            now = time.time()
            with open("/proc/self/mountinfo") as f:
                mounts = f.read()
            for name in os.listdir(store.tmp_dir):
                path = os.path.join(store.tmp_dir, name)
                try:
                    st = os.lstat(path)
                except FileNotFoundError:
                    continue
                # every fetch and render holds the gc lock shared while it writes here, so with
                # it held exclusively the rest are leftovers of killed commands: they go at once.
                # Partial downloads (dl-*) are kept for resuming and exports' work dirs (export-*,
                # written without the lock) until old; a set-aside tree a pod still mounts stays.
                if name.startswith(("dl-", "export-")) and now - st.st_mtime < tmp_age:
                    continue
                if path in mounts:
                    continue
                if os.path.isdir(path) and not os.path.islink(path):
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    os.unlink(path)
    return result


def gc(store: Store, grace_period: float = 24 * 3600.0, tmp_age: float = 3600.0, keep: frozenset[str] = frozenset(),
       keep_trees: frozenset[str] = frozenset()) -> GCResult:
    """rkt image gc: drop images unused for `grace_period` seconds, then sweep; `keep`: image IDs
    live pods name, `keep_trees`: trees pods not yet garbage stack (the caller reads the pods:
    this layer does not know them)."""
    result = GCResult()
    now = time.time()
    in_use = mounted_tree_keys(store)
    for rec in store.images():
        if now - rec.last_used < grace_period:
            continue
        if rec.id in keep:
            result.kept_in_use.append(rec.id)
            continue
        if in_use.intersection(tree_keys(store, rec)):
            result.kept_in_use.append(rec.id)
            continue
        store.remove_image(rec.id)
        result.removed_images.append(rec.id)
    return sweep(store, result, tmp_age, keep_trees)
