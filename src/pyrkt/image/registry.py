"""A Docker Registry HTTP API v2 client: manifests, blobs, and the auth dance.

Auth follows the registry protocol: a request without credentials; on 401 the
`WWW-Authenticate` header says Basic (send the configured credentials) or
Bearer (get a token from the realm for the given service and scope, with the
basic credentials if any, then retry). Tokens are cached per scope for the
client's life. Every blob is hashed while streamed into the store and only
renamed into place when the digest matches.

`http://` registries are used only when the caller allows it
(`--insecure-options=http`); then https is tried first and plain http is the
fallback, as docker does for insecure registries (the probe sends a TLS
ClientHello by hand: `ssl` is imported only when the registry speaks TLS).

HTTP goes through `http1.Pool`: one pool per client, so the manifest, the
config and every parallel worker's blobs reuse a few kept-alive connections.
"""

from __future__ import annotations

import _thread
import os

from pyrkt.image.credentials import Credentials, parse_www_authenticate
from pyrkt.image.digest import Digest
from pyrkt.image.errors import DigestMismatch, FetchError, ImageError
from pyrkt.image.http1 import Pool, Response, speaks_tls, split_url
from pyrkt.image.oci import ACCEPT, sniff_media_type
from pyrkt.image.store import Store

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable

    from pyrkt.image.publish import Publisher
    from pyrkt.image.store import BlobWriter

_CHUNK = 1 << 20
_WRITEBACK = 4 << 20


def _start_writeback(w: "BlobWriter", start: int, end: int) -> int:
    """Ask the kernel to start writing [start, end) of the blob to disk now (POSIX_FADV_DONTNEED
    starts writeback of dirty pages without waiting), so the fsync before the blob is
    published has little left to write: the disk works while the rest downloads."""
    try:
        w.file.flush()
        os.posix_fadvise(w.file.fileno(), start, end - start, os.POSIX_FADV_DONTNEED)
    except (OSError, AttributeError):
        pass
    return end


