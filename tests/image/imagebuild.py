"""Build test images by hand: tar layers, OCI layouts, ACIs (from busybox-static).

Writing the OCI layout ourselves (instead of only through umoci) lets the
tests put exactly the hostile or tricky members they need into a layer:
whiteouts, setuid files, hard links, symlinks, `..` names.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
import time
from dataclasses import dataclass, field

BUSYBOX = "/bin/busybox"


@dataclass
class Entry:
    name: str
    type: str = "file"  # file, dir, symlink, hardlink, chr, fifo
    data: bytes = b""
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    linkname: str = ""
    xattrs: dict[str, str] = field(default_factory=dict)
    devmajor: int = 0
    devminor: int = 0


def tar_bytes(entries: list[Entry], compress: bool = True) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for e in entries:
            info = tarfile.TarInfo(e.name)
            info.mode = e.mode
            info.uid, info.gid = e.uid, e.gid
            info.mtime = 1_600_000_000
            if e.xattrs:
                info.pax_headers = {f"SCHILY.xattr.{k}": v for k, v in e.xattrs.items()}
            if e.type == "file":
                info.size = len(e.data)
                tar.addfile(info, io.BytesIO(e.data))
                continue
            info.type = {"dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE,
                         "chr": tarfile.CHRTYPE, "fifo": tarfile.FIFOTYPE}[e.type]
            info.linkname = e.linkname
            info.devmajor, info.devminor = e.devmajor, e.devminor
            tar.addfile(info)
    raw = buf.getvalue()
    return gzip.compress(raw, mtime=0) if compress else raw


def busybox_entries(applets: tuple[str, ...] = ("sh", "ls", "cat", "echo", "id", "true")) -> list[Entry]:
    with open(BUSYBOX, "rb") as f:
        data = f.read()
    out = [Entry("bin", "dir", mode=0o755), Entry("bin/busybox", data=data, mode=0o755)]
    out += [Entry(f"bin/{a}", "symlink", linkname="busybox", mode=0o777) for a in applets]
    out += [Entry("etc", "dir", mode=0o755), Entry("etc/passwd", data=b"root:x:0:0:root:/root:/bin/sh\n"),
            Entry("tmp", "dir", mode=0o1777)]
    return out


def _blob(layout: str, data: bytes) -> dict[str, object]:
    hx = hashlib.sha256(data).hexdigest()
    d = os.path.join(layout, "blobs", "sha256")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hx), "wb") as f:
        f.write(data)
    return {"digest": f"sha256:{hx}", "size": len(data)}


_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_ZSTD_LAYER = "application/vnd.oci.image.layer.v1.tar+zstd"


def _uncompressed(layer: bytes) -> bytes:
    if layer[:2] == b"\x1f\x8b":
        return gzip.decompress(layer)
    if layer[:4] == _ZSTD_MAGIC:
        import zstandard

        return zstandard.ZstdDecompressor().decompressobj().decompress(layer)
    return layer


def zstd_bytes(data: bytes) -> bytes:
    """`data` zstd-compressed, as podman/buildkit push `tar+zstd` layers."""
    import zstandard

    return zstandard.ZstdCompressor().compress(data)


def write_oci_layout(layout: str, layers: list[bytes], config: dict[str, object] | None = None, tag: str = "latest",
                     arch: str = "amd64", docker_types: bool = False) -> str:
    """An OCI image layout with one image; returns the manifest digest."""
    os.makedirs(layout, exist_ok=True)
    with open(os.path.join(layout, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    diff_ids = ["sha256:" + hashlib.sha256(_uncompressed(l)).hexdigest() for l in layers]
    cfg = {"architecture": arch, "os": "linux", "config": config or {"Cmd": ["/bin/sh"]},
           "rootfs": {"type": "layers", "diff_ids": diff_ids}, "created": "2020-01-01T00:00:00Z"}
    cfg_desc = _blob(layout, json.dumps(cfg).encode())
    layer_type = "application/vnd.docker.image.rootfs.diff.tar.gzip" if docker_types else "application/vnd.oci.image.layer.v1.tar+gzip"
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json" if docker_types else "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json" if docker_types else "application/vnd.oci.image.config.v1+json", **cfg_desc},
        "layers": [{"mediaType": _ZSTD_LAYER if l[:4] == _ZSTD_MAGIC else layer_type, **_blob(layout, l)} for l in layers],
    }
    mdesc = _blob(layout, json.dumps(manifest).encode())
    index_path = os.path.join(layout, "index.json")
    index = {"schemaVersion": 2, "manifests": []}
    if os.path.exists(index_path):
        with open(index_path) as f:
            index = json.load(f)
        index["manifests"] = [m for m in index["manifests"] if m.get("annotations", {}).get("org.opencontainers.image.ref.name") != tag]
    index["manifests"].append({"mediaType": manifest["mediaType"], **mdesc,
                               "platform": {"os": "linux", "architecture": arch},
                               "annotations": {"org.opencontainers.image.ref.name": tag}})
    with open(index_path, "w") as f:
        json.dump(index, f)
    return str(mdesc["digest"])


def aci_bytes(manifest: dict[str, object], entries: list[Entry], compress: bool = False) -> bytes:
    """An ACI: `manifest` plus the entries under `rootfs/`."""
    mdata = json.dumps(manifest).encode()
    all_entries = [Entry("manifest", data=mdata), Entry("rootfs", "dir", mode=0o755)]
    for e in entries:
        copy = Entry(**{**e.__dict__})
        copy.name = "rootfs/" + e.name
        if e.type == "hardlink":
            copy.linkname = "rootfs/" + e.linkname
        all_entries.append(copy)
    return tar_bytes(all_entries, compress=compress)


def aci_manifest(name: str, version: str | None = None, exec_: list[str] | None = None, deps: list[dict[str, object]] | None = None,
                 **extra: object) -> dict[str, object]:
    labels = [{"name": "os", "value": "linux"}, {"name": "arch", "value": "amd64"}]
    if version:
        labels.insert(0, {"name": "version", "value": version})
    m: dict[str, object] = {"acKind": "ImageManifest", "acVersion": "0.8.11", "name": name, "labels": labels,
                            "app": {"exec": exec_ or ["/bin/sh"], "user": "0", "group": "0"}}
    if deps:
        m["dependencies"] = deps
    m.update(extra)
    return m
