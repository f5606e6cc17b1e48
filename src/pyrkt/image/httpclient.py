"""A small HTTP(S) client on the standard library, for registries and ACI URLs.

Why not `requests`: the stdlib does everything fetching needs (TLS with the
system CAs or `SSL_CERT_FILE`, redirects, streaming), and one fewer
dependency in a privileged program. Authorization headers are sent as
"unredirected" headers so a registry's redirect to blob storage never
carries the token elsewhere. Credentials come from rkt's `auth.d/*.json`
files in the config dirs (`pyrkt.image.credentials`). Registries are not
fetched through here but through the lean `http1` client.
"""

from __future__ import annotations

import ssl
import urllib.error
import urllib.parse
import urllib.request
from http.client import HTTPResponse
from typing import Mapping

from pyrkt.image.credentials import Credentials, load_credentials, parse_www_authenticate  # noqa: F401 (their old home)
from pyrkt.image.errors import FetchError

USER_AGENT = "pyrkt/0.1 (rkt-compatible)"
TIMEOUT = 60


class _LazyTLSHandler(urllib.request.HTTPSHandler):
    """Builds the TLS context on the first https request: loading the CA bundle
    costs tens of milliseconds that a fetch from a plain-http loopback registry
    or a local file should not pay."""

    def __init__(self, verify_tls: bool) -> None:
        super().__init__()
        self.verify_tls = verify_tls
        self._ctx: ssl.SSLContext | None = None

    def https_open(self, req: urllib.request.Request):  # type: ignore[no-untyped-def]
        if self._ctx is None:
            if self.verify_tls:
                self._ctx = ssl.create_default_context()  # honours SSL_CERT_FILE / SSL_CERT_DIR
            else:
                self._ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                self._ctx.check_hostname = False
                self._ctx.verify_mode = ssl.CERT_NONE
        return self.do_open(urllib.request.http.client.HTTPSConnection, req, context=self._ctx)  # type: ignore[attr-defined]


def make_opener(verify_tls: bool = True) -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(_LazyTLSHandler(verify_tls), urllib.request.ProxyHandler({}))


def request(opener: urllib.request.OpenerDirector, url: str, headers: Mapping[str, str] | None = None,
            auth: str | None = None, method: str = "GET") -> HTTPResponse:
    """Open `url`; HTTP errors are returned (not raised) so callers can read 401/304/404."""
    req = urllib.request.Request(url, method=method)
    req.add_header("User-Agent", USER_AGENT)
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    if auth:
        req.add_unredirected_header("Authorization", auth)
    try:
        return opener.open(req, timeout=TIMEOUT)  # type: ignore[no-any-return]
    except urllib.error.HTTPError as exc:
        return exc  # type: ignore[return-value]
    except urllib.error.URLError as exc:
        raise FetchError(f"cannot reach {url}: {exc.reason}") from None
    except (OSError, ValueError) as exc:
        raise FetchError(f"cannot reach {url}: {exc}") from None


def parse_max_age(cache_control: str | None) -> int | None:
    """Seconds a response may be reused from Cache-Control; 0 for no-cache/no-store."""
    if not cache_control:
        return None
    directives = [d.strip().lower() for d in cache_control.split(",")]
    if "no-store" in directives or "no-cache" in directives:
        return 0
    for d in directives:
        if d.startswith("max-age="):
            try:
                return max(0, int(d.split("=", 1)[1].strip('"')))
            except ValueError:
                return None
    return None


def host_of(url: str) -> str:
    return urllib.parse.urlsplit(url).netloc
