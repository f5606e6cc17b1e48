"""Image references: every way a user names an image on the command line.

Parsing is pure (no I/O, no store): `parse_reference(text)` returns one of
the immutable value objects below or raises `InvalidReference` with a message
that says what is wrong and where, in the style of pypa/packaging's
`Requirement`. `str(ref)` gives the canonical spelling, and parsing it again
gives an equal object, which the property tests check.

Forms (rkt's, plus the transports skopeo and podman use):

- `sha512-<hex>` / `sha256-<hex>`  an image ID or a unique prefix of one
- `name[:version][,label=value...]` an appc name, found in the store or by discovery
- `/path`, `./path`, `file:///path`, `*.aci`  a local file (ACI, OCI archive or docker save)
- `https://...`, `http://...`       an ACI at a URL
- `docker://[registry/]repo[:tag|@digest]`  a Docker Registry v2 image
- `oci:DIR[:tag]`, `oci-archive:FILE[:tag]`, `docker-archive:FILE`  skopeo's transports
"""

from __future__ import annotations

from pyrkt.image.digest import ALGORITHMS, Digest
from pyrkt.image.errors import InvalidReference
from pyrkt.records import dataclass, field

TYPE_CHECKING = False  # typing costs ~4 ms at import; annotations are strings here anyway

DOCKER_HUB = "registry-1.docker.io"
_DOCKER_HUB_ALIASES = {"docker.io", "index.docker.io", "registry-1.docker.io"}

class _Pattern:
    """A regex compiled, and `re` imported, on first use.

    Why: `rkt run IMAGE` must not pay for `re` (~6 ms with enum, functools and
    collections) nor for compiling these patterns; the two it needs on every
    run (an image ID, an AC name) are checked without regexes below.
    """

    __slots__ = ("_source", "_compiled")

    def __init__(self, source: str) -> None:
        self._source = source
        self._compiled: re.Pattern[str] | None = None

    def match(self, text: str) -> re.Match[str] | None:
        if self._compiled is None:
            import re

            self._compiled = re.compile(self._source)
        return self._compiled.match(text)


_LOWER_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
_AC_SEPARATORS = frozenset("~-_./")
_HEX = frozenset("0123456789abcdef")


def is_ac_name(text: str) -> bool:
    """`[a-z0-9]+(?:[~\\-_./][a-z0-9]+)*` matching the WHOLE text, without `re`.

    An AC name must match whole: a trailing newline (which `re.match` with `$`
    would let through, e.g. `--name='web\\n'`) is refused.
    """
    if not text or text[0] not in _LOWER_ALNUM or text[-1] not in _LOWER_ALNUM:
        return False
    after_separator = False
    for ch in text:
        if ch in _LOWER_ALNUM:
            after_separator = False
        elif ch in _AC_SEPARATORS and not after_separator:
            after_separator = True
        else:
            return False
    return True


class _AcName:
    """`_AC_NAME_RE.match(text)` for callers that test the result's truth."""

    @staticmethod
    def match(text: str) -> bool:
        return is_ac_name(text)


def match_image_id(text: str) -> tuple[str, str] | None:
    """`^(sha256|sha512)-([0-9a-f]*)$`'s groups, as `re.match` gives them, without `re`."""
    if text.endswith("\n"):
        text = text[:-1]
    algo, dash, hx = text.partition("-")
    if not dash or algo not in ("sha256", "sha512") or not _HEX.issuperset(hx):
        return None
    return algo, hx


class _LabelValue:
    """`^[^,=\\s]+$` matching the whole text, without `re`: `rkt run name:version` checks
    a label value on every run (a trailing newline is refused, as whitespace)."""

    @staticmethod
    def match(text: str) -> bool:
        return bool(text) and not any(ch in ",=" or ch.isspace() for ch in text)


if TYPE_CHECKING:
    import re

# appc AC Identifier: lowercase alnum with ~ - _ . / as separators, not at the ends.
_AC_NAME_RE = _AcName()
_AC_NAME_CHARS = _Pattern(r"[a-z0-9~\-_./]")
_LABEL_NAME_RE = _Pattern(r"^[a-z0-9]+(?:[\-_.][a-z0-9]+)*$")
_LABEL_VALUE_RE = _LabelValue()

# docker's reference grammar, checked by hand and matching the WHOLE text: `rkt fetch
# docker://…` is timed against skopeo, and `re` (with enum) costs ~5 ms to import
_ALNUM_ANY_CASE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_DIGITS = frozenset("0123456789")
_TAG_CHARS = _ALNUM_ANY_CASE | frozenset("_.-")
_HOST_LABEL_CHARS = _ALNUM_ANY_CASE | frozenset("-")
_V6_CHARS = frozenset("0123456789abcdefABCDEF:")


def _docker_tag_ok(tag: str) -> bool:
    """`[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`."""
    return 0 < len(tag) <= 128 and (tag[0] in _ALNUM_ANY_CASE or tag[0] == "_") and _TAG_CHARS.issuperset(tag)


