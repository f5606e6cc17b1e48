"""The pod plan: what `rkt prepare` decided and stage1 runs, as frozen values.

Why values and not the runtime.json dict: `rkt run` prepares and runs in one
process, so the plan goes from `pyrkt.pod.prepare.plan` to
`pyrkt.pod.stage1.run_pod` in memory (no JSON round trip), and mypy checks
every field on the way. `to_json` is what runtime.json holds, for `rkt
run-prepared` (and `enter`/`export`) in a later process; `from_json` is the only
reader, and it checks each field, so a damaged or foreign file is one line
(`PlanError`) rather than a KeyError deep in stage1. The JSON keys are the
ones runtime.json always had: pods prepared by older pyrkt still run.

Values declared with `pyrkt.records.dataclass` (not `dataclasses`: `rkt run`
must not import it, see bench/README.md).
"""

from __future__ import annotations

from pyrkt.pod.grammar import Volume
from pyrkt.records import dataclass

TYPE_CHECKING = False  # typing costs ~4 ms at import, on every `rkt run`; annotations are strings
if TYPE_CHECKING:
    from pyrkt.pod.seccomp_groups import SeccompPlan
    from pyrkt.pod.userns import UserRange

    JSON = dict[str, object]


class PlanError(ValueError):
    """A runtime.json field is missing or of the wrong type (the message names it)."""


# -- checked reads of a parsed JSON object ------------------------------------

def _obj(value: object, where: str) -> JSON:
    if not isinstance(value, dict):
        raise PlanError(f"{where}: not an object")
    return value


def _str(obj: JSON, key: str, where: str, default: str | None = None) -> str:
    value = obj.get(key, default)
    if not isinstance(value, str):
        raise PlanError(f"{where}.{key}: not a string")
    return value


def _opt_str(obj: JSON, key: str, where: str) -> str | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        raise PlanError(f"{where}.{key}: not a string")
    return value


def _int(obj: JSON, key: str, where: str, default: int | None = None) -> int:
    value = obj.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool):
        raise PlanError(f"{where}.{key}: not an integer")
    return value


def _opt_int(obj: JSON, key: str, where: str) -> int | None:
    return None if obj.get(key) is None else _int(obj, key, where)


def _bool(obj: JSON, key: str, where: str, default: bool | None = None) -> bool:
    value = obj.get(key, default)
    if not isinstance(value, bool):
        raise PlanError(f"{where}.{key}: not a boolean")
    return value


def _list(obj: JSON, key: str, where: str, default: list[object] | None = None) -> list[object]:
    value = obj.get(key, default)
    if not isinstance(value, list):
        raise PlanError(f"{where}.{key}: not a list")
    return value


def _strs(obj: JSON, key: str, where: str, default: list[object] | None = None) -> tuple[str, ...]:
    items = _list(obj, key, where, default)
    if not all(isinstance(s, str) for s in items):
        raise PlanError(f"{where}.{key}: not a list of strings")
    return tuple(items)  # type: ignore[arg-type]  # each checked just above


def _ints(obj: JSON, key: str, where: str) -> tuple[int, ...]:
    items = _list(obj, key, where, [])
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in items):
        raise PlanError(f"{where}.{key}: not a list of integers")
    return tuple(items)  # type: ignore[arg-type]  # each checked just above


# -- the values ---------------------------------------------------------------

@dataclass(frozen=True)
class MountPlan:
    """One volume bound into an app: `source` is the host path (kind host) or `volumes/NAME` in the pod dir."""

    volume: str
    kind: str  # host | empty
    source: str
    destination: str
    read_only: bool
    recursive: bool

    def to_json(self) -> JSON:
        return {"volume": self.volume, "kind": self.kind, "source": self.source, "destination": self.destination,
                "readOnly": self.read_only, "recursive": self.recursive}

    @classmethod
    def from_json(cls, value: object, where: str) -> MountPlan:
        obj = _obj(value, where)
        return cls(_str(obj, "volume", where), _str(obj, "kind", where), _str(obj, "source", where),
                   _str(obj, "destination", where), _bool(obj, "readOnly", where, False), _bool(obj, "recursive", where, True))


@dataclass(frozen=True)
class Resources:
    """The OCI `linux.resources` an app's isolators give (None: not limited)."""

    cpu_quota: int | None = None
    cpu_period: int | None = None
    cpu_shares: int | None = None
    memory_limit: int | None = None

    def to_json(self) -> JSON:
        """As OCI's linux.resources (also runtime.json's form)."""
        out: JSON = {}
        cpu: JSON = {}
        if self.cpu_quota is not None:
            cpu.update(quota=self.cpu_quota, period=self.cpu_period)
        if self.cpu_shares is not None:
            cpu["shares"] = self.cpu_shares
        if cpu:
            out["cpu"] = cpu
        if self.memory_limit is not None:
            out["memory"] = {"limit": self.memory_limit}
        return out

    @classmethod
    def from_json(cls, value: object, where: str) -> Resources:
        obj = _obj(value, where)
        cpu = _obj(obj.get("cpu", {}), where + ".cpu")
        memory = _obj(obj.get("memory", {}), where + ".memory")
        return cls(_opt_int(cpu, "quota", where + ".cpu"), _opt_int(cpu, "period", where + ".cpu"),
                   _opt_int(cpu, "shares", where + ".cpu"), _opt_int(memory, "limit", where + ".memory"))


