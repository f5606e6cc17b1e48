"""Fetching images into the store from every source rkt and skopeo know.

`Fetcher(store, options).fetch(text)` parses the reference, honours the pull
policy (`new`: use the store if it has a match; `update`: ask the source
whether there is something newer; `never`: the store only), fetches, verifies
and indexes the image, and returns its ID. Sources:

- ACI files and URLs: the tar is hashed (sha512, uncompressed) into a blob, its
  detached `.asc` signature is checked against the trusted keys for the
  image's name (unless `--insecure-options=image`), dependencies are fetched,
  then the image is indexed. URLs honour ETag and Cache-Control and resume a
  partial download with a Range request.
- `name[:version]`: appc meta discovery, then as a URL.
- `docker://`: Registry v2; layers are their own sha256 blobs, fetched in
  parallel, never downloaded twice.
- `oci:DIR[:tag]`, `oci-archive:FILE[:tag]`, `docker-archive:FILE` and plain
  paths to such tarballs (sniffed): blobs copied and verified.

A fetch holds the gc lock shared for its whole life (gc takes it exclusive),
so gc never removes blobs an in-flight fetch has written but not indexed yet;
and a per-reference lock, so concurrent fetches of one image do the work once.
"""

from __future__ import annotations

import os
import posixpath
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    import tarfile
    from typing import IO, Any, Callable

    from pyrkt.image.trust import TrustStore

from pyrkt import fastjson
from pyrkt.image.appc import ImageManifest
from pyrkt.image.credentials import load_credentials
from pyrkt.image.digest import Digest, aci_image_id
from pyrkt.image.errors import FetchError, ImageError, InvalidManifest, NotFound, SignatureError
from pyrkt.image.mapping import appc_name_for, config_to_manifest
from pyrkt.image.oci import INDEX_TYPES, OCI_LAYER, OCI_MANIFEST, ImageConfig, Index, Manifest, sniff_media_type
from pyrkt.image.reference import (AppcNameRef, DockerArchiveRef, DockerRef, FileRef, HttpRef, ImageIDRef, OciLayoutRef,
                                   parse_docker, parse_reference)
from pyrkt.image.publish import Publisher
from pyrkt.image.registry import RegistryClient
from pyrkt.image.render import find_dependency
from pyrkt.image.store import ImageRecord, Store
from pyrkt.image.threads import Lock, Task
from pyrkt.records import dataclass, field

# Only what a docker:// fetch uses is imported above (a cold fetch is timed
# against skopeo): tarfile, the compressors, json, urllib/http.client and
# tempfile are imported where the ACI, URL and archive paths need them.

PULL_POLICIES = ("new", "update", "never")
_CHUNK = 1 << 20


@dataclass
class FetchOptions:
    pull_policy: str = "update"
    insecure: frozenset[str] = frozenset()
    signature: str | None = None
    local_config: str = "/etc/rkt"
    system_config: str = "/usr/lib/rkt"
    user_config: str = ""
    trust_keys_from_https: bool = False
    progress: bool = False
    log: Callable[[str], None] = field(default=lambda msg: print(f"rkt: {msg}", file=sys.stderr))
    max_parallel: int = 6  # blobs downloading at once (skopeo's default is 6 too)

    def allows(self, what: str) -> bool:
        o = self.insecure
        return "all" in o or "all-fetch" in o or what in o


@dataclass
class FetchStats:
    """What a fetch cost, for the bench and the tests."""

    downloaded: int = 0
    reused_blobs: int = 0
    fetched_blobs: int = 0


class _Progress:
    """A download progress bar on stderr when it is a terminal; nothing otherwise.

    rich is imported only when the bar is shown, so a scripted fetch (stderr a
    file or a pipe) pays nothing for it. Layers download in parallel threads
    that all advance the one bar; rich's Progress serialises that itself.
    """

    def __init__(self, enabled: bool, label: str, total: int | None) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self._bar: Any = None
        self._task: Any = None
        if not self.enabled:
            return
        from rich.console import Console
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

        self._bar = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(binary_units=True),
                             TransferSpeedColumn(), TimeRemainingColumn(), console=Console(stderr=True))
        self._task = self._bar.add_task(label, total=total)
        self._bar.start()

    def __call__(self, n: int) -> None:
        if self._bar is not None:
            self._bar.advance(self._task, n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


class _suppress:
    """contextlib.suppress without importing contextlib (~1.5 ms on every fetch)."""

    def __init__(self, *kinds: type[BaseException]) -> None:
        self.kinds = kinds

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, exc: object, tb: object) -> bool:
        return isinstance(exc, self.kinds)