def _docker_component_ok(comp: str) -> bool:
    """`[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*`: alphanumeric runs joined by `.`, `_`, `__` or dashes."""
    if not comp or comp[0] not in _LOWER_ALNUM or comp[-1] not in _LOWER_ALNUM:
        return False
    sep = ""
    for ch in comp:
        if ch in _LOWER_ALNUM:
            if sep and not (sep in (".", "_", "__") or sep == "-" * len(sep)):
                return False
            sep = ""
        elif ch in "._-":
            sep += ch
        else:
            return False
    return True


def _port_ok(port: str) -> bool:
    return 0 < len(port) <= 5 and _DIGITS.issuperset(port)


def _docker_host_ok(host: str) -> bool:
    """DNS labels (alphanumeric at both ends, dashes inside) joined by dots, or `[v6]`; `:port` optional."""
    if host.startswith("["):
        addr, close, rest = host[1:].partition("]")
        return bool(close) and bool(addr) and _V6_CHARS.issuperset(addr) and (not rest or (rest[0] == ":" and _port_ok(rest[1:])))
    name, colon, port = host.partition(":")
    if colon and not _port_ok(port):
        return False
    for label in name.split("."):
        if not label or label[0] not in _ALNUM_ANY_CASE or label[-1] not in _ALNUM_ANY_CASE or not _HOST_LABEL_CHARS.issuperset(label):
            return False
    return True


@dataclass(frozen=True)
class ImageIDRef:
    """An image ID, possibly abbreviated (`sha512-` + at least 2 hex digits)."""

    algorithm: str
    prefix: str

    def __str__(self) -> str:
        return f"{self.algorithm}-{self.prefix}"

    @property
    def is_full(self) -> bool:
        return self.algorithm == "sha256" and len(self.prefix) == 64 or self.algorithm == "sha512" and len(self.prefix) >= 64


@dataclass(frozen=True)
class AppcNameRef:
    """An appc image name with labels (`version`, `os`, `arch`, ...)."""

    name: str
    labels: tuple[tuple[str, str], ...] = ()

    @property
    def version(self) -> str | None:
        return dict(self.labels).get("version")

    def __str__(self) -> str:
        labels = dict(self.labels)
        text = self.name
        version = labels.pop("version", None)
        if version is not None:
            text += f":{version}"
        for key in sorted(labels):
            text += f",{key}={labels[key]}"
        return text


@dataclass(frozen=True)
class FileRef:
    """A local file: an ACI, an OCI archive or a `docker save` tarball (sniffed when read)."""

    path: str

    def __str__(self) -> str:
        return f"file://{self.path}" if self.path.startswith("/") else self.path


@dataclass(frozen=True)
class HttpRef:
    """An ACI at an http(s) URL."""

    url: str

    @property
    def secure(self) -> bool:
        return self.url.startswith("https://")

    def __str__(self) -> str:
        return self.url


@dataclass(frozen=True)
class DockerRef:
    """A Docker Registry v2 image: registry host, repository, and a tag or digest."""

    registry: str
    repository: str
    tag: str | None = None
    digest: Digest | None = None

    @property
    def reference(self) -> str:
        """What goes after `/manifests/` in the registry API."""
        if self.digest is not None:
            return str(self.digest)
        return self.tag or "latest"

    @property
    def name(self) -> str:
        """The appc-style image name docker2aci gave such images: `registry/repo`."""
        return f"{self.registry}/{self.repository}"

    def __str__(self) -> str:
        text = f"docker://{self.registry}/{self.repository}"
        if self.tag is not None:
            text += f":{self.tag}"
        if self.digest is not None:
            text += f"@{self.digest}"
        return text


@dataclass(frozen=True)
class OciLayoutRef:
    """An OCI image layout directory (`oci:DIR[:tag]`) or archive (`oci-archive:FILE[:tag]`)."""

    path: str
    tag: str | None = None
    archive: bool = False

    def __str__(self) -> str:
        text = ("oci-archive:" if self.archive else "oci:") + self.path
        return text + (f":{self.tag}" if self.tag is not None else "")


@dataclass(frozen=True)
class DockerArchiveRef:
    """A `docker save` tarball (`docker-archive:FILE[:repo:tag]`)."""

    path: str
    tag: str | None = None

    def __str__(self) -> str:
        return "docker-archive:" + self.path + (f":{self.tag}" if self.tag is not None else "")


if TYPE_CHECKING:
    from typing import Union

    ImageReference = Union[ImageIDRef, AppcNameRef, FileRef, HttpRef, DockerRef, OciLayoutRef, DockerArchiveRef]


def _fail(text: str, why: str) -> InvalidReference:
    return InvalidReference(f"invalid image reference {text!r}: {why}")


def parse_image_id(text: str) -> ImageIDRef:
    m = match_image_id(text)
    if not m:
        raise _fail(text, "an image ID is sha512-HEX or sha256-HEX in lowercase")
    algo, hx = m
    if len(hx) < 2:
        raise _fail(text, f"an image ID needs at least 2 hex digits after {algo}-")
    if len(hx) > ALGORITHMS[algo]:
        raise _fail(text, f"{algo} has at most {ALGORITHMS[algo]} hex digits")
    return ImageIDRef(algo, hx)


