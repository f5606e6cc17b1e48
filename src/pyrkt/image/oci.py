"""OCI image spec and Docker v2 schema 2 documents as (pyrkt.records) dataclasses.

The two formats differ only in media types, so one model serves both:
`Descriptor`, `Manifest` (image manifest), `Index` (OCI index / Docker
manifest list) and `ImageConfig` (the part of the config the app mapping
reads). Parsers validate what the fetcher relies on — digests, sizes, media
types — and say which field is wrong.
"""

from __future__ import annotations

import os

from pyrkt import fastjson  # a docker:// fetch is timed: no `json` (re), `dataclasses` (inspect) or `typing`
from pyrkt.image.digest import Digest
from pyrkt.image.errors import ImageError, InvalidManifest, InvalidReference
from pyrkt.records import dataclass

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_FOREIGN_LAYER = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"

MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
LAYER_TYPES = (OCI_LAYER, OCI_LAYER_GZIP, OCI_LAYER_ZSTD, DOCKER_LAYER, DOCKER_FOREIGN_LAYER,
               "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", "application/vnd.oci.image.layer.nondistributable.v1.tar")
ACCEPT = ", ".join((OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST))


def _obj(data: bytes | Any, what: str) -> dict[str, Any]:
    if isinstance(data, (bytes, bytearray, str)):
        try:
            data = fastjson.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidManifest(f"{what} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidManifest(f"{what}: expected a JSON object")
    return data


@dataclass(frozen=True)
class Platform:
    os: str
    architecture: str
    variant: str = ""

    def __str__(self) -> str:
        return f"{self.os}/{self.architecture}" + (f"/{self.variant}" if self.variant else "")


_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64", "armv7l": "arm", "armv6l": "arm",
         "i686": "386", "i386": "386", "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}


def host_platform() -> Platform:
    machine = os.uname().machine  # what platform.machine() returns, without importing platform
    variant = {"armv7l": "v7", "armv6l": "v6", "aarch64": "v8"}.get(machine, "")
    return Platform("linux", _ARCH.get(machine, machine), variant)


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: Digest
    size: int
    platform: Platform | None = None
    annotations: tuple[tuple[str, str], ...] = ()
    urls: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, obj: Any, where: str) -> "Descriptor":
        if not isinstance(obj, dict):
            raise InvalidManifest(f"{where}: expected an object")
        mt = obj.get("mediaType")
        if not isinstance(mt, str) or not mt:
            raise InvalidManifest(f"{where}.mediaType: missing or not a string")
        dg = obj.get("digest")
        if not isinstance(dg, str):
            raise InvalidManifest(f"{where}.digest: missing or not a string")
        try:
            digest = Digest.parse(dg)
        except InvalidReference as exc:
            raise InvalidManifest(f"{where}.digest: {exc}") from None
        size = obj.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise InvalidManifest(f"{where}.size: expected a non-negative integer")
        plat = None
        if isinstance(obj.get("platform"), dict):
            p = obj["platform"]
            if not isinstance(p.get("os"), str) or not isinstance(p.get("architecture"), str):
                raise InvalidManifest(f"{where}.platform: os and architecture must be strings")
            plat = Platform(p["os"], p["architecture"], str(p.get("variant") or ""))
        ann = obj.get("annotations") or {}
        if not isinstance(ann, dict):
            raise InvalidManifest(f"{where}.annotations: expected an object")
        urls = obj.get("urls") or []
        return cls(mt, digest, size, plat, tuple(sorted((str(k), str(v)) for k, v in ann.items())), tuple(str(u) for u in urls))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mediaType": self.media_type, "digest": str(self.digest), "size": self.size}
        if self.platform:
            out["platform"] = {"os": self.platform.os, "architecture": self.platform.architecture}
            if self.platform.variant:
                out["platform"]["variant"] = self.platform.variant
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out


@dataclass(frozen=True)
class Manifest:
    """An image manifest: one config and layers bottom first."""

    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]

    @classmethod
    def parse(cls, data: bytes | Any, media_type: str | None = None) -> "Manifest":
        obj = _obj(data, "image manifest")
        if obj.get("schemaVersion") != 2:
            raise InvalidManifest(f"image manifest: schemaVersion must be 2, got {obj.get('schemaVersion')!r}")
        mt = obj.get("mediaType") or media_type or OCI_MANIFEST
        if mt not in MANIFEST_TYPES:
            raise InvalidManifest(f"image manifest: unsupported mediaType {mt!r}")
        if "manifests" in obj:
            raise InvalidManifest("image manifest: has 'manifests' (an index, not a manifest)")
        config = Descriptor.from_json(obj.get("config"), "image manifest.config")
        layers_raw = obj.get("layers")
        if not isinstance(layers_raw, list):
            raise InvalidManifest("image manifest.layers: expected a list")
        layers = tuple(Descriptor.from_json(item, f"image manifest.layers[{i}]") for i, item in enumerate(layers_raw))
        for i, layer in enumerate(layers):
            if layer.media_type not in LAYER_TYPES:
                raise InvalidManifest(f"image manifest.layers[{i}]: unsupported layer mediaType {layer.media_type!r}")
        return cls(mt, config, layers)


