"""The OCI runtime-spec `config.json`, parsed into typed values with precise errors.

Parsing happens once, in `create`, before anything is written or forked, so
every malformed field is reported as one line naming the field. The classes
are plain `__slots__` classes rather than dataclasses: this module is on the
runtime's start-up path, and `dataclasses` pulls in `inspect` (several ms).
"""

from __future__ import annotations

import os

from pyrkt.linux import syscalls as sc
from pyrkt import fastjson as json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any  # parsed JSON: its values are checked by _type as they are read

SUPPORTED_MAJOR = 1

NAMESPACE_FLAGS: dict[str, int] = {
    "pid": sc.CLONE_NEWPID,
    "network": sc.CLONE_NEWNET,
    "mount": sc.CLONE_NEWNS,
    "ipc": sc.CLONE_NEWIPC,
    "uts": sc.CLONE_NEWUTS,
    "user": sc.CLONE_NEWUSER,
    "cgroup": sc.CLONE_NEWCGROUP,
    "time": sc.CLONE_NEWTIME,
}

# the order in which namespaces given by path are joined: user first, so the
# others are joined with the privileges of the target user namespace, and
# mount last, so the /proc paths of the others are still reachable.
JOIN_ORDER = ("user", "ipc", "uts", "network", "pid", "cgroup", "time", "mount")

RLIMITS: dict[str, int] = {
    "RLIMIT_CPU": 0,
    "RLIMIT_FSIZE": 1,
    "RLIMIT_DATA": 2,
    "RLIMIT_STACK": 3,
    "RLIMIT_CORE": 4,
    "RLIMIT_RSS": 5,
    "RLIMIT_NPROC": 6,
    "RLIMIT_NOFILE": 7,
    "RLIMIT_MEMLOCK": 8,
    "RLIMIT_AS": 9,
    "RLIMIT_LOCKS": 10,
    "RLIMIT_SIGPENDING": 11,
    "RLIMIT_MSGQUEUE": 12,
    "RLIMIT_NICE": 13,
    "RLIMIT_RTPRIO": 14,
    "RLIMIT_RTTIME": 15,
}


class ConfigError(ValueError):
    """config.json is missing, malformed, or asks for something unsupported."""


def _type(value: Any, kind: type | tuple[type, ...], field: str) -> Any:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise ConfigError(f"config.json: {field} must be of type {_json_name(names)}")
    return value


def _json_name(py: str) -> str:
    return {"str": "string", "int": "integer", "dict": "object", "list": "array", "bool": "boolean"}.get(py, py)


def _str_list(value: Any, field: str) -> list[str]:
    if value is None:
        return []
    _type(value, list, field)
    for i, item in enumerate(value):
        _type(item, str, f"{field}[{i}]")
    return list(value)


class Namespace:
    __slots__ = ("type", "flag", "path")

    def __init__(self, type_: str, flag: int, path: str | None) -> None:
        self.type = type_
        self.flag = flag
        self.path = path


class IDMapping:
    __slots__ = ("container_id", "host_id", "size")

    def __init__(self, container_id: int, host_id: int, size: int) -> None:
        self.container_id = container_id
        self.host_id = host_id
        self.size = size

    def line(self) -> str:
        return f"{self.container_id} {self.host_id} {self.size}\n"


class Mount:
    __slots__ = ("destination", "type", "source", "options", "uid_mappings", "gid_mappings", "source_fd")

    def __init__(self, destination: str, type_: str, source: str, options: list[str]) -> None:
        self.source_fd = -1  # a bind source opened by create before the user namespace (see operations)
        self.destination = destination
        self.type = type_
        self.source = source
        self.options = options
        self.uid_mappings: list[IDMapping] = []
        self.gid_mappings: list[IDMapping] = []


class Device:
    __slots__ = ("path", "type", "major", "minor", "file_mode", "uid", "gid")

    def __init__(self, path: str, type_: str, major: int, minor: int, file_mode: int | None, uid: int | None, gid: int | None) -> None:
        self.path = path
        self.type = type_
        self.major = major
        self.minor = minor
        self.file_mode = file_mode
        self.uid = uid
        self.gid = gid