def _decompressed(f: IO[bytes]) -> IO[bytes]:
    import bz2
    import gzip
    import lzma

    head = f.read(6)
    f.seek(0)
    if head[:2] == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=f)  # type: ignore[return-value]
    if head[:3] == b"BZh":
        return bz2.BZ2File(f)
    if head == b"\xfd7zXZ\x00":
        return lzma.LZMAFile(f)
    if head[:4] == b"\x28\xb5\x2f\xfd":
        raise FetchError("zstd-compressed ACIs are not supported")
    return f


class _TarSource:
    """Files of an OCI layout or docker save, read from a directory or straight from a tar."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.tar: tarfile.TarFile | None = None
        self.members: dict[str, tarfile.TarInfo] = {}
        if not os.path.isdir(path):
            import tarfile

            try:
                self.tar = tarfile.open(path, "r:*")
            except (OSError, tarfile.TarError) as exc:
                raise FetchError(f"cannot read archive {path}: {exc}") from None
            for m in self.tar.getmembers():
                self.members[posixpath.normpath(m.name.lstrip("./") or ".")] = m

    def names(self) -> set[str]:
        if self.tar is not None:
            return set(self.members)
        return set(os.listdir(self.path))

    def open(self, name: str) -> IO[bytes]:
        name = posixpath.normpath(name)
        if name.startswith("../") or name.startswith("/"):
            raise FetchError(f"{self.path}: refusing path {name!r} outside the layout")
        if self.tar is None:
            full = os.path.join(self.path, name)
            if os.path.islink(full) and not os.path.realpath(full).startswith(os.path.realpath(self.path) + os.sep):
                raise FetchError(f"{self.path}: {name} is a symlink out of the layout")
            try:
                return open(full, "rb")
            except FileNotFoundError:
                raise FetchError(f"{self.path}: {name} is missing") from None
        seen = 0
        m = self.members.get(name)
        while m is not None and (m.issym() or m.islnk()) and seen < 10:
            target = posixpath.normpath(posixpath.join(posixpath.dirname(name), m.linkname) if m.issym() else m.linkname)
            name, m, seen = target, self.members.get(target), seen + 1
        if m is None or not m.isreg():
            raise FetchError(f"{self.path}: {name} is missing from the archive")
        f = self.tar.extractfile(m)
        assert f is not None
        return f

    def read_json(self, name: str) -> object:
        with self.open(name) as f:
            data = f.read(16 << 20)
        try:
            return fastjson.loads(data)
        except ValueError as exc:
            raise InvalidManifest(f"{self.path}: {name} is not valid JSON: {exc}") from None

    def close(self) -> None:
        if self.tar is not None:
            self.tar.close()


class Fetcher:
    def __init__(self, store: Store, options: FetchOptions | None = None) -> None:
        self.store = store
        self.opts = options or FetchOptions()
        if self.opts.pull_policy not in PULL_POLICIES:
            raise ImageError(f"invalid pull policy {self.opts.pull_policy!r}: expected one of {', '.join(PULL_POLICIES)}")
        cfg_dirs = [self.opts.system_config, self.opts.local_config, self.opts.user_config]
        self.docker_creds, self.https_creds = load_credentials(cfg_dirs)
        self.stats = FetchStats()
        self._stats_lock = Lock()

    @property
    def trust(self) -> "TrustStore":
        from pyrkt.image.trust import TrustStore

        return TrustStore(self.opts.local_config, self.opts.system_config, self.opts.user_config)

    # -- entry point -------------------------------------------------------
    def fetch(self, text: str) -> str:
        """Fetch one image reference; returns the image ID."""
        ref = parse_reference(text)
        with self.store.lock("gc", shared=True):
            if isinstance(ref, ImageIDRef):
                return self.store.by_id_prefix(ref).id
            if isinstance(ref, DockerRef):
                return self._fetch_docker(ref)
            if isinstance(ref, FileRef):
                return self._fetch_file(ref.path)
            if isinstance(ref, HttpRef):
                return self._fetch_url(ref.url, None, None)
            if isinstance(ref, AppcNameRef):
                return self._fetch_name(ref)
            if isinstance(ref, OciLayoutRef):
                self._need_insecure_image(str(ref))
                return self._import_layout(ref.path, ref.tag, str(ref))
            if isinstance(ref, DockerArchiveRef):
                self._need_insecure_image(str(ref))
                return self._import_docker_archive(ref.path, ref.tag, str(ref))
        raise ImageError(f"cannot fetch {text}")  # pragma: no cover

    def _need_insecure_image(self, what: str) -> None:
        if not self.opts.allows("image"):
            raise SignatureError(f"{what}: Docker and OCI images cannot be signature-checked; use --insecure-options=image to fetch them")

    def _count(self, downloaded: int, reused: bool) -> None:
        with self._stats_lock:
            self.stats.downloaded += downloaded
            if reused:
                self.stats.reused_blobs += 1
            else:
                self.stats.fetched_blobs += 1

    # -- ACI ---------------------------------------------------------------
    def _fetch_file(self, path: str) -> str:
        if not os.path.exists(path):
            raise FetchError(f"{path}: no such file")
        if os.path.isdir(path):
            if os.path.exists(os.path.join(path, "oci-layout")):
                self._need_insecure_image(path)
                return self._import_layout(path, None, path)
            raise FetchError(f"{path} is a directory, not an image (use oci:{path} for an OCI layout)")
        kind = self._sniff(path)
        if kind == "oci":
            self._need_insecure_image(path)
            return self._import_layout(path, None, path)
        if kind == "docker":
            self._need_insecure_image(path)
            return self._import_docker_archive(path, None, path)
        sig = self.opts.signature or (path + ".asc" if os.path.exists(path + ".asc") else None)
        return self.import_aci(path, sig, origin=path)

    @staticmethod
    def _sniff(path: str) -> str:
        """'aci', 'oci' (oci-archive) or 'docker' (docker save) by the archive's top-level names."""
        if path.endswith(".aci"):
            return "aci"
        import tarfile

        try:
            with open(path, "rb") as raw, tarfile.open(fileobj=_decompressed(raw), mode="r|") as tar:
                for i, m in enumerate(tar):
                    name = m.name.lstrip("./")
                    if name in ("oci-layout", "index.json"):
                        return "oci"
                    if name == "manifest.json" or name == "repositories":
                        return "docker"
                    if name in ("manifest", "rootfs") or name.startswith("rootfs/"):
                        return "aci"
                    if i > 50:
                        break
        except (OSError, tarfile.TarError, EOFError) as exc:
            raise FetchError(f"{path} is not an image archive: {exc}") from None
        raise FetchError(f"{path} is not an ACI, an OCI archive or a docker save tarball")

    def import_aci(self, path: str, sig_path: str | None, origin: str, latest: bool | None = None) -> str:
        """Import an ACI file (optionally compressed) after checking its signature."""
        import lzma

        try:
            raw = open(path, "rb")
        except OSError as exc:
            raise FetchError(f"cannot open {path}: {exc.strerror}") from None
        with raw:
            w = self.store.blob_writer("sha512")
            with w:
                try:
                    src = _decompressed(raw)
                    while True:
                        chunk = src.read(_CHUNK)
                        if not chunk:
                            break
                        w.write(chunk)
                except (OSError, EOFError, lzma.LZMAError) as exc:
                    if isinstance(exc, OSError) and exc.filename is not None:  # writing the blob (ENOSPC): say so
                        from pyrkt.ioerr import describe

                        raise FetchError(f"{origin}: {describe(exc)}") from None
                    raise FetchError(f"{origin}: cannot decompress: {exc}") from None
                size = w.size
                manifest = self._aci_manifest(w.tmp, origin)
                if self.opts.allows("image"):
                    if sig_path is None:
                        self.opts.log("warning: signature verification has been disabled")
                else:
                    if sig_path is None:
                        raise SignatureError(f"{origin}: no signature found (expected {origin}.asc; use --signature or --insecure-options=image)")
                    fpr = self.trust.verify(manifest.name, path, sig_path)
                    self.opts.log(f"signature verified: {manifest.name} signed by key {fpr}")
                digest = w.commit(origin)
        image_id = aci_image_id(digest.hex)
        for dep in manifest.dependencies:
            try:
                find_dependency(self.store, dep)
            except NotFound:
                self.opts.log(f"fetching dependency {dep.name}")
                dep_id = self._fetch_name(AppcNameRef(dep.name, dep.labels), for_dependency=True)
                if dep.image_id and not dep_id.startswith(dep.image_id[:71]):
                    raise ImageError(f"{origin}: dependency {dep.name} has ID {dep_id}, but the manifest pins {dep.image_id}")
        labels = manifest.label_map
        if latest is None:
            latest = labels.get("version") in (None, "latest")
        rec = ImageRecord(id=image_id, kind="aci", name=manifest.name, labels=labels, manifest=manifest.to_bytes(),
                          blob=str(digest), size=size, latest=latest)
        self.store.add_image(rec)
        return image_id

    @staticmethod
    def _aci_manifest(tar_path: str, origin: str) -> ImageManifest:
        import tarfile

        try:
            with tarfile.open(tar_path, "r:") as tar:
                data = None
                has_rootfs = False
                for m in tar:
                    name = m.name.lstrip("./").rstrip("/")
                    if name == "manifest" and m.isreg():
                        f = tar.extractfile(m)
                        assert f is not None
                        data = f.read(4 << 20)
                    elif name == "rootfs" or name.startswith("rootfs/"):
                        has_rootfs = True
                    if data is not None and has_rootfs:
                        break
        except (tarfile.TarError, OSError) as exc:
            raise FetchError(f"{origin} is not an ACI (not a tar: {exc})") from None
        if data is None:
            raise FetchError(f"{origin} is not an ACI: no manifest in the archive")
        if not has_rootfs:
            raise FetchError(f"{origin} is not an ACI: no rootfs in the archive")
        try:
            return ImageManifest.from_bytes(data)
        except InvalidManifest as exc:
            raise InvalidManifest(f"{origin}: {exc}") from None

    # -- URLs --------------------------------------------------------------
    def _fetch_url(self, url: str, sig_url: str | None, name_labels: tuple[str, dict[str, str]] | None) -> str:
        if url.startswith("http://") and not self.opts.allows("http"):
            raise FetchError(f"{url}: plain http is refused; use --insecure-options=http")
        import hashlib
        import http.client

        from pyrkt.image.httpclient import host_of, make_opener, parse_max_age, request

        with self.store.lock("url-" + hashlib.sha256(url.encode()).hexdigest()):
            cached = self.store.remote(url)
            if cached and self.opts.pull_policy in ("new", "never"):
                return cached[0]
            if self.opts.pull_policy == "never":
                raise NotFound(f"image {url} is not in the store and --pull-policy=never")
            if cached and cached[2] and time.time() < cached[3] + cached[2]:
                self.opts.log(f"using cached image for {url} (Cache-Control max-age)")
                return cached[0]
            opener = make_opener(not self.opts.allows("tls"))
            creds = self.https_creds.get(host_of(url))
            auth = creds.basic() if creds else None
            part = os.path.join(self.store.tmp_dir, "dl-" + hashlib.sha256(url.encode()).hexdigest())
            headers: dict[str, str] = {}
            if cached and cached[1]:
                headers["If-None-Match"] = cached[1]
            have = os.path.getsize(part) if os.path.exists(part) else 0
            part_etag = None
            if have and os.path.exists(part + ".etag"):
                with open(part + ".etag") as f:
                    part_etag = f.read().strip() or None
            if have and part_etag:
                headers["Range"] = f"bytes={have}-"
                headers["If-Range"] = part_etag
            resp = request(opener, url, headers, auth)
            with resp:
                if resp.status == 304 and cached:
                    self.store.set_remote(url, cached[0], cached[1], parse_max_age(resp.headers.get("Cache-Control")))
                    self.opts.log(f"image {url} not modified")
                    return cached[0]
                if resp.status not in (200, 206):
                    raise FetchError(f"{url}: HTTP {resp.status}")
                etag = resp.headers.get("ETag")
                max_age = parse_max_age(resp.headers.get("Cache-Control"))
                mode = "ab" if resp.status == 206 else "wb"
                if resp.status == 206:
                    self.opts.log(f"resuming download of {url} at byte {have}")
                with open(part + ".etag", "w") as f:
                    f.write(etag or "")
                length = resp.headers.get("Content-Length")
                prog = _Progress(self.opts.progress, f"Downloading {url}", int(length) if length and length.isdigit() else None)
                got = 0
                with open(part, mode) as out:
                    try:
                        while True:
                            chunk = resp.read1(_CHUNK)  # what has arrived: a cut connection keeps it for resuming
                            if not chunk:
                                break
                            out.write(chunk)
                            out.flush()
                            got += len(chunk)
                            with self._stats_lock:
                                self.stats.downloaded += len(chunk)
                            prog(len(chunk))
                    except (OSError, http.client.HTTPException) as exc:
                        raise FetchError(f"{url}: download interrupted after {have + got} bytes ({exc}); fetch again to resume") from None
                    finally:
                        out.flush()
                        os.fsync(out.fileno())
                        prog.close()
                if length and length.isdigit() and got < int(length):
                    raise FetchError(f"{url}: download interrupted after {(have if resp.status == 206 else 0) + got} bytes; fetch again to resume")
            sig_file = None
            try:
                if not self.opts.allows("image"):
                    sig_file = self._download_small(opener, sig_url or url + ".asc", auth)
                image_id = self.import_aci(part, sig_file, origin=url)
            finally:
                if sig_file:
                    os.unlink(sig_file)
            for p in (part, part + ".etag"):
                with _suppress(FileNotFoundError):
                    os.unlink(p)
            self.store.set_remote(url, image_id, etag, max_age)
            return image_id

    def _download_small(self, opener: object, url: str, auth: str | None) -> str:
        import tempfile

        from pyrkt.image.httpclient import request

        resp = request(opener, url, {}, auth)  # type: ignore[arg-type]
        with resp:
            if resp.status != 200:
                raise SignatureError(f"cannot download signature {url}: HTTP {resp.status}")
            data = resp.read(1 << 20)
        fd, path = tempfile.mkstemp(dir=self.store.tmp_dir, prefix="sig-")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return path

    # -- appc names ----------------------------------------------------------
    def _fetch_name(self, ref: AppcNameRef, for_dependency: bool = False) -> str:
        labels = dict(ref.labels)
        if self.opts.pull_policy in ("new", "never") or for_dependency:
            found = self.store.by_name(ref.name, labels)
            if found:
                return found[0].id
            if self.opts.pull_policy == "never":
                raise NotFound(f"image {ref} is not in the store and --pull-policy=never")
        self.opts.log(f"searching for app image {ref}")
        from pyrkt.image.discovery import discover

        eps = discover(ref.name, labels, allow_http=self.opts.allows("http"), verify_tls=not self.opts.allows("tls"))
        if self.opts.trust_keys_from_https and eps.keys and not self.trust.keys_for(ref.name):
            for key_url in eps.keys:
                if key_url.startswith("http://") and not self.opts.allows("pubkey"):
                    continue
                from pyrkt.image.httpclient import make_opener, request

                resp = request(make_opener(not self.opts.allows("tls")), key_url)
                with resp:
                    if resp.status == 200:
                        info, where = self.trust.add_key(resp.read(1 << 20), prefix=ref.name)
                        self.opts.log(f"trusting key {info.fingerprint} for prefix {ref.name!r} (from {key_url})")
        last: Exception | None = None
        for aci_url, sig_url in eps.aci:
            try:
                self.opts.log(f"fetching image from {aci_url}")
                return self._fetch_url(aci_url, sig_url, (ref.name, labels))
            except FetchError as exc:
                last = exc
        raise last or FetchError(f"discovery gave no endpoint for {ref}")

    # -- Docker registry -----------------------------------------------------
    def _fetch_docker(self, ref: DockerRef) -> str:
        self._need_insecure_image(str(ref))
        # the lock's name hashes a short string: CPython's own sha256, so OpenSSL (_hashlib,
        # ~3 ms to load) is first imported by the manifest thread, while this one opens the index
        from _sha256 import sha256  # type: ignore[import-not-found]

        with self.store.lock("docker-" + sha256(str(ref).encode()).hexdigest()):
            if self.opts.pull_policy in ("new", "never"):
                with _suppress(NotFound):
                    return self.store.resolve(str(ref)).id
                if self.opts.pull_policy == "never":
                    raise NotFound(f"image {ref} is not in the store and --pull-policy=never")
            creds = self.docker_creds.get(ref.registry)
            client = RegistryClient(ref.registry, ref.repository, allow_http=self.opts.allows("http"),
                                    verify_tls=not self.opts.allows("tls"), credentials=creds)
            data, mt, digest = self._manifest_while_opening_index(client, ref.reference)
            index_digest = None
            depth = 0
            while mt in INDEX_TYPES:
                depth += 1
                if depth > 4:
                    raise InvalidManifest(f"{ref}: indexes nested too deep")
                chosen = Index.parse(data, mt).select()
                index_digest = digest
                data, mt, digest = client.get_manifest(str(chosen.digest))
            manifest = Manifest.parse(data, mt)
            image_id = digest.key
            # The config and the layers download in worker threads at once (skopeo
            # downloads several at a time too); meanwhile this thread looks the image
            # up in the index (on a new store: creates it). Each blob is verified as
            # it arrives and published (fsync, rename) in the background while the
            # next ones download; all are visible and their directory synced before
            # the image is indexed (pyrkt.image.publish).
            pub = Publisher()
            total = sum(layer.size for layer in manifest.layers)
            prog = _Progress(self.opts.progress, f"Downloading {ref.repository}", total)
            cfg_digest = manifest.config.digest

            def one(blob: Digest, size: int, more: bool) -> None:
                # a worker with more blobs to fetch publishes in the background; its last, itself
                n = client.fetch_blob(self.store, blob, size, None if blob == cfg_digest else prog, publisher=pub, background=more)
                self._count(n, n == 0)

            join = self._parallel_start(one, [(cfg_digest, manifest.config.size)] + [(layer.digest, layer.size) for layer in manifest.layers])
            try:
                try:
                    if self.store.new_index:  # a new store: its first commit's syncs overlap the downloads
                        from pyrkt.image.indexinit import start_wal
                        from pyrkt.image.store import SCHEMA_VERSION

                        start_wal(self.store.db, SCHEMA_VERSION)
                        self.store.new_index = False
                    complete = False
                    with _suppress(NotFound):
                        rec = self.store.get(image_id)
                        complete = all(self.store.has_blob(d) for d in rec.blob_digests())
                    if not complete:
                        w = self.store.blob_writer(expected=digest)
                        try:
                            w.write(data)
                            pub.submit(w, w.verify(f"manifest {ref}"), background=False)  # overlaps the workers
                        except BaseException:
                            w.abort()
                            raise
                        self._count(len(data), False)
                finally:
                    try:
                        join()
                    finally:
                        prog.close()
                if complete:
                    pub.wait()
                    self.store.set_remote(str(ref), image_id)
                    return image_id
                cfg = ImageConfig.parse(pub.read(self.store, cfg_digest))
            except BaseException:
                with _suppress(Exception):
                    pub.wait()  # no thread left writing; the first error is the one to tell
                raise
            pub.wait()
            annotations = {"appc.io/docker/registryurl": ref.registry, "appc.io/docker/repository": ref.repository,
                           "appc.io/docker/manifesthash": str(digest)}
            if index_digest:
                annotations["appc.io/docker/indexhash"] = str(index_digest)
            tag = ref.tag or ("latest" if ref.digest is None else None)
            self._index_oci(image_id, ref.name, tag, cfg, manifest, digest, annotations, latest=tag == "latest", remote=str(ref))
            return image_id

    def _manifest_while_opening_index(self, client: RegistryClient, reference: str) -> tuple[bytes, str, Digest]:
        """client.get_manifest(reference), from a thread while this one opens the index
        (on a new store: creates it, a few fsyncs): the two waits overlap."""
        box: list[tuple[bytes, str, Digest]] = []
        failed: list[BaseException] = []

        def get() -> None:
            try:
                box.append(client.get_manifest(reference))
            except BaseException as exc:  # re-raised here, in the fetching thread
                failed.append(exc)

        t = Task(get)
        try:
            self.store.db  # noqa: B018 - opened for its side effect
        finally:
            t.join()
        if failed:
            raise failed[0]
        return box[0]

    def _parallel_start(self, fn: Callable[[Digest, int, bool], None], items: list[tuple[Digest, int]]) -> Callable[[], None]:
        """Start `fn(*item, more)` for the items in a few worker threads (`more`: enough items
        still wait that this worker will probably take another); returns a join that waits for all of them and
        re-raises the first failure (in the items' order)."""
        unique = list(dict.fromkeys(items))
        # a few plain threads taking items in order (skopeo downloads a few layers at
        # a time too); not concurrent.futures: it imports logging (~13 ms per fetch)
        pending = list(unique)
        workers = min(self.opts.max_parallel, len(unique))
        errors: list[BaseException | None] = [None] * len(unique)
        take = Lock()

        def worker() -> None:
            while True:
                with take:
                    if not pending:
                        return
                    i = len(unique) - len(pending)
                    item = pending.pop(0)
                    more = len(pending) >= workers  # so this worker is likely to take another
                try:
                    fn(*item, more)
                except BaseException as exc:  # re-raised in the caller's thread, first failure first
                    errors[i] = exc

        started: list[Task] = []
        try:
            for _ in range(workers):
                started.append(Task(worker))
        finally:
            if not started:
                worker()  # no thread to be had: do it all here

        def join() -> None:
            for t in started:
                t.join()
            for e in errors:
                if e is not None:
                    raise e

        return join

    def _index_oci(self, image_id: str, name: str, tag: str | None, cfg: ImageConfig, manifest: Manifest, digest: Digest,
                   annotations: dict[str, str], latest: bool, remote: str | None = None) -> None:
        name = appc_name_for(name)
        im = config_to_manifest(name, tag, cfg, annotations)
        size = sum(layer.size for layer in manifest.layers) + manifest.config.size
        rec = ImageRecord(id=image_id, kind="oci", name=name, labels=im.label_map, manifest=im.to_bytes(), blob=str(digest),
                          config=str(manifest.config.digest), layers=[str(layer.digest) for layer in manifest.layers],
                          size=size, latest=latest)
        self.store.add_image(rec, remote)

    # -- OCI layouts and docker save -----------------------------------------
    def _copy_blob(self, src: _TarSource, digest: Digest, size: int | None = None) -> None:
        if self.store.has_sound_blob(digest, size):
            self._count(0, True)
            return
        with self.store.lock(f"blob-{digest.key}"):
            if self.store.has_blob(digest):
                self._count(0, True)
                return
            with src.open(f"blobs/{digest.algorithm}/{digest.hex}") as f, self.store.blob_writer(expected=digest) as w:
                for chunk in iter(lambda: f.read(_CHUNK), b""):
                    w.write(chunk)
                if size is not None and w.size != size:
                    raise ImageError(f"blob {digest}: expected {size} bytes, got {w.size}")
                w.commit(f"blob {digest}")
            self._count(w.size, False)

    def _import_layout(self, path: str, tag: str | None, origin: str) -> str:
        if not os.path.exists(path):
            raise FetchError(f"{path}: no such file or directory")
        src = _TarSource(path)
        try:
            index_obj = src.read_json("index.json")
            index = Index.parse(index_obj)
            cands = list(index.manifests)
            if tag is not None:
                cands = [d for d in cands if dict(d.annotations).get("org.opencontainers.image.ref.name") == tag]
                if not cands:
                    raise NotFound(f"{origin}: no image tagged {tag!r} in the layout")
            if not cands:
                raise NotFound(f"{origin}: the layout has no images")
            desc = cands[0] if len(cands) == 1 else Index(index.media_type, tuple(cands)).select()
            if tag is None:
                tag = dict(desc.annotations).get("org.opencontainers.image.ref.name")
            for _ in range(4):
                if desc.media_type not in INDEX_TYPES:
                    break
                with src.open(f"blobs/{desc.digest.algorithm}/{desc.digest.hex}") as f:
                    desc = Index.parse(f.read(16 << 20)).select()
            with src.open(f"blobs/{desc.digest.algorithm}/{desc.digest.hex}") as f:
                data = f.read(16 << 20)
            desc.digest.check(Digest.of_bytes(data, desc.digest.algorithm).hex, f"manifest in {origin}")
            manifest = Manifest.parse(data, desc.media_type)
            self.store.put_blob(data, expected=desc.digest)
            self._copy_blob(src, manifest.config.digest, manifest.config.size)
            for layer in manifest.layers:
                self._copy_blob(src, layer.digest, layer.size)
            cfg = ImageConfig.parse(self.store.read_blob(manifest.config.digest))
            base = os.path.basename(os.path.normpath(path))
            for suffix in (".tar", ".tar.gz", ".oci"):
                if base.endswith(suffix):
                    base = base[: -len(suffix)]
            image_id = desc.digest.key
            self._index_oci(image_id, base, tag, cfg, manifest, desc.digest, {"pyrkt/source": origin}, latest=tag in (None, "latest"))
            return image_id
        finally:
            src.close()

    def _import_docker_archive(self, path: str, want: str | None, origin: str) -> str:
        if not os.path.exists(path):
            raise FetchError(f"{path}: no such file")
        src = _TarSource(path)
        try:
            entries = src.read_json("manifest.json")
            if not isinstance(entries, list) or not entries:
                raise InvalidManifest(f"{origin}: manifest.json is not a non-empty list")
            entry = entries[0]
            if want:
                matches = [e for e in entries if want in (e.get("RepoTags") or [])]
                if not matches:
                    raise NotFound(f"{origin}: no image tagged {want!r} in the archive")
                entry = matches[0]
            if not isinstance(entry, dict) or not isinstance(entry.get("Config"), str) or not isinstance(entry.get("Layers"), list):
                raise InvalidManifest(f"{origin}: manifest.json entry needs Config and Layers")

            def store_file(name: str) -> tuple[Digest, int]:
                with src.open(name) as f, self.store.blob_writer("sha256") as w:
                    for chunk in iter(lambda: f.read(_CHUNK), b""):
                        w.write(chunk)
                    existed = self.store.has_blob(Digest("sha256", w.hasher.copy().hexdigest()))
                    d = w.commit(f"{origin}:{name}")
                    self._count(0 if existed else w.size, existed)
                    return d, w.size

            cfg_digest, cfg_size = store_file(entry["Config"])
            layers = [store_file(str(name)) for name in entry["Layers"]]
            manifest_obj = {
                "schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": str(cfg_digest), "size": cfg_size},
                "layers": [{"mediaType": OCI_LAYER, "digest": str(d), "size": s} for d, s in layers],
            }
            data = fastjson.dumps(manifest_obj, compact=True).encode()
            digest = self.store.put_blob(data)
            manifest = Manifest.parse(data)
            cfg = ImageConfig.parse(self.store.read_blob(cfg_digest))
            tags = entry.get("RepoTags") or []
            name, tag = os.path.basename(path), None
            if tags:
                with _suppress(ImageError):
                    dref = parse_docker(str(tags[0]))
                    name, tag = dref.name, dref.tag
            self._index_oci(digest.key, name, tag, cfg, manifest, digest, {"pyrkt/source": origin}, latest=tag in (None, "latest"))
            return digest.key
        finally:
            src.close()
