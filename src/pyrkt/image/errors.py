"""Errors of the image layer.

Every failure a user can cause (a bad reference, a missing image, a tampered
blob, a refused signature) is an `ImageError` whose message is one line that
says which check failed; the CLI prints it as is and exits 254. Anything else
escaping this package is a bug.
"""

from __future__ import annotations


class ImageError(Exception):
    """A user-visible failure of the image layer (one line of text)."""


class InvalidReference(ImageError, ValueError):
    """An image reference that does not parse."""


class InvalidManifest(ImageError, ValueError):
    """A manifest or config that is not valid JSON of the expected shape."""


class NotFound(ImageError, LookupError):
    """No image (or blob) in the store matches."""


class Ambiguous(ImageError, LookupError):
    """An ID prefix or name that matches more than one image."""


class DigestMismatch(ImageError):
    """Downloaded or stored content whose hash is not the expected one."""


class UnsafeArchive(ImageError):
    """A tar member that would write outside the target or is refused."""


class SignatureError(ImageError):
    """A missing, invalid or untrusted signature."""


class FetchError(ImageError):
    """A remote or local source that could not be read."""