class Rlimit:
    __slots__ = ("name", "resource", "soft", "hard")

    def __init__(self, name: str, resource: int, soft: int, hard: int) -> None:
        self.name = name
        self.resource = resource
        self.soft = soft
        self.hard = hard


class User:
    __slots__ = ("uid", "gid", "umask", "additional_gids")

    def __init__(self, uid: int, gid: int, umask: int | None, additional_gids: list[int]) -> None:
        self.uid = uid
        self.gid = gid
        self.umask = umask
        self.additional_gids = additional_gids


class Process:
    """`process` of config.json, or of `exec --process`."""

    __slots__ = (
        "terminal", "console_size", "user", "args", "env", "cwd", "capabilities", "rlimits",
        "no_new_privileges", "apparmor_profile", "oom_score_adj", "selinux_label", "raw",
    )

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw
        self.terminal = bool(_type(raw.get("terminal", False), bool, "process.terminal"))
        cs = raw.get("consoleSize")
        self.console_size: tuple[int, int] | None = None
        if cs is not None:
            _type(cs, dict, "process.consoleSize")
            self.console_size = (int(cs.get("height", 0)), int(cs.get("width", 0)))
        user = raw.get("user") or {}
        _type(user, dict, "process.user")
        uid = _type(user.get("uid", 0), int, "process.user.uid")
        gid = _type(user.get("gid", 0), int, "process.user.gid")
        umask = user.get("umask")
        if umask is not None:
            _type(umask, int, "process.user.umask")
        gids = user.get("additionalGids") or []
        _type(gids, list, "process.user.additionalGids")
        for i, g in enumerate(gids):
            _type(g, int, f"process.user.additionalGids[{i}]")
        if "username" in user and user.get("username"):
            # Windows-only field; accepted and ignored on Linux as the spec says
            pass
        self.user = User(uid, gid, umask, list(gids))
        self.args = _str_list(raw.get("args"), "process.args")
        if not self.args:
            raise ConfigError("config.json: process.args must not be empty")
        self.env = _str_list(raw.get("env"), "process.env")
        cwd = raw.get("cwd", "/")
        _type(cwd, str, "process.cwd")
        if not str(cwd).startswith("/"):
            raise ConfigError(f"config.json: process.cwd {cwd!r} must be an absolute path")
        self.cwd = str(cwd)
        caps = raw.get("capabilities")
        if caps is not None:
            _type(caps, dict, "process.capabilities")
            for key, names in caps.items():
                _str_list(names, f"process.capabilities.{key}")
        self.capabilities: dict[str, list[str]] | None = caps
        self.rlimits: list[Rlimit] = []
        seen: set[str] = set()
        for i, rl in enumerate(raw.get("rlimits") or []):
            _type(rl, dict, f"process.rlimits[{i}]")
            name = rl.get("type")
            resource = RLIMITS.get(name) if isinstance(name, str) else None
            if resource is None:
                raise ConfigError(f"config.json: process.rlimits[{i}].type {name!r} is not a known rlimit")
            if name in seen:
                raise ConfigError(f"config.json: process.rlimits: {name} given twice")
            seen.add(name)
            soft = _type(rl.get("soft", 0), int, f"process.rlimits[{i}].soft")
            hard = _type(rl.get("hard", 0), int, f"process.rlimits[{i}].hard")
            self.rlimits.append(Rlimit(name, resource, soft, hard))
        self.no_new_privileges = bool(raw.get("noNewPrivileges", False))
        self.apparmor_profile = raw.get("apparmorProfile") or None
        self.selinux_label = raw.get("selinuxLabel") or None
        oom = raw.get("oomScoreAdj")
        if oom is not None:
            _type(oom, int, "process.oomScoreAdj")
        self.oom_score_adj: int | None = oom

    def env_value(self, name: str) -> str | None:
        prefix = name + "="
        for item in reversed(self.env):
            if item.startswith(prefix):
                return item[len(prefix):]
        return None


def _mappings(value: Any, field: str) -> list[IDMapping]:
    out = []
    for i, m in enumerate(value or []):
        _type(m, dict, f"{field}[{i}]")
        try:
            out.append(IDMapping(int(m["containerID"]), int(m["hostID"]), int(m["size"])))
        except (KeyError, TypeError, ValueError):
            raise ConfigError(f"config.json: {field}[{i}] needs integer containerID, hostID and size") from None
    return out