def validate_ac_name(name: str, text: str | None = None) -> str:
    """Check an appc AC Identifier and say which character is wrong."""
    text = name if text is None else text
    if not name:
        raise _fail(text, "empty image name")
    if not _AC_NAME_RE.match(name):
        for i, ch in enumerate(name):
            if not _AC_NAME_CHARS.match(ch):
                raise _fail(text, f"character {ch!r} at position {i} is not allowed in an image name (lowercase letters, digits, and ~-_./ separators)")
        raise _fail(text, "an image name must start and end with a letter or digit and not repeat separators")
    return name


def parse_appc_name(text: str) -> AppcNameRef:
    """`name[:version][,label=value...]`."""
    head, *label_parts = text.split(",")
    labels: dict[str, str] = {}
    name, colon, version = head.partition(":")
    validate_ac_name(name, text)
    if colon:
        if not version or not _LABEL_VALUE_RE.match(version):
            raise _fail(text, "empty or malformed version after ':'")
        labels["version"] = version
    for part in label_parts:
        key, eq, value = part.partition("=")
        if not eq or not _LABEL_NAME_RE.match(key) or not value or not _LABEL_VALUE_RE.match(value):
            raise _fail(text, f"label {part!r} is not NAME=VALUE")
        if key in labels:
            raise _fail(text, f"label {key!r} given twice")
        labels[key] = value
    return AppcNameRef(name, tuple(sorted(labels.items())))


def parse_docker(text: str) -> DockerRef:
    """Parse `docker://[registry/]repo[:tag][@digest]` the way docker normalises names."""
    rest = text[len("docker://"):] if text.startswith("docker://") else text
    if not rest:
        raise _fail(text, "empty docker reference")
    digest: Digest | None = None
    if "@" in rest:
        rest, _, dig = rest.partition("@")
        try:
            digest = Digest.parse(dig)
        except InvalidReference as exc:
            raise _fail(text, str(exc)) from None
    tag: str | None = None
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > slash:
        rest, tag = rest[:colon], rest[colon + 1:]
        if not _docker_tag_ok(tag):
            raise _fail(text, f"invalid tag {tag!r}")
    parts = rest.split("/")
    first = parts[0]
    if len(parts) > 1 and ("." in first or ":" in first or first == "localhost" or first.startswith("[")):
        registry, repo_parts = first, parts[1:]
        if not _docker_host_ok(registry):
            raise _fail(text, f"invalid registry host {registry!r}")
    else:
        registry, repo_parts = DOCKER_HUB, parts
    if registry in _DOCKER_HUB_ALIASES:
        registry = DOCKER_HUB
        if len(repo_parts) == 1:
            repo_parts = ["library", *repo_parts]
    for comp in repo_parts:
        if not _docker_component_ok(comp):
            raise _fail(text, f"invalid repository component {comp!r} (lowercase letters, digits, and . _ __ - separators)")
    repository = "/".join(repo_parts)
    if tag is None and digest is None:
        tag = "latest"
    if len(repository) > 255:
        raise _fail(text, "repository name longer than 255 characters")
    return DockerRef(registry, repository, tag, digest)


def _split_transport_tag(body: str) -> tuple[str, str | None]:
    # oci:/some/dir:tag — the tag is after the last ':' if it has no '/'.
    path, colon, tag = body.rpartition(":")
    if colon and path and "/" not in tag:
        return path, tag
    return body, None


def parse_reference(text: str) -> ImageReference:
    """Parse any image reference rkt accepts; see the module docstring."""
    if not text or text.strip() != text:
        raise _fail(text, "empty or surrounded by whitespace")
    if "\x00" in text:
        raise _fail(text, "contains a NUL byte")
    if text.startswith("docker://"):
        return parse_docker(text)
    if text.startswith(("https://", "http://")):
        if len(text.split("://", 1)[1]) == 0:
            raise _fail(text, "URL without a host")
        return HttpRef(text)
    if text.startswith("file://"):
        path = text[len("file://"):]
        if not path:
            raise _fail(text, "file:// without a path")
        return FileRef(path)
    for prefix, archive in (("oci-archive:", True), ("oci:", False)):
        if text.startswith(prefix):
            path, tag = _split_transport_tag(text[len(prefix):])
            if not path:
                raise _fail(text, f"{prefix} without a path")
            if tag is not None and not _docker_tag_ok(tag):
                raise _fail(text, f"invalid tag {tag!r}")
            return OciLayoutRef(path, tag, archive)
    if text.startswith("docker-archive:"):
        body = text[len("docker-archive:"):]
        if not body:
            raise _fail(text, "docker-archive: without a path")
        path, _, tag = body.partition(":")
        return DockerArchiveRef(path, tag or None)
    if "://" in text:
        raise _fail(text, f"unsupported transport {text.split('://', 1)[0]!r} (use docker://, https://, http://, file://)")
    if text.startswith(("/", "./", "../")) or text in (".", "..") or text.endswith((".aci", ".tar", ".tar.gz", ".tgz")):
        return FileRef(text)
    if match_image_id(text.split(",")[0]) and "," not in text:
        return parse_image_id(text)
    return parse_appc_name(text)