class RegistryClient:
    def __init__(self, registry: str, repository: str, allow_http: bool = False, verify_tls: bool = True,
                 credentials: Credentials | None = None) -> None:
        self.registry = registry
        self.repository = repository
        self.allow_http = allow_http
        self.pool = Pool(verify_tls)
        self.credentials = credentials
        self.scheme: str | None = None
        self._auth: str | None = None
        self._lock = _thread.allocate_lock()

    def _base(self) -> str:
        if self.scheme is None:
            self.scheme = "https"
            if self.allow_http:
                # does it speak TLS at all? (an unverified probe: cheap, and only decides the scheme;
                # the real requests verify the certificate unless --insecure-options=tls)
                _, host, port, _ = split_url(f"https://{self.registry}/")
                try:
                    if not speaks_tls(host, port):
                        self.scheme = "http"
                except OSError:
                    self.scheme = "http"  # unreachable: the http request says so in its own words
        return f"{self.scheme}://{self.registry}"

    def _authenticate(self, challenge: str) -> None:
        scheme, params = parse_www_authenticate(challenge)
        if scheme == "basic":
            if self.credentials is None:
                raise FetchError(f"registry {self.registry} needs a user name and password (add an auth.d dockerAuth file)")
            self._auth = self.credentials.basic()
            return
        if scheme != "bearer" or "realm" not in params:
            raise FetchError(f"registry {self.registry}: unsupported authentication {challenge!r}")
        query: dict[str, str] = {k: params[k] for k in ("service", "scope") if k in params}
        if "scope" not in query:
            query["scope"] = f"repository:{self.repository}:pull"
        from urllib.parse import urlencode  # only on a token registry's 401

        url = params["realm"] + ("&" if "?" in params["realm"] else "?") + urlencode(query)
        resp = self.pool.request(url, auth=self.credentials.basic() if self.credentials else None)
        with resp:
            body = resp.read()
            if resp.status != 200:
                raise FetchError(f"registry {self.registry}: token server {params['realm']} refused: HTTP {resp.status}")
        from pyrkt import fastjson

        try:
            obj = fastjson.loads(body)
        except ValueError:
            raise FetchError(f"registry {self.registry}: token server sent invalid JSON") from None
        token = (obj.get("token") or obj.get("access_token")) if isinstance(obj, dict) else None
        if not isinstance(token, str) or not token:
            raise FetchError(f"registry {self.registry}: token server sent no token")
        self._auth = f"Bearer {token}"

    def _get(self, path: str, headers: dict[str, str] | None = None) -> Response:
        url = self._base() + path
        resp = self.pool.request(url, headers=headers, auth=self._auth)
        if resp.status == 401:
            challenge = resp.headers.get("WWW-Authenticate") or ""
            resp.read(64 << 10)  # the small error body: the connection stays usable
            resp.close()
            with self._lock:
                self._authenticate(challenge)
            resp = self.pool.request(url, headers=headers, auth=self._auth)
            if resp.status == 401:
                resp.close()
                raise FetchError(f"registry {self.registry}: unauthorized for {self.repository} (wrong credentials?)")
        return resp

    def _error(self, resp: Response, what: str) -> ImageError:
        body = resp.read(4096)
        resp.close()
        detail = ""
        try:
            from pyrkt import fastjson

            obj = fastjson.loads(body)
            errs = (obj.get("errors") or []) if isinstance(obj, dict) else []
            if errs:
                detail = ": " + "; ".join(f"{e.get('code')} {e.get('message')}" for e in errs)
        except (ValueError, AttributeError):
            pass
        return FetchError(f"registry {self.registry}: {what}: HTTP {resp.status}{detail}")

    def get_manifest(self, reference: str) -> tuple[bytes, str, Digest]:
        """A manifest or index by tag or digest: (bytes, media type, digest of the bytes)."""
        resp = self._get(f"/v2/{self.repository}/manifests/{reference}", {"Accept": ACCEPT})
        if resp.status != 200:
            raise self._error(resp, f"manifest {self.repository}:{reference} not found" if resp.status == 404 else f"manifest {self.repository}:{reference}")
        with resp:
            data = resp.read(16 << 20)
        header_type = (resp.headers.get("Content-Type") or "").split(";")[0].strip()
        actual = Digest.of_bytes(data)
        if reference.startswith("sha256:"):
            Digest.parse(reference).check(actual.hex, f"manifest {reference}")
        else:
            sent = resp.headers.get("Docker-Content-Digest")
            if sent and sent.startswith("sha256:") and sent != str(actual):
                raise DigestMismatch(f"digest mismatch for manifest {self.repository}:{reference}: registry says {sent}, content is {actual}")
        return data, sniff_media_type(data, header_type), actual

    def fetch_blob(self, store: Store, digest: Digest, size: int | None = None, progress: "Callable[[int], None] | None" = None,
                   publisher: "Publisher | None" = None, background: bool = True) -> int:
        """Download a blob into the store unless it is there; returns bytes downloaded.

        With a `publisher`, the verified blob is handed to it (fsync and rename in
        the background — or in this thread if not `background` —, the blob's lock held
        until then) instead of committed here."""
        if store.has_sound_blob(digest, size):
            return 0
        lock = store.lock(f"blob-{digest.key}")
        lock.__enter__()
        handed = False
        try:
            if store.has_blob(digest):
                return 0
            resp = self._get(f"/v2/{self.repository}/blobs/{digest}")
            if resp.status != 200:
                raise self._error(resp, f"blob {digest}")
            n = flushed = 0
            w = store.blob_writer(expected=digest)
            try:
                with resp:
                    while True:
                        chunk = resp.read1(_CHUNK)
                        if not chunk:
                            break
                        w.write(chunk)
                        n += len(chunk)
                        if n - flushed >= _WRITEBACK:
                            flushed = _start_writeback(w, flushed, n)
                        if progress:
                            progress(len(chunk))
                if size is not None and n != size:
                    raise DigestMismatch(f"blob {digest}: expected {size} bytes, got {n}")
                verified = w.verify(f"blob {digest}")
                if publisher is None:
                    w.publish(verified)
                else:
                    publisher.submit(w, verified, lock, background)
                    handed = True
            except BaseException:
                w.abort()
                raise
            return n
        finally:
            if not handed:
                lock.__exit__(None, None, None)
