"""Rendering images: one tree per layer, stacked by overlayfs; or one flat tree.

A Docker/OCI image is rendered as one tree per layer blob
(`cas/tree/<layer digest>/rootfs`, whiteouts in overlayfs form) and an ACI as
one tree per image in its dependency chain (`cas/tree/<image id>/rootfs`).
Each tree is unpacked once, the first time any image needs it, and shared
read-only by every image and pod that has that layer: the first run of a
fetched image copies nothing. A tree is unpacked into `cas/tmp/` and renamed
into place whole, under a per-tree lock, so a crash never leaves a half tree
that a pod would use.

`render_flat` applies the same layers in order onto one directory (whiteouts
delete), for `rkt image render/extract` and for ACIs with a pathWhitelist.
"""

from __future__ import annotations

import os

from pyrkt.image.appc import App, Dependency, ImageManifest
from pyrkt.image.errors import ImageError, NotFound
from pyrkt.image.store import ImageRecord, Store, fsync_dir
from pyrkt.records import dataclass

# tarsafe (tarfile, bz2, lzma), tempfile and shutil are imported only to unpack a
# tree: running an image whose trees exist (every `rkt run` but the first) needs none


@dataclass(frozen=True)
class Layer:
    """One layer of an image, bottom to top: where its bytes are and how to unpack them."""

    key: str  # tree name: layer digest key (sha256-…) or ACI image id (sha512-…)
    blob: str  # digest of the blob holding it
    aci: bool  # ACI tar (members under rootfs/) vs OCI layer


def _aci_chain(store: Store, rec: ImageRecord, seen: frozenset[str] = frozenset()) -> list[ImageRecord]:
    """The ACI and its dependencies, bottom first (dependencies resolved in the store)."""
    if rec.id in seen:
        raise ImageError(f"image {rec.id} has a dependency cycle")
    chain: list[ImageRecord] = []
    for dep in rec.image_manifest.dependencies:
        chain.extend(_aci_chain(store, find_dependency(store, dep), seen | {rec.id}))
    chain.append(rec)
    return chain


def find_dependency(store: Store, dep: Dependency) -> ImageRecord:
    if dep.image_id:
        from pyrkt.image.reference import parse_image_id

        return store.by_id_prefix(parse_image_id(dep.image_id))
    found = store.by_name(dep.name, dict(dep.labels))
    if not found:
        labels = ",".join(f"{k}={v}" for k, v in dep.labels)
        raise NotFound(f"dependency {dep.name}{',' + labels if labels else ''} is not in the store")
    return found[0]


def image_layers(store: Store, rec: ImageRecord) -> list[Layer]:
    """The layers of an image, bottom first."""
    if rec.kind == "oci":
        return [Layer(key=d.replace(":", "-"), blob=d, aci=False) for d in rec.layers]
    return [Layer(key=r.id, blob=r.blob, aci=True) for r in _aci_chain(store, rec)]


def _unpack(store: Store, layer: Layer, dest: str, whiteouts: str, whitelist: tuple[str, ...] | None = None) -> None:
    from pyrkt.image.tarsafe import extract_tar

    with store.open_blob(layer.blob) as f:
        extract_tar(f, dest, whiteouts=whiteouts, strip_prefix="rootfs" if layer.aci else None, path_whitelist=whitelist)


MARKER = "blob"  # beside rootfs/: the digest of the blob the tree was rendered from


def _marked(store: Store, key: str, source: str) -> bool:
    """Whether tree `key` exists and says it was rendered from `source` (one small read per layer)."""
    try:
        with open(os.path.join(store.tree_path(key), MARKER)) as f:
            return f.read() == source and store.has_tree(key)
    except (OSError, UnicodeDecodeError):
        return False


def _set_aside(store: Store, key: str) -> None:
    """Move a tree with a missing or wrong marker out of the way (into cas/tmp, which
    `rkt image gc` sweeps): a pod still running on it keeps its files until then."""
    if os.path.lexists(store.tree_path(key)):
        import tempfile

        aside = tempfile.mkdtemp(dir=store.tmp_dir, prefix="stale-tree-")
        os.rename(store.tree_path(key), os.path.join(aside, "t"))


