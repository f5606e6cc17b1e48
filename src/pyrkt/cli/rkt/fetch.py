"""`rkt fetch IMAGE...`: fetch images into the store and print their IDs.

Only argument parsing and output here; the work is `pyrkt.image.fetch`.
IDs go to stdout, one per image, progress and messages to stderr.
"""

from __future__ import annotations

import sys

from pyrkt.cli.args import Flag
from pyrkt.cli.rkt._imagecli import one_line_errors
from pyrkt.cli.rkt.common import GlobalOptions, RktError, command

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

USAGE = """Usage: rkt fetch IMAGE_URL...

Fetch image(s) and store them in the local store; prints each image's ID.

Flags:
  --pull-policy=update   new: use the store if it has the image; update: check the source; never: store only
  --signature=FILE       local signature file (one per image, in order)
  --full                 print the full image ID
"""

FLAGS = (
    Flag("pull-policy", takes_value=True, default="update"),
    Flag("signature", takes_value=True, repeat=True),
    Flag("full"),
)


def fetch_options(opts: GlobalOptions, pull_policy: str, signature: str | None = None):  # type: ignore[no-untyped-def]
    from pyrkt.image.fetch import FetchOptions

    def log(msg: str) -> None:
        print(f"rkt: {msg}", file=sys.stderr)

    return FetchOptions(pull_policy=pull_policy, insecure=opts.insecure_options, signature=signature,
                        local_config=opts.local_config, system_config=opts.system_config, user_config=opts.user_config,
                        trust_keys_from_https=opts.trust_keys_from_https, progress=sys.stderr.isatty(), log=log)


def short_id(image_id: str, full: bool, digits: int = 32) -> str:
    if full:
        return image_id
    algo, _, hx = image_id.partition("-")
    return f"{algo}-{hx[:digits]}"


@command(FLAGS, USAGE, one_line_errors)
def main(opts: GlobalOptions, values: dict[str, Any], images: list[str]) -> int:
    if not images:
        raise RktError("fetch: at least one image is needed")
    policy = str(values["pull_policy"])
    sigs: list[str] = values["signature"]
    if len(sigs) > len(images):
        raise RktError("fetch: more --signature flags than images")
    from pyrkt.image.errors import ImageError
    from pyrkt.image.fetch import PULL_POLICIES, Fetcher
    from pyrkt.image.store import Store

    if policy not in PULL_POLICIES:
        raise RktError(f"invalid pull policy {policy!r}: expected one of {', '.join(PULL_POLICIES)}")
    store = Store(opts.dir)
    try:
        for i, image in enumerate(images):
            fetcher = Fetcher(store, fetch_options(opts, policy, sigs[i] if i < len(sigs) else None))
            try:
                image_id = fetcher.fetch(image)
            except ImageError as exc:
                raise RktError(f"fetch: {exc}") from None
            print(short_id(image_id, bool(values["full"])), flush=True)
    finally:
        store.close()
    return 0
