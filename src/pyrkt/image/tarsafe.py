"""Unpacking untrusted tar layers without ever writing outside the target.

Image layers come from the network. A hostile layer can try to escape the
target with `..`, absolute names, a symlink followed by a write through it,
a hard link to a host file, or a device node. The stdlib `data` filter is not
the answer: it drops setuid bits and refuses absolute symlinks, both of
which real images need. So every member's path is resolved *inside the root*
the way a chroot would (symlinks in parent components are followed, absolute
link targets restart at the root, `..` stops at the root), the final
component is never followed (a symlink there is replaced, not written
through), files are opened with O_NOFOLLOW|O_EXCL after unlinking, and
hard links must point at something already inside the root.

Two whiteout modes:
- `overlay`: the layer is unpacked alone into its own tree that will be an
  overlayfs lowerdir; `.wh.NAME` becomes a 0:0 character device and
  `.wh..wh..opq` sets `trusted.overlay.opaque=y` on the directory, which is
  how overlayfs itself spells them (needs root).
- `flatten`: layers are applied in order onto one tree (`rkt image render`,
  `extract`, ACIs); a whiteout deletes what lower layers put there.

Ownership, modes including setuid/setgid/sticky, mtimes, xattrs and hard links
are kept. Device nodes are refused unless running as root.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import tarfile
from dataclasses import dataclass, field
from typing import IO, Callable, Iterable

from pyrkt.image.errors import UnsafeArchive

WHITEOUT_PREFIX = ".wh."
OPAQUE = ".wh..wh..opq"
_MAX_LINK_HOPS = 40
_CHUNK = 1 << 20


def _is_root() -> bool:
    return os.geteuid() == 0


@dataclass
class ExtractStats:
    files: int = 0
    dirs: int = 0
    links: int = 0
    whiteouts: int = 0
    bytes: int = 0


def split_member_name(name: str) -> list[str]:
    """The components of a member name; refuses absolute names and `..`."""
    if name.startswith("/"):
        raise UnsafeArchive(f"archive member {name!r} has an absolute path")
    if "\x00" in name:
        raise UnsafeArchive(f"archive member {name!r} contains a NUL byte")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchive(f"archive member {name!r} contains '..'")
    return parts


class SafeExtractor:
    """Applies tar members onto `root`, resolving every path inside it."""

    def __init__(self, root: str, whiteouts: str = "flatten", strip_prefix: str | None = None,
                 path_whitelist: Iterable[str] | None = None) -> None:
        if whiteouts not in ("flatten", "overlay", "keep"):
            raise ValueError(whiteouts)
        self.root = os.path.abspath(root)
        self.mode = whiteouts
        self.strip = [p for p in (strip_prefix or "").split("/") if p]
        self.whitelist = None if path_whitelist is None else {"/" + "/".join(split_member_name(p.lstrip("/"))) for p in path_whitelist}
        self.as_root = _is_root()
        self.stats = ExtractStats()
        self._dir_meta: dict[str, tarfile.TarInfo] = {}
        self._written: set[str] = set()
        os.makedirs(self.root, exist_ok=True)

    # -- path resolution -------------------------------------------------
    def _abs(self, parts: list[str]) -> str:
        return os.path.join(self.root, *parts) if parts else self.root

    def resolve(self, parts: list[str], follow_last: bool = False) -> list[str]:
        """Resolve components inside the root; returns the real components."""
        out: list[str] = []
        todo = list(parts)
        hops = 0
        missing = False
        while todo:
            comp = todo.pop(0)
            if comp in ("", "."):
                continue
            if comp == "..":
                if out:
                    out.pop()
                continue
            if missing:
                out.append(comp)
                continue
            path = self._abs(out + [comp])
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                missing = True
                out.append(comp)
                continue
            if stat.S_ISLNK(st.st_mode) and (todo or follow_last):
                hops += 1
                if hops > _MAX_LINK_HOPS:
                    raise UnsafeArchive(f"too many levels of symbolic links at {'/'.join(parts)!r}")
                target = os.readlink(path)
                if target.startswith("/"):
                    out = []
                todo = target.split("/") + todo
                continue
            out.append(comp)
        return out

    def _ensure_parent(self, parts: list[str], name: str) -> None:
        cur: list[str] = []
        for comp in parts:
            cur.append(comp)
            path = self._abs(cur)
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                os.mkdir(path, 0o755)
                continue
            if not stat.S_ISDIR(st.st_mode):
                raise UnsafeArchive(f"archive member {name!r}: parent {'/'.join(cur)!r} is not a directory")

    def _remove(self, path: str) -> None:
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(st.st_mode):
            shutil.rmtree(path)
        else:
            os.unlink(path)

    # -- metadata --------------------------------------------------------
    def _apply_meta(self, path: str, info: tarfile.TarInfo, is_link: bool = False) -> None:
        if self.as_root:
            try:
                os.chown(path, info.uid, info.gid, follow_symlinks=False)
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.EINVAL):
                    raise
        for key, value in (info.pax_headers or {}).items():
            if key.startswith("SCHILY.xattr."):
                attr = key[len("SCHILY.xattr."):]
                try:
                    os.setxattr(path, attr, value.encode("utf-8", "surrogateescape"), follow_symlinks=False)
                except OSError:
                    pass  # filesystems without xattrs, or trusted.* as non-root: not fatal
        if not is_link:
            os.chmod(path, info.mode & 0o7777)  # after chown: chown clears setuid
        try:
            os.utime(path, (info.mtime, info.mtime), follow_symlinks=False)
        except OSError:
            pass

    # -- members ---------------------------------------------------------
    def _rel(self, info: tarfile.TarInfo) -> list[str] | None:
        parts = split_member_name(info.name)
        if self.strip:
            if parts[: len(self.strip)] != self.strip:
                return None
            parts = parts[len(self.strip):]
        return parts

    def _allowed(self, parts: list[str], is_dir: bool) -> bool:
        if self.whitelist is None or is_dir:
            return True
        return "/" + "/".join(parts) in self.whitelist

    def add(self, info: tarfile.TarInfo, fileobj: IO[bytes] | None) -> None:
        parts = self._rel(info)
        if parts is None:
            return
        if not parts:
            if info.isdir():
                self._dir_meta[""] = info
            return
        base = parts[-1]
        if base.startswith(WHITEOUT_PREFIX) and self.mode != "keep":
            self._whiteout(parts, info)
            return
        if not self._allowed(parts, info.isdir()):
            return
        real = self.resolve(parts, follow_last=False)
        if not real:
            return
        parent, leaf = real[:-1], real[-1]
        self._ensure_parent(parent, info.name)
        path = self._abs(real)
        key = "/".join(real)
        self._written.add(key)
        if info.isdir():
            try:
                st = os.lstat(path)
                if not stat.S_ISDIR(st.st_mode):
                    os.unlink(path)
                    os.mkdir(path, 0o700)
            except FileNotFoundError:
                os.mkdir(path, 0o700)
            if self.as_root:
                os.chown(path, info.uid, info.gid, follow_symlinks=False)
            self._dir_meta[key] = info
            self.stats.dirs += 1
            return
        self._remove(path)
        if info.isreg():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            writing = False  # a write error (ENOSPC) names the file; a read error is the archive's
            try:
                with os.fdopen(fd, "wb") as out:
                    if fileobj is not None:
                        while True:
                            chunk = fileobj.read(_CHUNK)
                            if not chunk:
                                break
                            writing = True
                            out.write(chunk)
                            writing = False
                            self.stats.bytes += len(chunk)
                    writing = True  # the close flushes
            except OSError as exc:
                if writing:
                    from pyrkt.ioerr import named

                    raise named(exc, path) from None
                raise
            self._apply_meta(path, info)
            self.stats.files += 1
        elif info.issym():
            os.symlink(info.linkname, path)
            self._apply_meta(path, info, is_link=True)
            self.stats.links += 1
        elif info.islnk():
            lparts = self._rel_link(info)
            target_real = self.resolve(lparts, follow_last=False)
            src = self._abs(target_real)
            try:
                st = os.lstat(src)
            except FileNotFoundError:
                raise UnsafeArchive(f"archive member {info.name!r}: hard link target {info.linkname!r} is not in the archive") from None
            if stat.S_ISDIR(st.st_mode) or not target_real:
                raise UnsafeArchive(f"archive member {info.name!r}: hard link to a directory")
            os.link(src, path, follow_symlinks=False)
            self.stats.links += 1
        elif info.ischr() or info.isblk():
            if not self.as_root:
                raise UnsafeArchive(f"archive member {info.name!r} is a device node, refused when not running as root")
            kind = stat.S_IFCHR if info.ischr() else stat.S_IFBLK
            os.mknod(path, kind | (info.mode & 0o777), os.makedev(info.devmajor, info.devminor))
            self._apply_meta(path, info)
        elif info.isfifo():
            os.mkfifo(path, info.mode & 0o777)
            self._apply_meta(path, info)
        else:
            raise UnsafeArchive(f"archive member {info.name!r} has an unsupported type {info.type!r}")

    def _rel_link(self, info: tarfile.TarInfo) -> list[str]:
        parts = split_member_name(info.linkname)
        if self.strip and parts[: len(self.strip)] == self.strip:
            parts = parts[len(self.strip):]
        return parts

    def _whiteout(self, parts: list[str], info: tarfile.TarInfo) -> None:
        self.stats.whiteouts += 1
        real_parent = self.resolve(parts[:-1], follow_last=True)
        self._ensure_parent(real_parent, info.name)
        pdir = self._abs(real_parent)
        base = parts[-1]
        prefix = "/".join(real_parent)
        if base == OPAQUE:
            if self.mode == "overlay":
                if not self.as_root:
                    raise UnsafeArchive("rendering an opaque whiteout for overlayfs needs root")
                os.setxattr(pdir, "trusted.overlay.opaque", b"y")
            else:
                for child in os.listdir(pdir):
                    key = f"{prefix}/{child}" if prefix else child
                    if key not in self._written:
                        self._remove(os.path.join(pdir, child))
            return
        victim = base[len(WHITEOUT_PREFIX):]
        if not victim or victim in (".", "..") or "/" in victim:
            raise UnsafeArchive(f"archive member {info.name!r} is a malformed whiteout")
        path = os.path.join(pdir, victim)
        if self.mode == "overlay":
            if not self.as_root:
                raise UnsafeArchive("rendering a whiteout for overlayfs needs root")
            self._remove(path)
            os.mknod(path, stat.S_IFCHR | 0o000, os.makedev(0, 0))
        else:
            key = f"{prefix}/{victim}" if prefix else victim
            if key not in self._written:
                self._remove(path)

    def finish(self) -> None:
        """Apply directory modes and times last (deepest first), so writing into them worked."""
        for key in sorted(self._dir_meta, key=lambda k: -k.count("/") - (1 if k else 0)):
            info = self._dir_meta[key]
            path = self._abs(key.split("/")) if key else self.root
            if os.path.islink(path) or not os.path.isdir(path):
                continue
            self._apply_meta(path, info)


ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def _zstd_aware(fileobj: IO[bytes]) -> IO[bytes]:
    """`fileobj`, or a decompressing reader over it when it holds zstd data.

    tarfile knows gzip, bzip2 and xz but not zstd, which OCI images may use
    (`tar+zstd` layers, as podman and buildkit can push). The `zstandard`
    binding is imported only for such a layer.
    """
    if not fileobj.seekable():
        return fileobj
    head = fileobj.read(4)
    fileobj.seek(-len(head), os.SEEK_CUR)
    if head != ZSTD_MAGIC:
        return fileobj
    try:
        import zstandard
    except ImportError:
        raise UnsafeArchive("zstd-compressed layer, but the 'zstandard' package is not installed") from None
    return zstandard.ZstdDecompressor().stream_reader(fileobj, read_across_frames=True)


class _CheckedInfo(tarfile.TarInfo):
    """A TarInfo whose reader refuses what tarfile takes for the end of the archive.

    tarfile's `next()` ends the member list silently at a bad header, a header
    cut short, or the end of the data without the two zero blocks that end a
    tar: a garbled or truncated layer would unpack into an incomplete tree
    that every later run trusts. Only a zero block (the real end) ends it here.
    """

    @classmethod
    def fromtarfile(cls, tarfile_: tarfile.TarFile) -> "_CheckedInfo":
        try:
            return super().fromtarfile(tarfile_)
        except tarfile.EOFHeaderError:  # type: ignore[attr-defined]
            raise  # a zero block: the end of the archive
        except tarfile.EmptyHeaderError:  # type: ignore[attr-defined]
            if tarfile_.offset == 0:
                raise
            raise tarfile.ReadError(f"archive ends early at offset {tarfile_.offset} (no end-of-archive blocks)") from None
        except tarfile.HeaderError as exc:
            if tarfile_.offset == 0:
                raise
            raise tarfile.ReadError(f"bad header at offset {tarfile_.offset}: {exc}") from None


def extract_tar(fileobj: IO[bytes], root: str, whiteouts: str = "flatten", strip_prefix: str | None = None,
                path_whitelist: Iterable[str] | None = None, on_member: Callable[[tarfile.TarInfo], None] | None = None) -> ExtractStats:
    """Stream a (possibly compressed) tar from `fileobj` safely onto `root`."""
    ex = SafeExtractor(root, whiteouts, strip_prefix, path_whitelist)
    try:
        with tarfile.open(fileobj=_zstd_aware(fileobj), mode="r|*", tarinfo=_CheckedInfo) as tar:
            for info in tar:
                if on_member:
                    on_member(info)
                ex.add(info, tar.extractfile(info) if info.isreg() else None)
    except (tarfile.TarError, EOFError) as exc:  # EOFError: a compressed stream cut short
        raise UnsafeArchive(f"corrupt archive: {exc or 'compressed data ends early'}") from None
    except (OSError, ValueError) as exc:
        if isinstance(exc, OSError) and exc.filename is not None:
            raise  # writing the tree failed (ENOSPC, EROFS): that error, not a corrupt archive
        raise UnsafeArchive(f"corrupt archive: {exc}") from None  # bz2/lzma data errors, bad numbers
    except Exception as exc:
        if type(exc).__module__.startswith("zstandard"):  # ZstdError: corrupt or truncated zstd data
            raise UnsafeArchive(f"corrupt archive: zstd: {exc}") from None
        raise
    ex.finish()
    return ex.stats
