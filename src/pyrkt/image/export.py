"""Getting images out of the store: `rkt image export`, `extract` and `render`.

Each writes beside the destination and renames into place at the end, so a
failed or interrupted command never leaves a half-written ACI or tree at the
path the user named.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile

from pyrkt.image.errors import ImageError
from pyrkt.image.render import render_flat
from pyrkt.image.store import ImageRecord, Store, fsync_dir
from pyrkt.image.tarsafe import extract_tar


def _prepare_dest(dest: str, overwrite: bool) -> None:
    if os.path.lexists(dest):
        if not overwrite:
            raise ImageError(f"{dest} already exists (use --overwrite)")


def _replace(tmp: str, dest: str) -> None:
    if os.path.lexists(dest):
        if os.path.isdir(dest) and not os.path.islink(dest):
            old = tempfile.mkdtemp(dir=os.path.dirname(dest) or ".", prefix=".old-")
            os.rename(dest, os.path.join(old, "x"))
            os.rename(tmp, dest)
            shutil.rmtree(old, ignore_errors=True)
            return
        os.unlink(dest)
    os.rename(tmp, dest)


def export_aci(store: Store, rec: ImageRecord, dest: str, overwrite: bool = False) -> None:
    """Write the image as an ACI: the stored tar for ACIs, a flattened one for OCI images."""
    _prepare_dest(dest, overwrite)
    d = os.path.dirname(os.path.abspath(dest))
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".export-")
    try:
        with os.fdopen(fd, "wb") as out:
            if rec.kind == "aci":
                with store.open_blob(rec.blob) as f:
                    shutil.copyfileobj(f, out, 1 << 20)
            else:
                work = tempfile.mkdtemp(dir=store.tmp_dir, prefix="export-")
                try:
                    rootfs = os.path.join(work, "rootfs")
                    os.mkdir(rootfs, 0o755)
                    render_flat(store, rec, rootfs)
                    with open(os.path.join(work, "manifest"), "wb") as m:
                        m.write(rec.manifest)
                    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                        tar.add(os.path.join(work, "manifest"), "manifest")
                        tar.add(rootfs, "rootfs")
                finally:
                    shutil.rmtree(work, ignore_errors=True)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)
        _replace(tmp, dest)
        fsync_dir(d)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def render_to_dir(store: Store, rec: ImageRecord, dest: str, rootfs_only: bool = False, with_dependencies: bool = True,
                  overwrite: bool = False) -> None:
    """`render` (with dependencies) or `extract` (the image alone) into `dest`."""
    _prepare_dest(dest, overwrite)
    parent = os.path.dirname(os.path.abspath(dest))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=parent, prefix=".render-")
    try:
        os.chmod(tmp, 0o755)
        rootfs = tmp if rootfs_only else os.path.join(tmp, "rootfs")
        if rec.kind == "aci" and not with_dependencies:
            with store.open_blob(rec.blob) as f:
                extract_tar(f, rootfs, whiteouts="flatten", strip_prefix="rootfs")
        else:
            render_flat(store, rec, rootfs)
        if not rootfs_only:
            with open(os.path.join(tmp, "manifest"), "wb") as m:
                m.write(rec.manifest)
        _replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
