"""What `rkt run`/`rkt prepare` ask for, as typed values, and the parser of each value.

`PodSpec` (the pod) and `AppSpec` (one image and its per-app settings), with
their parts `Volume`, `Mount`, `Seccomp`, are the pod layer's input. Each value
has its parser here (`parse_volume`, `parse_mount`, `parse_cpu`, …): what a
volume or a CPU quantity is belongs to the pod layer. Which flag sets which
value, where a flag may stand and how it repeats is the command line's
business: the flag table in `pyrkt.cli.rkt.podargs`.
Nothing here touches the system: every error is a `GrammarError` with one line.
"""

from __future__ import annotations

from pyrkt.image.reference import is_ac_name
from pyrkt.records import dataclass, field

# `re` is imported by the few parsers that need it: rkt run's common path needs none,
# and importing re (with enum, functools, collections) costs ~6 ms of every run

class GrammarError(ValueError):
    """A bad command line; the message is one line."""


def parse_bool(text: str, what: str) -> bool:
    """A BOOL value (pyrkt.strconv's spelling); GrammarError if it is none."""
    from pyrkt.strconv import parse_bool as strconv_bool  # when a boolean is given: rarely on rkt run's path

    return strconv_bool(text, what, GrammarError)


def check_ac_name(name: str, what: str) -> str:
    """`^[a-z0-9]+([-._~/][a-z0-9]+)*$` (appc's AC identifier), checked without `re`."""
    if not name:
        raise GrammarError(f"{what}: empty name")
    if not is_ac_name(name):
        raise GrammarError(f"{what}: {name!r} is not a valid name (lower case letters, digits and -._~/)")
    return name


# -- volumes and mounts ---------------------------------------------------

@dataclass(frozen=True)
class Volume:
    name: str
    kind: str  # host | empty
    source: str = ""
    read_only: bool | None = None
    recursive: bool | None = None
    mode: str = "0755"
    uid: int = 0
    gid: int = 0

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"name": self.name, "kind": self.kind}
        if self.kind == "host":
            out["source"] = self.source
        if self.read_only is not None:
            out["readOnly"] = self.read_only
        if self.recursive is not None:
            out["recursive"] = self.recursive
        if self.kind == "empty":
            out.update(mode=self.mode, uid=self.uid, gid=self.gid)
        return out

    @classmethod
    def from_json(cls, obj: dict[str, object]) -> "Volume":
        return cls(str(obj["name"]), str(obj["kind"]), str(obj.get("source", "")),
                   obj.get("readOnly"), obj.get("recursive"),  # type: ignore[arg-type]
                   str(obj.get("mode", "0755")), int(obj.get("uid", 0)), int(obj.get("gid", 0)))  # type: ignore[call-overload]


def _kv_items(text: str, what: str) -> list[tuple[str, str]]:
    items = []
    for part in text.split(","):
        key, eq, value = part.partition("=")
        if not eq:
            raise GrammarError(f"{what}: {part!r} is not KEY=VALUE")
        items.append((key.strip(), value))
    return items


def parse_volume(text: str) -> Volume:
    """`NAME,kind=host,source=PATH[,readOnly=BOOL][,recursive=BOOL]` or `NAME,kind=empty[,mode=…][,uid=…][,gid=…]`."""
    name, _, rest = text.partition(",")
    if "=" in name:
        raise GrammarError(f"--volume {text!r}: the volume name must come first")
    check_ac_name(name, "--volume")
    if not rest:
        raise GrammarError(f"--volume {text!r}: missing kind=host or kind=empty")
    fields: dict[str, str] = {}
    for key, value in _kv_items(rest, f"--volume {text!r}"):
        if key in fields:
            raise GrammarError(f"--volume {text!r}: {key} given twice")
        fields[key] = value
    kind = fields.pop("kind", "")
    if kind not in ("host", "empty"):
        raise GrammarError(f"--volume {text!r}: kind must be host or empty, not {kind!r}")
    allowed = {"host": {"source", "readOnly", "recursive"}, "empty": {"readOnly", "recursive", "mode", "uid", "gid"}}[kind]
    for key in fields:
        if key not in allowed:
            raise GrammarError(f"--volume {text!r}: unknown parameter {key!r} for a {kind} volume")
    ro = parse_bool(fields["readOnly"], f"--volume {name} readOnly") if "readOnly" in fields else None
    rec = parse_bool(fields["recursive"], f"--volume {name} recursive") if "recursive" in fields else None
    if kind == "host":
        source = fields.get("source", "")
        if not source:
            raise GrammarError(f"--volume {text!r}: a host volume needs source=PATH")
        if not source.startswith("/"):
            raise GrammarError(f"--volume {text!r}: source must be an absolute path")
        return Volume(name, "host", source, ro, rec)
    mode = fields.get("mode", "0755")
    import re

    if not re.fullmatch(r"0?[0-7]{3,4}", mode):
        raise GrammarError(f"--volume {text!r}: mode must be octal like 0755")
    ids = {}
    for key in ("uid", "gid"):
        try:
            ids[key] = int(fields.get(key, "0"))
        except ValueError:
            raise GrammarError(f"--volume {text!r}: {key} must be a number") from None
        if ids[key] < 0:
            raise GrammarError(f"--volume {text!r}: {key} must not be negative")
    return Volume(name, "empty", "", ro, rec, mode, ids["uid"], ids["gid"])


