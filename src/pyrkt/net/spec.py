"""The network flags of `rkt run`/`prepare`/`run-prepared`, parsed into frozen values.

Pure and light: `rkt run --net=host` parses its `--net` here, so nothing
beyond `pyrkt.records` is imported. Every error is a `NetSpecError` with one
line that names the flag.
"""

from __future__ import annotations

from pyrkt.records import dataclass

# the networks that are not CNI configurations the user wrote
HOST = "host"
NONE = "none"
ALL = "all"
DEFAULT = "default"
DEFAULT_RESTRICTED = "default-restricted"
SPECIAL = (HOST, NONE, ALL, DEFAULT, DEFAULT_RESTRICTED)


class NetSpecError(ValueError):
    """A bad network flag; the message is one line."""


@dataclass(frozen=True)
class NetRequest:
    """One `--net` item: a network name and its CNI_ARGS (`name:K=V;K2=V2`)."""

    name: str
    args: tuple[tuple[str, str], ...] = ()

    def cni_args(self) -> str:
        """The CNI_ARGS value: `IgnoreUnknown=1` first, so plugins skip keys meant for others."""
        if not self.args:
            return ""
        return ";".join(["IgnoreUnknown=1"] + [f"{k}={v}" for k, v in self.args])

    def to_text(self) -> str:
        return self.name + (":" + ";".join(f"{k}={v}" for k, v in self.args) if self.args else "")


def _net_name_ok(name: str) -> bool:
    return bool(name) and all(c.isalnum() or c in "-_." for c in name) and name[0].isalnum()


def parse_net_item(text: str) -> NetRequest:
    """`name` or `name:K=V;K2=V2`."""
    name, colon, rest = text.partition(":")
    if not _net_name_ok(name):
        raise NetSpecError(f"--net: {text!r}: {name!r} is not a network name")
    args: list[tuple[str, str]] = []
    if colon:
        if name in (HOST, NONE, ALL):
            raise NetSpecError(f"--net: {text!r}: --net={name} takes no arguments")
        for item in rest.split(";"):
            if not item:
                continue
            k, eq, v = item.partition("=")
            if not eq or not k:
                raise NetSpecError(f"--net: {text!r}: {item!r} is not KEY=VALUE")
            if k == "IgnoreUnknown":
                continue  # always set (see NetRequest.cni_args)
            args.append((k, v))
    return NetRequest(name, tuple(args))


def parse_nets(values: list[str]) -> tuple[NetRequest, ...]:
    """Every `--net` value (comma lists, repeated flags) into requests; checks how they combine."""
    out: list[NetRequest] = []
    seen: set[str] = set()
    for value in values:
        for item in value.split(","):
            if not item:
                continue
            req = parse_net_item(item)
            if req.name in seen:
                raise NetSpecError(f"--net: network {req.name!r} given twice")
            seen.add(req.name)
            out.append(req)
    if not out:
        raise NetSpecError("--net: no network given")
    for alone in (HOST, NONE):
        if alone in seen and len(out) > 1:
            raise NetSpecError(f"--net={alone} cannot be combined with other networks")
    return tuple(out)


def mode(values: list[str] | None) -> str:
    """`host`, `none` or `cni` for a pod's --net values (None: not given, the default network)."""
    if not values:
        return "cni"
    reqs = parse_nets(values)
    if reqs[0].name in (HOST, NONE):
        return reqs[0].name
    return "cni"


@dataclass(frozen=True)
class PortRequest:
    """`--port=NAME:[HOSTIP:]HOSTPORT`: forward HOSTPORT on the host to the app port NAME."""

    name: str
    host_port: int
    host_ip: str = ""

    def to_text(self) -> str:
        return f"{self.name}:{self.host_ip + ':' if self.host_ip else ''}{self.host_port}"


def _ip4_ok(text: str) -> bool:
    parts = text.split(".")
    return len(parts) == 4 and all(p.isdigit() and len(p) <= 3 and int(p) <= 255 for p in parts)


def parse_port(text: str) -> PortRequest:
    parts = text.split(":")
    if len(parts) not in (2, 3) or not parts[0]:
        raise NetSpecError(f"--port: {text!r} is not NAME:[HOSTIP:]HOSTPORT")
    name, port = parts[0], parts[-1]
    host_ip = parts[1] if len(parts) == 3 else ""
    if host_ip and not _ip4_ok(host_ip):
        raise NetSpecError(f"--port: {text!r}: {host_ip!r} is not an IPv4 address")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise NetSpecError(f"--port: {text!r}: {port!r} is not a port number (1-65535)")
    return PortRequest(name, int(port), host_ip)


def parse_hosts_entry(text: str) -> tuple[str, str] | None:
    """`--hosts-entry=IP=NAME` -> (ip, name); `host` -> None (use the host's /etc/hosts)."""
    if text == "host":
        return None
    ip, eq, host = text.partition("=")
    if not eq or not ip or not host or any(c.isspace() for c in ip + host):
        raise NetSpecError(f"--hosts-entry: {text!r} is not IP=HOSTNAME or host")
    return ip, host