class Config:
    """A parsed config.json. `raw` keeps the document for fields used later (hooks, resources)."""

    __slots__ = (
        "raw", "oci_version", "root_path", "root_readonly", "hostname", "domainname", "mounts",
        "process", "namespaces", "uid_mappings", "gid_mappings", "devices", "masked_paths",
        "readonly_paths", "sysctl", "rootfs_propagation", "annotations", "cgroups_path",
        "resources", "seccomp", "hooks", "personality", "mount_label", "intel_rdt", "time_offsets",
    )

    def __init__(self, raw: dict[str, Any], bundle: str) -> None:
        self.raw = raw
        version = raw.get("ociVersion")
        if not isinstance(version, str) or not version:
            raise ConfigError("config.json: ociVersion is missing")
        major = version.split(".", 1)[0]
        if major != str(SUPPORTED_MAJOR):
            raise ConfigError(f"config.json: unsupported ociVersion {version!r} (this runtime implements 1.x)")
        self.oci_version = version
        root = raw.get("root")
        if not isinstance(root, dict) or not isinstance(root.get("path"), str) or not root["path"]:
            raise ConfigError("config.json: root.path is missing")
        path = root["path"]
        self.root_path = os.path.realpath(path if path.startswith("/") else os.path.join(bundle, path))
        self.root_readonly = bool(root.get("readonly", False))
        if not os.path.isdir(self.root_path):
            raise ConfigError(f"config.json: root.path {self.root_path}: no such directory")
        self.hostname = raw.get("hostname")
        if self.hostname is not None:
            _type(self.hostname, str, "hostname")
        proc = raw.get("process")
        if proc is None:
            raise ConfigError("config.json: process is missing (nothing to run)")
        _type(proc, dict, "process")
        self.process = Process(proc)
        self.mounts: list[Mount] = []
        for i, m in enumerate(raw.get("mounts") or []):
            _type(m, dict, f"mounts[{i}]")
            dest = m.get("destination")
            if not isinstance(dest, str) or not dest.startswith("/"):
                raise ConfigError(f"config.json: mounts[{i}].destination must be an absolute path, got {dest!r}")
            mtype = m.get("type") or ""
            source = m.get("source") or ""
            _type(mtype, str, f"mounts[{i}].type")
            _type(source, str, f"mounts[{i}].source")
            mount = Mount(dest, mtype, source, _str_list(m.get("options"), f"mounts[{i}].options"))
            mount.uid_mappings = _mappings(m.get("uidMappings"), f"mounts[{i}].uidMappings")
            mount.gid_mappings = _mappings(m.get("gidMappings"), f"mounts[{i}].gidMappings")
            self.mounts.append(mount)
        annotations = raw.get("annotations") or {}
        _type(annotations, dict, "annotations")
        self.annotations: dict[str, str] = annotations
        hooks = raw.get("hooks") or {}
        _type(hooks, dict, "hooks")
        # a null list is an absent one (Go's nil slice: runc runs no hook)
        self.hooks: dict[str, list[dict[str, object]]] = {k: v for k, v in hooks.items() if v is not None}

        linux = raw.get("linux") or {}
        _type(linux, dict, "linux")
        self.namespaces: list[Namespace] = []
        seen: set[str] = set()
        for i, ns in enumerate(linux.get("namespaces") or []):
            _type(ns, dict, f"linux.namespaces[{i}]")
            nstype = ns.get("type")
            flag = NAMESPACE_FLAGS.get(nstype) if isinstance(nstype, str) else None
            if flag is None:
                raise ConfigError(f"config.json: linux.namespaces[{i}].type {nstype!r} is not a namespace type")
            if nstype in seen:
                raise ConfigError(f"config.json: linux.namespaces: {nstype} given twice")
            seen.add(nstype)
            nspath = ns.get("path") or None
            if nspath is not None:
                _type(nspath, str, f"linux.namespaces[{i}].path")
                if not os.path.exists(nspath):
                    raise ConfigError(f"config.json: linux.namespaces[{i}].path {nspath}: no such file")
            self.namespaces.append(Namespace(nstype, flag, nspath))
        self.uid_mappings = _mappings(linux.get("uidMappings"), "linux.uidMappings")
        self.gid_mappings = _mappings(linux.get("gidMappings"), "linux.gidMappings")
        if "user" in seen and not self.ns_path("user") and not self.uid_mappings:
            raise ConfigError("config.json: a new user namespace needs linux.uidMappings and linux.gidMappings")
        if self.uid_mappings and "user" not in seen:
            raise ConfigError("config.json: linux.uidMappings given without a user namespace")
        if "mount" not in seen:
            # the host's mount namespace (the spec allows it, runc runs it): the process is
            # chrooted into root.path; nothing is mounted there, the host's mounts stay as they are
            for field, value in (("mounts", self.mounts), ("linux.maskedPaths", linux.get("maskedPaths")),
                                 ("linux.readonlyPaths", linux.get("readonlyPaths")), ("root.readonly", self.root_readonly),
                                 ("linux.devices", linux.get("devices")), ("linux.rootfsPropagation", linux.get("rootfsPropagation"))):
                if value:
                    raise ConfigError(f"config.json: {field} needs a mount namespace of the container's own (linux.namespaces has none)")
        if self.hostname and "uts" not in seen:
            raise ConfigError("config.json: hostname needs a uts namespace of its own")
        self.domainname = raw.get("domainname")
        if self.domainname and "uts" not in seen:
            raise ConfigError("config.json: domainname needs a uts namespace of its own")
        self.devices: list[Device] = []
        for i, d in enumerate(linux.get("devices") or []):
            _type(d, dict, f"linux.devices[{i}]")
            dpath, dtype = d.get("path"), d.get("type")
            if not isinstance(dpath, str) or not dpath.startswith("/"):
                raise ConfigError(f"config.json: linux.devices[{i}].path must be an absolute path")
            if dtype not in ("c", "b", "u", "p"):
                raise ConfigError(f"config.json: linux.devices[{i}].type {dtype!r} must be c, b, u or p")
            major, minor = d.get("major", 0), d.get("minor", 0)
            if dtype != "p":
                _type(major, int, f"linux.devices[{i}].major")
                _type(minor, int, f"linux.devices[{i}].minor")
            self.devices.append(Device(dpath, dtype, major, minor, d.get("fileMode"), d.get("uid"), d.get("gid")))
        self.masked_paths = _str_list(linux.get("maskedPaths"), "linux.maskedPaths")
        self.readonly_paths = _str_list(linux.get("readonlyPaths"), "linux.readonlyPaths")
        sysctl = linux.get("sysctl") or {}
        _type(sysctl, dict, "linux.sysctl")
        self.sysctl: dict[str, str] = sysctl
        self.rootfs_propagation = linux.get("rootfsPropagation") or None
        self.cgroups_path = linux.get("cgroupsPath") or None
        self.resources = linux.get("resources") or None
        self.seccomp = linux.get("seccomp") or None
        self.personality = linux.get("personality") or None
        self.mount_label = linux.get("mountLabel") or None
        self.intel_rdt = linux.get("intelRdt") or None
        self.time_offsets = linux.get("timeOffsets") or None

    def ns(self, nstype: str) -> Namespace | None:
        for ns in self.namespaces:
            if ns.type == nstype:
                return ns
        return None

    def ns_path(self, nstype: str) -> str | None:
        ns = self.ns(nstype)
        return ns.path if ns else None

    def new_ns_flags(self) -> int:
        flags = 0
        for ns in self.namespaces:
            if ns.path is None:
                flags |= ns.flag
        return flags


def load(bundle: str) -> Config:
    """Read and parse `<bundle>/config.json`."""
    path = os.path.join(bundle, "config.json")
    if not os.path.isdir(bundle):
        raise ConfigError(f"bundle {bundle}: no such directory")
    try:
        with open(path, "rb") as f:
            text = f.read()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file (not an OCI bundle?)") from None
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror}") from None
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{path}: malformed JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the document must be a JSON object")
    return Config(raw, bundle)