@dataclass(frozen=True)
class PortPlan:
    """A `--port` resolved against the port the image declares."""

    name: str
    protocol: str
    container_port: int
    host_port: int
    host_ip: str = ""  # "": every address

    def to_json(self) -> JSON:
        """The form pyrkt.net.setup takes (and runtime.json holds)."""
        return {"name": self.name, "protocol": self.protocol, "containerPort": self.container_port,
                "hostPort": self.host_port, "hostIP": self.host_ip}

    @classmethod
    def from_json(cls, value: object, where: str) -> PortPlan:
        obj = _obj(value, where)
        return cls(_str(obj, "name", where), _str(obj, "protocol", where), _int(obj, "containerPort", where),
                   _int(obj, "hostPort", where), _opt_str(obj, "hostIP", where) or "")


def seccomp_from_oci(value: object, where: str) -> SeccompPlan:
    """The SeccompPlan whose `to_oci()` is `value` (runtime.json holds the OCI form)."""
    from pyrkt.pod.seccomp_groups import SeccompPlan

    if value is None:
        return SeccompPlan("none")
    obj = _obj(value, where)
    rules = _list(obj, "syscalls", where)
    if len(rules) != 1:
        raise PlanError(f"{where}.syscalls: not one rule")
    rule = _obj(rules[0], where + ".syscalls[0]")
    names = _strs(rule, "names", where + ".syscalls[0]")
    if _str(obj, "defaultAction", where) == "SCMP_ACT_ALLOW":
        mode, errno_num = "remove", _opt_int(rule, "errnoRet", where + ".syscalls[0]")
    else:
        mode, errno_num = "retain", _opt_int(obj, "defaultErrnoRet", where)
    errno_name = None
    if errno_num is not None:
        import errno

        errno_name = errno.errorcode.get(errno_num)
        if errno_name is None:
            raise PlanError(f"{where}: unknown errno {errno_num}")
    return SeccompPlan(mode, names, errno_name)


@dataclass(frozen=True)
class AppPlan:
    """One app as stage1 runs it: its image's layers and the process, mounts and limits of its container."""

    name: str
    image_id: str
    image_name: str
    lowerdirs: tuple[str, ...]  # bottom layer first
    args: tuple[str, ...]
    env: tuple[str, ...]  # NAME=VALUE, the merged environment
    cwd: str
    uid: int
    gid: int
    gids: tuple[int, ...]
    readonly: bool
    caps: tuple[str, ...]
    seccomp: SeccompPlan
    no_new_privileges: bool
    resources: Resources
    oom_score_adj: int | None
    mounts: tuple[MountPlan, ...]
    stdin: str = "null"  # null | log | stream | tty (see pyrkt.pod.grammar)
    stdout: str = "log"
    stderr: str = "log"

    def to_json(self) -> JSON:
        return {
            "name": self.name, "image_id": self.image_id, "image_name": self.image_name, "lowerdirs": list(self.lowerdirs),
            "args": list(self.args), "env": list(self.env), "cwd": self.cwd, "uid": self.uid, "gid": self.gid,
            "gids": list(self.gids), "readonly": self.readonly, "caps": list(self.caps), "seccomp": self.seccomp.to_oci(),
            "no_new_privileges": self.no_new_privileges, "resources": self.resources.to_json(),
            "oom_score_adj": self.oom_score_adj, "mounts": [m.to_json() for m in self.mounts],
            "stdin": self.stdin, "stdout": self.stdout, "stderr": self.stderr,
        }

    @classmethod
    def from_json(cls, value: object, where: str) -> AppPlan:
        obj = _obj(value, where)
        return cls(
            name=_str(obj, "name", where), image_id=_str(obj, "image_id", where), image_name=_str(obj, "image_name", where, ""),
            lowerdirs=_strs(obj, "lowerdirs", where), args=_strs(obj, "args", where), env=_strs(obj, "env", where, []),
            cwd=_str(obj, "cwd", where, "/"), uid=_int(obj, "uid", where, 0), gid=_int(obj, "gid", where, 0),
            gids=_ints(obj, "gids", where), readonly=_bool(obj, "readonly", where, False),
            caps=_strs(obj, "caps", where, []), seccomp=seccomp_from_oci(obj.get("seccomp"), where + ".seccomp"),
            no_new_privileges=_bool(obj, "no_new_privileges", where, False),
            resources=Resources.from_json(obj.get("resources", {}), where + ".resources"),
            oom_score_adj=_opt_int(obj, "oom_score_adj", where),
            mounts=tuple(MountPlan.from_json(m, f"{where}.mounts[{i}]") for i, m in enumerate(_list(obj, "mounts", where, []))),
            stdin=_str(obj, "stdin", where, "null"), stdout=_str(obj, "stdout", where, "log"), stderr=_str(obj, "stderr", where, "log"),
        )