@dataclass(frozen=True)
class Mount:
    volume: str
    target: str

    def to_json(self) -> dict[str, object]:
        return {"volume": self.volume, "path": self.target}


def parse_mount(text: str) -> Mount:
    """`volume=NAME,target=PATH`."""
    fields = dict(_kv_items(text, f"--mount {text!r}"))
    unknown = set(fields) - {"volume", "target"}
    if unknown:
        raise GrammarError(f"--mount {text!r}: unknown parameter {sorted(unknown)[0]!r} (want volume=NAME,target=PATH)")
    volume = fields.get("volume", "")
    target = fields.get("target", "")
    if not volume:
        raise GrammarError(f"--mount {text!r}: missing volume=NAME")
    if not target:
        raise GrammarError(f"--mount {text!r}: missing target=PATH")
    if not target.startswith("/"):
        raise GrammarError(f"--mount {text!r}: target must be an absolute path")
    return Mount(check_ac_name(volume, "--mount volume"), target)


# -- isolator values --------------------------------------------------------

_UNITS = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def parse_quantity(text: str, what: str) -> int:
    """Kubernetes resource quantity in bytes (`128M`, `1Gi`, `1000`)."""
    import re

    m = re.fullmatch(r"(\d{1,20})(k|M|G|T|Ki|Mi|Gi|Ti)?", text)
    if not m:
        raise GrammarError(f"{what}: {text!r} is not a quantity like 128M or 1Gi")
    value = int(m.group(1)) * _UNITS[m.group(2) or ""]
    if value >= 1 << 62:  # beyond what a cgroup limit holds
        raise GrammarError(f"{what}: {text!r} is too large")
    return value


def parse_cpu(text: str) -> int:
    """CPU in milli-cores (`750m`, `2`, `0.5`)."""
    import re

    m = re.fullmatch(r"(\d+)m", text)
    if m:
        value = int(m.group(1))
    else:
        try:
            value = int(round(float(text) * 1000))
        except (ValueError, OverflowError):  # OverflowError: inf (1e400)
            raise GrammarError(f"--cpu: {text!r} is not a CPU quantity like 500m or 2") from None
    if value <= 0:
        raise GrammarError(f"--cpu: {text!r} must be positive")
    if value > 1_000_000_000:  # a million cores: a typo or garbage (and 1e400 is inf)
        raise GrammarError(f"--cpu: {text!r} is more CPU than any machine has")
    return value


def parse_hostname(value: str) -> str:
    """A host name for the pod's UTS namespace and /etc/hostname: RFC 1123 characters, at most 64."""
    if not value or len(value) > 64 or not all(c.isascii() and (c.isalnum() or c in "-.") for c in value):
        raise GrammarError(f"--hostname: {value!r} is not a valid host name")
    return value


def parse_env_pair(text: str, what: str) -> tuple[str, str]:
    name, eq, value = text.partition("=")
    if not eq or not name:
        raise GrammarError(f"{what}: {text!r} is not NAME=VALUE")
    return name, value


