"""pyrkt.image: image references, manifests, the store, fetchers, trust and gc.

The pod code needs two calls:

    from pyrkt.image import open_store, runnable_image
    store = open_store("/var/lib/rkt")
    img = runnable_image(store, "sha512-…" or "sha256-…" or "name:version")
    img.app          # appc App: exec, environment, user, group, working_directory, ports, mount_points
    img.lowerdirs    # rendered layer dirs, bottom first (img.overlay_lowerdir is the overlay option string)

and, to fetch what is missing, `fetch_image(store, "docker://…", FetchOptions(...))`.
Submodules are imported lazily so `import pyrkt.image` stays cheap.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing's: importing typing costs ~4 ms on every `rkt run`
if TYPE_CHECKING:
    from typing import Any

    from pyrkt.image.fetch import FetchOptions
    from pyrkt.image.render import RunnableImage
    from pyrkt.image.store import Store

__all__ = ["open_store", "runnable_image", "fetch_image", "ImageError"]

from pyrkt.image.errors import ImageError  # noqa: E402  (tiny, no dependencies)


def open_store(data_dir: str = "/var/lib/rkt") -> "Store":
    """The image store under `data_dir` (created if needed)."""
    from pyrkt.image.store import Store

    return Store(data_dir)


def runnable_image(store: "Store", image: str) -> "RunnableImage":
    """An image's app and its rendered layer dirs (bottom first), rendering on first use."""
    from pyrkt.image.render import runnable_image as _runnable

    return _runnable(store, image)


def fetch_image(store: "Store", reference: str, options: "FetchOptions | None" = None) -> str:
    """Fetch an image into the store (pull policy in `options`); returns its ID."""
    from pyrkt.image.fetch import Fetcher

    return Fetcher(store, options).fetch(reference)


def __getattr__(name: str) -> "Any":
    if name in ("FetchOptions", "Fetcher"):
        from pyrkt.image import fetch

        return getattr(fetch, name)
    if name == "RunnableImage":
        from pyrkt.image.render import RunnableImage

        return RunnableImage
    raise AttributeError(name)
