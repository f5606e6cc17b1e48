"""`rkt trust`: trust a gpg public key for an image name prefix, or as a root key.

Keys are given as files or URLs; with only `--prefix`, they are found by appc
meta discovery (`ac-discovery-pubkeys`). Unless `--skip-fingerprint-review`,
the fingerprint is shown and a yes/no answer is read from stdin, as in rkt.
"""

from __future__ import annotations

import sys

from pyrkt.cli.args import Flag
from pyrkt.cli.rkt._imagecli import one_line_errors
from pyrkt.cli.rkt.common import GlobalOptions, RktError, command

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

USAGE = """Usage: rkt trust [--prefix=PREFIX | --root] [--skip-fingerprint-review] [--insecure-allow-http] [PUBKEY ...]

Trust a key for image verification.
"""

FLAGS = (
    Flag("prefix", takes_value=True),
    Flag("root"),
    Flag("skip-fingerprint-review"),
    Flag("insecure-allow-http"),
)


def _fingerprint_text(fpr: str) -> str:
    f = fpr.upper()
    groups = [f[i:i + 4] for i in range(0, len(f), 4)]
    return " ".join(groups[:5]) + "  " + " ".join(groups[5:])


def _read_key(source: str, opts: GlobalOptions, allow_http: bool) -> bytes:
    from pyrkt.image.httpclient import make_opener, request

    if source.startswith(("https://", "http://")):
        if source.startswith("http://") and not allow_http:
            raise RktError(f"refusing to fetch a key over plain http: {source} (use --insecure-allow-http)")
        resp = request(make_opener(not opts.insecure("tls")), source)
        with resp:
            if resp.status != 200:
                raise RktError(f"cannot download key {source}: HTTP {resp.status}")
            return bytes(resp.read(1 << 20))
    try:
        with open(source, "rb") as f:
            return f.read(1 << 20)
    except OSError as exc:
        raise RktError(f"cannot read key {source}: {exc.strerror}") from None


@command(FLAGS, USAGE, one_line_errors)
def main(opts: GlobalOptions, values: dict[str, Any], keys: list[str]) -> int:
    prefix = values["prefix"]
    root = bool(values["root"])
    if root and prefix:
        raise RktError("trust: --root and --prefix are mutually exclusive")
    if not root and not prefix:
        raise RktError("trust: --prefix is required (or --root)")
    if root and not keys:
        raise RktError("trust: --root needs a key file or URL")
    from pyrkt.image.errors import ImageError
    from pyrkt.image.trust import TrustStore, inspect_key

    allow_http = bool(values["insecure_allow_http"])
    if not keys:
        from pyrkt.image.discovery import discover

        try:
            eps = discover(str(prefix), {}, allow_http=allow_http or opts.insecure("http"), verify_tls=not opts.insecure("tls"))
        except ImageError as exc:
            raise RktError(f"trust: {exc}") from None
        keys = eps.keys
        if not keys:
            raise RktError(f"trust: no keys found by discovery for prefix {prefix!r}")
    store = TrustStore(opts.local_config, opts.system_config, opts.user_config)
    for source in keys:
        data = _read_key(source, opts, allow_http)
        try:
            info = inspect_key(data)
        except ImageError as exc:
            raise RktError(f"trust: {source}: {exc}") from None
        if prefix:
            print(f'Prefix: "{prefix}"', file=sys.stderr)
        print(f'Key: "{source}"', file=sys.stderr)
        print(f"GPG key fingerprint is: {_fingerprint_text(info.fingerprint)}", file=sys.stderr)
        for uid in info.uids:
            print(f"\t{uid}", file=sys.stderr)
        if not values["skip_fingerprint_review"]:
            print("Are you sure you want to trust this key (yes/no)?", file=sys.stderr)
            answer = sys.stdin.readline().strip().lower()
            if answer not in ("y", "yes"):
                raise RktError("trust: not trusting the key")
        try:
            info, path = store.add_key(data, prefix=None if root else str(prefix), root=root)
        except ImageError as exc:
            raise RktError(f"trust: {exc}") from None
        if root:
            print(f'Trusting "{source}" as a root key.', file=sys.stderr)
            print(f'Added root key at "{path}"', file=sys.stderr)
        else:
            print(f'Trusting "{source}" for prefix "{prefix}".', file=sys.stderr)
            print(f'Added key for prefix "{prefix}" at "{path}"', file=sys.stderr)
    return 0