def parse_env_file(data: str, path: str) -> list[tuple[str, str]]:
    """`--set-env-file`: NAME=VALUE lines; `#`/`;` comments and blank lines ignored."""
    out = []
    for n, line in enumerate(data.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped[0] in "#;":
            continue
        out.append(parse_env_pair(line, f"--set-env-file {path}:{n}"))
    return out


@dataclass(frozen=True)
class Seccomp:
    """`--seccomp`: the isolator it stands for; `syscalls` keeps rkt's @groups unexpanded (as the manifest does)."""

    mode: str  # retain | remove
    errno: str | None
    syscalls: tuple[str, ...]


def parse_seccomp(text: str) -> Seccomp:
    """`mode=retain|remove[,errno=ENAME],syscall|@group,…`."""
    from pyrkt.pod.seccomp_groups import SeccompSetError, check_errno, check_item

    mode = ""
    errno = None
    calls = []
    for part in text.split(","):
        part = part.strip()
        if part.startswith("mode="):
            mode = part[5:]
        elif part.startswith("errno="):
            errno = part[6:]
        elif part:
            try:
                check_item(part)
            except SeccompSetError as exc:
                raise GrammarError(f"--seccomp: {exc}") from None
            calls.append(part)
    if mode not in ("retain", "remove"):
        raise GrammarError(f"--seccomp {text!r}: mode must be retain or remove")
    if errno is not None:
        try:
            check_errno(errno)
        except SeccompSetError as exc:
            raise GrammarError(f"--seccomp {text!r}: {exc}") from None
    if not calls:
        raise GrammarError(f"--seccomp {text!r}: no syscalls listed")
    return Seccomp(mode, errno, tuple(calls))


def parse_caps(text: str, what: str) -> tuple[str, ...]:
    caps = []
    for item in text.split(","):
        item = item.strip().upper()
        if not item:
            continue
        if not item.startswith("CAP_"):
            item = "CAP_" + item
        import re

        if not re.fullmatch(r"CAP_[A-Z_]+", item):
            raise GrammarError(f"{what}: {item!r} is not a capability name")
        caps.append(item)
    if not caps:
        raise GrammarError(f"{what}: no capabilities given")
    return tuple(caps)


# -- the app grammar --------------------------------------------------------

STDIO_MODES = {"stdin": ("null", "tty", "stream"), "stdout": ("null", "tty", "stream", "log"), "stderr": ("null", "tty", "stream", "log")}


@dataclass
class AppSpec:
    """One image on the command line and the per-app flags after it."""

    image: str
    args: list[str] = field(default_factory=list)
    exec: str | None = None
    name: str | None = None
    user: str | None = None
    group: str | None = None
    supplementary_gids: tuple[int, ...] | None = None
    working_dir: str | None = None
    readonly_rootfs: bool | None = None
    mounts: list[Mount] = field(default_factory=list)
    environment: list[tuple[str, str]] = field(default_factory=list)
    user_annotations: list[tuple[str, str]] = field(default_factory=list)
    user_labels: list[tuple[str, str]] = field(default_factory=list)
    cpu: int | None = None  # milli-cores
    memory: int | None = None  # bytes
    cpu_shares: int | None = None
    caps_retain: tuple[str, ...] | None = None
    caps_remove: tuple[str, ...] | None = None
    seccomp: Seccomp | None = None
    oom_score_adj: int | None = None
    signature: str | None = None
    stdin: str = "null"
    stdout: str = "log"
    stderr: str = "log"


@dataclass
class PodSpec:
    """Everything `rkt run`/`rkt prepare` was asked for."""

    apps: list[AppSpec] = field(default_factory=list)
    volumes: list[Volume] = field(default_factory=list)
    mounts_all: list[Mount] = field(default_factory=list)
    set_env: list[tuple[str, str]] = field(default_factory=list)
    set_env_files: list[str] = field(default_factory=list)
    inherit_env: bool = False
    interactive: bool = False
    hostname: str | None = None
    dns: list[str] = field(default_factory=list)
    dns_search: list[str] = field(default_factory=list)
    dns_opt: list[str] = field(default_factory=list)
    dns_domain: str | None = None
    hosts_entries: list[str] = field(default_factory=list)
    net: list[str] | None = None
    ipc: str = "auto"
    no_overlay: bool = False
    private_users: bool = False
    pull_policy: str = "new"
    uuid_file_save: str | None = None
    pod_manifest: str | None = None
    mds_register: bool = False
    ports: list[str] = field(default_factory=list)
    insecure_seccomp: bool = False  # the global --insecure-options=seccomp: no seccomp filter at all
    local_config: str = "/etc/rkt"  # the global --local-config and --system-config: where net.d is
    system_config: str = "/usr/lib/rkt"


# -- durations (gc, status --wait) --------------------------------------------------

def parse_duration(text: str, what: str) -> float:
    """Go's time.ParseDuration subset: `30m`, `1h30m`, `24h`, `0`, `1.5s`, `100ms`."""
    if text in ("0", "0s"):
        return 0.0
    import re

    parts = re.findall(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", text)
    if not parts or "".join(a + b for a, b in parts) != text:
        raise GrammarError(f"{what}: {text!r} is not a duration like 30m or 1h30m")
    scale = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    return sum(float(a) * scale[b] for a, b in parts)