@dataclass(frozen=True)
class Index:
    """An OCI index or a Docker manifest list."""

    media_type: str
    manifests: tuple[Descriptor, ...]

    @classmethod
    def parse(cls, data: bytes | Any, media_type: str | None = None) -> "Index":
        obj = _obj(data, "image index")
        if obj.get("schemaVersion") != 2:
            raise InvalidManifest(f"image index: schemaVersion must be 2, got {obj.get('schemaVersion')!r}")
        mt = obj.get("mediaType") or media_type or OCI_INDEX
        raw = obj.get("manifests")
        if not isinstance(raw, list):
            raise InvalidManifest("image index.manifests: expected a list")
        return cls(mt, tuple(Descriptor.from_json(item, f"image index.manifests[{i}]") for i, item in enumerate(raw)))

    def select(self, want: Platform | None = None) -> Descriptor:
        """The manifest for `want` (the host by default): exact variant first, then any variant."""
        want = want or host_platform()
        candidates = [d for d in self.manifests if d.media_type in MANIFEST_TYPES or d.media_type in INDEX_TYPES]
        with_plat = [d for d in candidates if d.platform is not None]
        if not with_plat and candidates:
            return candidates[0]
        for exact in (True, False):
            for d in with_plat:
                p = d.platform
                assert p is not None
                if p.os == want.os and p.architecture == want.architecture and (not exact or not want.variant or p.variant in ("", want.variant)):
                    return d
        have = ", ".join(str(d.platform) for d in with_plat) or "none"
        raise ImageError(f"no image for platform {want} in the index (it has: {have})")


def sniff_media_type(data: bytes, header_type: str | None = None) -> str:
    """The media type of a manifest-ish document: its own field, the header, or its shape."""
    obj = _obj(data, "manifest")
    mt = obj.get("mediaType")
    if isinstance(mt, str) and mt:
        return mt
    if header_type and (header_type in MANIFEST_TYPES or header_type in INDEX_TYPES):
        return header_type
    return OCI_INDEX if "manifests" in obj else OCI_MANIFEST


@dataclass(frozen=True)
class ImageConfig:
    """The fields of an image config that become the app (and the platform)."""

    architecture: str = ""
    os: str = ""
    user: str = ""
    env: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    working_dir: str = ""
    exposed_ports: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()
    labels: tuple[tuple[str, str], ...] = ()
    diff_ids: tuple[str, ...] = ()

    @classmethod
    def parse(cls, data: bytes | Any) -> "ImageConfig":
        obj = _obj(data, "image config")
        cfg = obj.get("config") or obj.get("container_config") or {}
        if not isinstance(cfg, dict):
            raise InvalidManifest("image config.config: expected an object")

        def strs(key: str) -> tuple[str, ...]:
            v = cfg.get(key)
            if v is None:
                return ()
            if isinstance(v, str):
                return (v,)
            if not isinstance(v, list) or not all(isinstance(s, str) for s in v):
                raise InvalidManifest(f"image config.config.{key}: expected a list of strings")
            return tuple(v)

        def keys(key: str) -> tuple[str, ...]:
            v = cfg.get(key)
            if v is None:
                return ()
            if not isinstance(v, dict):
                raise InvalidManifest(f"image config.config.{key}: expected an object")
            return tuple(sorted(v))

        labels = cfg.get("Labels") or {}
        if not isinstance(labels, dict):
            raise InvalidManifest("image config.config.Labels: expected an object")
        rootfs = obj.get("rootfs") or {}
        diff_ids = tuple(rootfs.get("diff_ids") or []) if isinstance(rootfs, dict) else ()
        user = cfg.get("User") or ""
        wd = cfg.get("WorkingDir") or ""
        if not isinstance(user, str) or not isinstance(wd, str):
            raise InvalidManifest("image config.config: User and WorkingDir must be strings")
        return cls(
            architecture=str(obj.get("architecture") or ""),
            os=str(obj.get("os") or ""),
            user=user,
            env=strs("Env"),
            entrypoint=strs("Entrypoint"),
            cmd=strs("Cmd"),
            working_dir=wd,
            exposed_ports=keys("ExposedPorts"),
            volumes=keys("Volumes"),
            labels=tuple(sorted((str(k), str(v)) for k, v in labels.items())),
            diff_ids=tuple(str(d) for d in diff_ids),
        )