@dataclass(frozen=True)
class PodPlan:
    """The whole pod: its apps, volumes and the namespaces, network and files stage1 sets up."""

    apps: tuple[AppPlan, ...]
    volumes: tuple[Volume, ...]
    hostname: str
    net: tuple[str, ...] | None = None  # the --net values (None: the default network)
    ipc: str = "auto"
    interactive: bool = False
    no_overlay: bool = False
    private_users: UserRange | None = None  # chosen when the pod's files are written
    hosts: str | None = None  # the /etc/hosts text --hosts-entry asked for (pyrkt.net.hosts)
    resolv: str | None = None  # the resolv.conf text --dns & co asked for (pyrkt.net.dns)
    ports: tuple[PortPlan, ...] = ()
    local_config: str = "/etc/rkt"
    system_config: str = "/usr/lib/rkt"
    mds_register: bool = False

    def to_json(self) -> JSON:
        out: JSON = {
            "net": None if self.net is None else list(self.net), "ipc": self.ipc, "hostname": self.hostname,
            "interactive": self.interactive, "no_overlay": self.no_overlay,
            "private_users": self.private_users.to_json() if self.private_users is not None else False,
            "hosts": self.hosts, "resolv": self.resolv, "volumes": [v.to_json() for v in self.volumes],
            "apps": [a.to_json() for a in self.apps], "ports": [p.to_json() for p in self.ports],
            "local_config": self.local_config, "system_config": self.system_config,
        }
        if self.mds_register:
            out["mds_register"] = True
        return out

    @classmethod
    def from_json(cls, value: object) -> PodPlan:
        """A runtime.json's plan; PlanError names the first bad field."""
        obj = _obj(value, "runtime")
        net = obj.get("net")
        if isinstance(net, str):  # one value, as some older files hold it
            net = [net]
        users = obj.get("private_users")
        user_range = None
        if isinstance(users, dict):
            from pyrkt.pod.userns import UserRange

            _int(users, "shift", "private_users")
            if "count" in users:
                _int(users, "count", "private_users")
            user_range = UserRange.from_json(users)  # its fields checked just above
        elif users not in (None, False):
            raise PlanError("private_users: not a range")
        volumes = []
        for i, v in enumerate(_list(obj, "volumes", "runtime", [])):
            try:
                volumes.append(Volume.from_json(_obj(v, f"volumes[{i}]")))
            except (KeyError, TypeError, ValueError):
                raise PlanError(f"volumes[{i}]: not a volume") from None
        return cls(
            apps=tuple(AppPlan.from_json(a, f"apps[{i}]") for i, a in enumerate(_list(obj, "apps", "runtime"))),
            volumes=tuple(volumes), hostname=_str(obj, "hostname", "runtime"),
            net=None if net is None else _strs({"net": net}, "net", "runtime"),
            ipc=_str(obj, "ipc", "runtime", "auto"), interactive=_bool(obj, "interactive", "runtime", False),
            no_overlay=_bool(obj, "no_overlay", "runtime", False), private_users=user_range,
            hosts=_opt_str(obj, "hosts", "runtime"), resolv=_opt_str(obj, "resolv", "runtime"),
            ports=tuple(PortPlan.from_json(p, f"ports[{i}]") for i, p in enumerate(_list(obj, "ports", "runtime", []))),
            local_config=_str(obj, "local_config", "runtime", "/etc/rkt"),
            system_config=_str(obj, "system_config", "runtime", "/usr/lib/rkt"),
            mds_register=_bool(obj, "mds_register", "runtime", False),
        )


@dataclass(frozen=True)
class RunOverrides:
    """What `rkt run-prepared`'s own flags change of a prepared plan (None/False: keep what prepare chose)."""

    net: tuple[str, ...] | None = None
    hostname: str | None = None
    resolv: str | None = None
    local_config: str | None = None  # where this command looks networks up (as rkt: the run's, not the prepare's)
    system_config: str | None = None
    mds_register: bool = False
    interactive: bool | None = None

    def apply(self, plan: PodPlan) -> PodPlan:
        from pyrkt.records import replace

        return replace(
            plan,
            net=self.net if self.net is not None else plan.net,
            hostname=self.hostname if self.hostname is not None else plan.hostname,
            resolv=self.resolv if self.resolv is not None else plan.resolv,
            local_config=self.local_config if self.local_config is not None else plan.local_config,
            system_config=self.system_config if self.system_config is not None else plan.system_config,
            mds_register=self.mds_register or plan.mds_register,
            interactive=self.interactive if self.interactive is not None else plan.interactive,
        )
