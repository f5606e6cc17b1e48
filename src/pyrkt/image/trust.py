"""Trusted keys and detached signature checks, with gnupg doing the OpenPGP.

Keys live where rkt put them: `<config>/trustedkeys/prefix.d/<prefix>/<fingerprint>`
(trusted for images whose name starts with the prefix, by path components)
and `<config>/trustedkeys/root.d/<fingerprint>` (trusted for every image).
Both the system config (`/usr/lib/rkt`, shipped by a distribution), the local
config (`/etc/rkt`, the admin's) and the user config are read; an empty file
in the local config with the same path disables a system key, as in rkt.

Verification builds a throwaway keyring from exactly the keys trusted for the
image's name and runs `gpgv` on the detached signature, so gpg's own trust
database and the invoking user's keyrings never matter. OpenPGP is gnupg's
job: no packet parsing here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass

from pyrkt.image.errors import ImageError, SignatureError
from pyrkt.image.reference import _AC_NAME_RE
from pyrkt.image.store import atomic_write


@dataclass(frozen=True)
class KeyInfo:
    fingerprint: str
    uids: tuple[str, ...]


def _gpg_env(home: str) -> dict[str, str]:
    env = dict(os.environ)
    env["GNUPGHOME"] = home
    env["LC_ALL"] = "C"
    return env


def inspect_key(armored: bytes) -> KeyInfo:
    """Fingerprint and user IDs of the (first) public key in `armored`, via gpg."""
    if shutil.which("gpg") is None:
        raise ImageError("gpg is not installed (Debian package gnupg)")
    home = tempfile.mkdtemp(prefix="pyrkt-gpg-")
    try:
        res = subprocess.run(["gpg", "--batch", "--no-tty", "--with-colons", "--import-options", "show-only", "--import"],
                             input=armored, capture_output=True, env=_gpg_env(home), timeout=60)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    fpr = None
    uids: list[str] = []
    in_pub = False
    for line in res.stdout.decode(errors="replace").splitlines():
        fields = line.split(":")
        if fields[0] == "pub":
            if fpr is not None:
                break
            in_pub = True
        elif fields[0] == "sub":
            in_pub = False
        elif fields[0] == "fpr" and in_pub and fpr is None:
            fpr = fields[9].lower()
        elif fields[0] == "uid" and len(fields) > 9:
            uids.append(fields[9])
    if fpr is None:
        raise ImageError("not an OpenPGP public key" + (f": {res.stderr.decode(errors='replace').strip().splitlines()[-1]}" if res.stderr.strip() else ""))
    return KeyInfo(fpr, tuple(uids))


def _check_prefix(prefix: str) -> str:
    prefix = prefix.strip("/")
    if not prefix or not _AC_NAME_RE.match(prefix) or ".." in prefix.split("/"):
        raise ImageError(f"invalid prefix {prefix!r}: it must be an image name prefix like example.com/app")
    return prefix


class TrustStore:
    """The trusted keys of the system, local and user config directories."""

    def __init__(self, local_config: str = "/etc/rkt", system_config: str = "/usr/lib/rkt", user_config: str = "") -> None:
        self.local = local_config
        self.dirs = [d for d in (system_config, local_config, user_config) if d]

    def add_key(self, armored: bytes, prefix: str | None = None, root: bool = False, config_dir: str | None = None) -> tuple[KeyInfo, str]:
        """Store a key for `prefix` (or as a root key); returns the key and where it went."""
        info = inspect_key(armored)
        base = os.path.join(config_dir or self.local, "trustedkeys")
        if root:
            d = os.path.join(base, "root.d")
        else:
            if prefix is None:
                raise ImageError("a prefix is needed (--prefix), or --root")
            d = os.path.join(base, "prefix.d", _check_prefix(prefix))
        os.makedirs(d, mode=0o755, exist_ok=True)
        path = os.path.join(d, info.fingerprint)
        atomic_write(path, armored, 0o644)
        return info, path

    def keys_for(self, name: str) -> list[str]:
        """Key files trusted for an image name: root keys and keys of every path prefix."""
        prefixes: list[str] = []
        parts = name.split("/")
        for i in range(1, len(parts) + 1):
            prefixes.append("/".join(parts[:i]))
        found: dict[str, str] = {}
        for d in self.dirs:  # later dirs override earlier ones; an empty file disables
            base = os.path.join(d, "trustedkeys")
            cands = [os.path.join(base, "root.d")] + [os.path.join(base, "prefix.d", p) for p in prefixes]
            for cdir in cands:
                if not os.path.isdir(cdir):
                    continue
                for fpr in sorted(os.listdir(cdir)):
                    path = os.path.join(cdir, fpr)
                    rel = os.path.relpath(path, base)
                    if os.path.isfile(path):
                        found[rel] = path
        return [p for p in found.values() if os.path.getsize(p) > 0]

    def verify(self, name: str, data_path: str, sig_path: str) -> str:
        """Check a detached signature over `data_path`; returns the signer's fingerprint."""
        keys = self.keys_for(name)
        if not keys:
            raise SignatureError(f"signature check failed for {name}: no trusted key for any prefix of {name!r} (use rkt trust --prefix={name})")
        if shutil.which("gpgv") is None or shutil.which("gpg") is None:
            raise ImageError("gpgv is not installed (Debian package gpgv)")
        home = tempfile.mkdtemp(prefix="pyrkt-gpg-")
        try:
            ring = os.path.join(home, "trusted.gpg")
            with open(ring, "wb") as out:
                for key in keys:
                    with open(key, "rb") as f:
                        res = subprocess.run(["gpg", "--batch", "--no-tty", "--dearmor"], stdin=f, capture_output=True, env=_gpg_env(home), timeout=60)
                    if res.returncode == 0:
                        out.write(res.stdout)
            res = subprocess.run(["gpgv", "--status-fd", "1", "--keyring", ring, sig_path, data_path],
                                 capture_output=True, env=_gpg_env(home), timeout=300)
        finally:
            shutil.rmtree(home, ignore_errors=True)
        status = res.stdout.decode(errors="replace").splitlines()
        tokens = {line.split()[1]: line for line in status if line.startswith("[GNUPG:] ") and len(line.split()) > 1}
        if "VALIDSIG" in tokens and "GOODSIG" in tokens and res.returncode == 0:
            return tokens["VALIDSIG"].split()[2].lower()
        if "BADSIG" in tokens:
            raise SignatureError(f"signature check failed for {name}: bad signature (the image or its signature was modified)")
        if "NO_PUBKEY" in tokens or "ERRSIG" in tokens:
            raise SignatureError(f"signature check failed for {name}: signed by a key that is not trusted for {name!r}")
        if "NODATA" in tokens or not status:
            raise SignatureError(f"signature check failed for {name}: the signature file is not an OpenPGP signature")
        raise SignatureError(f"signature check failed for {name}: {res.stderr.decode(errors='replace').strip().splitlines()[-1] if res.stderr.strip() else 'gpgv failed'}")