def _write_marker(tmp: str, source: str) -> None:
    fd = os.open(os.path.join(tmp, MARKER), os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    try:
        os.write(fd, source.encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def render_layer(store: Store, layer: Layer) -> str:
    """The rootfs of one layer's tree, unpacking it on first use; returns its path.

    A tree is trusted only with its marker naming the blob: one without (torn,
    rendered by an older pyrkt, or garbled) is set aside and rendered again,
    from a blob whose digest is checked first.
    """
    rootfs = os.path.join(store.tree_path(layer.key), "rootfs")
    if _marked(store, layer.key, layer.blob):
        return rootfs
    # the gc lock shared, as a fetch holds it: `rkt image gc` sweeps cas/tmp at once, so it must
    # not run while this writes there (and must not take the blob being unpacked)
    with store.lock("gc", shared=True), store.lock(f"tree-{layer.key}"):
        if _marked(store, layer.key, layer.blob):
            return rootfs
        import shutil
        import tempfile

        store.verify_blob(layer.blob)  # a garbled blob is an error, never a partial tree
        _set_aside(store, layer.key)
        tmp = tempfile.mkdtemp(dir=store.tmp_dir, prefix=f"tree-{layer.key[:20]}-")
        try:
            os.chmod(tmp, 0o755)
            _unpack(store, layer, os.path.join(tmp, "rootfs"), "overlay" if not layer.aci else "flatten")
            _write_marker(tmp, layer.blob)
            fsync_dir(tmp)
            os.rename(tmp, store.tree_path(layer.key))
            fsync_dir(store.tree_dir)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return rootfs


def render_flat(store: Store, rec: ImageRecord, dest: str) -> None:
    """Apply every layer of the image onto `dest` (whiteouts delete), honouring pathWhitelist."""
    whitelist: tuple[str, ...] | None = None
    if rec.kind == "aci":
        wl = rec.image_manifest.path_whitelist
        whitelist = wl if wl else None
    for layer in image_layers(store, rec):
        _unpack(store, layer, dest, "flatten", whitelist)


def _flat_tree(store: Store, rec: ImageRecord) -> str:
    key = rec.id + "-flat"
    rootfs = os.path.join(store.tree_path(key), "rootfs")
    source = ",".join(layer.blob for layer in image_layers(store, rec))
    if _marked(store, key, source):
        return rootfs
    with store.lock("gc", shared=True), store.lock(f"tree-{key}"):
        if _marked(store, key, source):
            return rootfs
        import shutil
        import tempfile

        for layer in image_layers(store, rec):
            store.verify_blob(layer.blob)
        _set_aside(store, key)
        tmp = tempfile.mkdtemp(dir=store.tmp_dir, prefix="tree-flat-")
        try:
            os.chmod(tmp, 0o755)
            render_flat(store, rec, os.path.join(tmp, "rootfs"))
            _write_marker(tmp, source)
            os.rename(tmp, store.tree_path(key))
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return rootfs


def tree_keys(store: Store, rec: ImageRecord) -> list[str]:
    """Names of the trees this image uses (for gc: trees no image references go)."""
    try:
        keys = [layer.key for layer in image_layers(store, rec)]
    except NotFound:
        keys = []
    return keys + [rec.id + "-flat"]


@dataclass(frozen=True)
class RunnableImage:
    """What the pod code needs to run an image's app.

    `lowerdirs` is bottom layer first; overlayfs's `lowerdir=` option wants
    the top first, so pass `":".join(reversed(lowerdirs))`. The directories are
    shared by every pod: mount them read-only (as overlay lowerdirs) only.
    """

    image_id: str
    name: str
    manifest: ImageManifest
    app: App | None
    lowerdirs: tuple[str, ...]

    @property
    def overlay_lowerdir(self) -> str:
        return ":".join(reversed(self.lowerdirs))


def runnable_image(store: Store, image: str) -> RunnableImage:
    """Resolve `image` (ID, ID prefix or name[:version]), render its layers once, mark it used."""
    return runnable(store, store.resolve(image))


def runnable(store: Store, rec: ImageRecord) -> RunnableImage:
    """An image already resolved (`rkt run` looks each up once): render its layers once, mark it used."""
    manifest = rec.image_manifest
    chain_whitelist = rec.kind == "aci" and any(r.image_manifest.path_whitelist for r in _aci_chain(store, rec))
    if chain_whitelist:
        lowerdirs: tuple[str, ...] = (_flat_tree(store, rec),)
    else:
        lowerdirs = tuple(render_layer(store, layer) for layer in image_layers(store, rec))
    store.touch(rec.id)
    return RunnableImage(rec.id, rec.name, manifest, manifest.app, lowerdirs)

