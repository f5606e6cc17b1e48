"""Content digests: `algo:hex` (OCI) and `algo-hex` (appc / rkt image IDs).

Both spellings name the same content; the store keeps blobs under
`blobs/<algo>/<hex>` and accepts either form. Hashing happens while bytes are
written (`HashingWriter`), so nothing is read twice and nothing unverified is
ever renamed into the store.
"""

from __future__ import annotations

from pyrkt.image.errors import DigestMismatch, InvalidReference
from pyrkt.records import dataclass

TYPE_CHECKING = False
if TYPE_CHECKING:
    import hashlib

ALGORITHMS = {"sha256": 64, "sha384": 96, "sha512": 128}
_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True, order=True)
class Digest:
    """A full content digest (algorithm and complete lowercase hex)."""

    algorithm: str
    hex: str

    @classmethod
    def parse(cls, text: str) -> "Digest":
        """Parse `sha256:<64 hex>` or `sha256-<64 hex>`; exact length required."""
        # `^(sha256|sha384|sha512)[:-]([0-9a-f]+)$` as re.match reads it (a trailing newline
        # passes), without importing `re` on rkt run's path
        body = text[:-1] if text.endswith("\n") else text
        algo, hx = body[:6], body[7:]
        if algo not in ALGORITHMS or body[6:7] not in (":", "-") or not hx or not _HEX.issuperset(hx):
            raise InvalidReference(f"invalid digest {text!r}: expected ALGO:HEX with ALGO one of {', '.join(ALGORITHMS)}")
        if len(hx) != ALGORITHMS[algo]:
            raise InvalidReference(f"invalid digest {text!r}: {algo} needs {ALGORITHMS[algo]} hex digits, got {len(hx)}")
        return cls(algo, hx)

    @classmethod
    def of_bytes(cls, data: bytes, algorithm: str = "sha256") -> "Digest":
        import hashlib  # here, not at import: loading OpenSSL costs ~5 ms that `rkt run` never needs

        return cls(algorithm, hashlib.new(algorithm, data).hexdigest())

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"

    @property
    def key(self) -> str:
        """The appc / rkt spelling, `sha256-<hex>`, used for IDs and tree names."""
        return f"{self.algorithm}-{self.hex}"

    def hasher(self) -> "hashlib._Hash":
        import hashlib

        return hashlib.new(self.algorithm)

    def check(self, actual_hex: str, what: str = "content") -> None:
        if actual_hex != self.hex:
            raise DigestMismatch(f"digest mismatch for {what}: expected {self}, got {self.algorithm}:{actual_hex}")


def aci_image_id(sha512_hex: str) -> str:
    """rkt's ACI image ID: `sha512-` and the first 64 hex digits of the tar's sha512."""
    return "sha512-" + sha512_hex[:64]
