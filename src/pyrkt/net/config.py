"""Network configurations: the built-in `default` and `default-restricted`, and the user's net.d files.

A named network is a CNI `.conf` (one plugin) or `.conflist` (a chain) in
`<system-config>/net.d` (default /usr/lib/rkt/net.d) or `<local-config>/net.d`
(default /etc/rkt/net.d); a local file overrides a system file of the same
name, and networks load in the lexical order of their file names, as rkt did.
A file whose network is named `default` or `default-restricted` replaces the
built-in one. Every configuration is kept as a conflist (`name`,
`cniVersion`, `plugins`), the one shape `pyrkt.net.cni` runs.

The built-in networks keep their host-local leases in IPAM_DIR, one host-wide
directory rather than one per `--dir`: the addresses, and the host routes ptp
adds for them, are host-wide, so two data dirs leasing from one directory each
would hand out the same 172.16.28.x twice and the second pod's route would
collide with the first's. rkt itself kept them in /var/lib/cni as well.
"""

from __future__ import annotations

import os

from pyrkt import fastjson  # json through _json alone: `import json` pulls in re (~6 ms of every pod)
from pyrkt.net import spec as netspec
from pyrkt.records import dataclass  # dataclasses costs ~6 ms at import (inspect, ast)

TYPE_CHECKING = False  # typing costs ~3 ms at import, on every `rkt run` on a CNI network
if TYPE_CHECKING:
    from typing import Any

IPAM_DIR = "/var/lib/cni/rkt"
DEFAULT_SUBNET = "172.16.28.0/24"
RESTRICTED_SUBNET = "172.17.0.0/16"


class NetConfigError(Exception):
    """A network that cannot be used: unknown, malformed; one line."""


@dataclass(frozen=True)
class Network:
    """One loadable network: its name, its conflist, and where it came from ("" for built-ins)."""

    name: str
    conflist: dict[str, Any]
    source: str = ""
    masquerade: str = ""  # the subnet pyrkt masquerades itself (the built-in default; see pyrkt.net.masq)

    @property
    def ip_masq(self) -> bool:
        return bool(self.masquerade) or any(bool(p.get("ipMasq")) for p in self.conflist["plugins"])


def builtin(name: str) -> Network:
    if name == netspec.DEFAULT:
        ipam = {"type": "host-local", "subnet": DEFAULT_SUBNET, "routes": [{"dst": "0.0.0.0/0"}], "dataDir": IPAM_DIR}
        plugin = {"type": "ptp", "ipMasq": False, "ipam": ipam}  # masqueraded by pyrkt.net.masq
        return Network(name, {"cniVersion": "0.4.0", "name": name, "plugins": [plugin]}, masquerade=DEFAULT_SUBNET)
    ipam = {"type": "host-local", "subnet": RESTRICTED_SUBNET, "dataDir": IPAM_DIR}
    plugin = {"type": "ptp", "ipMasq": False, "ipam": ipam}
    return Network(name, {"cniVersion": "0.4.0", "name": name, "plugins": [plugin]})


def parse_file(path: str, text: str) -> Network:
    """A .conf or .conflist into a Network; NetConfigError naming the file when it is malformed."""
    where = os.path.basename(path)
    try:
        data = fastjson.loads(text)
    except ValueError as exc:
        raise NetConfigError(f"network config {path}: not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise NetConfigError(f"network config {path}: not a JSON object")
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise NetConfigError(f"network config {path}: no \"name\"")
    version = data.get("cniVersion", "0.4.0")
    if not isinstance(version, str):
        raise NetConfigError(f"network {name} ({where}): cniVersion is not a string")
    if path.endswith(".conflist"):
        plugins = data.get("plugins")
        if not isinstance(plugins, list) or not plugins:
            raise NetConfigError(f"network {name} ({where}): \"plugins\" is not a non-empty list")
    else:
        plugins = [{k: v for k, v in data.items() if k not in ("name", "cniVersion")}]
    for p in plugins:
        if not isinstance(p, dict) or not isinstance(p.get("type"), str) or not p["type"]:
            raise NetConfigError(f"network {name} ({where}): a plugin has no \"type\"")
    return Network(name, {"cniVersion": version, "name": name, "plugins": plugins}, path)


def load_named(local_config: str, system_config: str) -> list[Network]:
    """Every network of the net.d dirs, in lexical order of the file names (local overrides system)."""
    files: dict[str, str] = {}
    for base in (system_config, local_config):
        d = os.path.join(base, "net.d") if base else ""
        try:
            names = os.listdir(d) if d else []
        except OSError:
            continue
        for n in names:
            if n.endswith((".conf", ".conflist")) and not n.startswith("."):
                files[n] = os.path.join(d, n)
    out: list[Network] = []
    seen: dict[str, str] = {}
    for n in sorted(files):
        path = files[n]
        try:
            with open(path) as f:
                text = f.read()
        except OSError as exc:
            raise NetConfigError(f"network config {path}: {exc.strerror}") from None
        net = parse_file(path, text)
        if net.name in seen:
            raise NetConfigError(f"network {net.name} is configured twice: {seen[net.name]} and {path}")
        seen[net.name] = path
        out.append(net)
    return out


def resolve(requests: tuple[netspec.NetRequest, ...], local_config: str, system_config: str
            ) -> list[tuple[Network, netspec.NetRequest]]:
    """The networks a pod joins, in the order they are added (their interfaces eth0, eth1, …).

    rkt's rules: the named networks in the lexical order of their files, then
    `default`; `all` is every named network plus `default`; named networks
    without `default` get `default-restricted`, so the pod still reaches the
    host. Unknown names are an error.
    """
    names = {r.name: r for r in requests}
    user = load_named(local_config, system_config)
    by_name = {n.name: n for n in user}
    known = set(by_name) | {netspec.DEFAULT, netspec.DEFAULT_RESTRICTED}
    for r in requests:
        if r.name not in known and r.name != netspec.ALL:
            raise NetConfigError(f"--net: network {r.name} not found (no such network in {os.path.join(local_config, 'net.d')} "
                                 f"or {os.path.join(system_config, 'net.d')})")
    everything = netspec.ALL in names
    out: list[tuple[Network, netspec.NetRequest]] = []
    for net in user:
        if net.name in (netspec.DEFAULT, netspec.DEFAULT_RESTRICTED):
            continue
        if everything or net.name in names:
            out.append((net, names.get(net.name) or netspec.NetRequest(net.name)))
    if everything or netspec.DEFAULT in names:
        last = netspec.DEFAULT
    elif out or netspec.DEFAULT_RESTRICTED in names:
        last = netspec.DEFAULT_RESTRICTED
    else:
        last = ""
    if last:
        out.append((by_name.get(last) or builtin(last), names.get(last) or netspec.NetRequest(last)))
    return out


def port_network(nets: list[Network]) -> int:
    """The index of the network --port forwards through: the first with ipMasq, else the last (rkt's rule)."""
    for i, n in enumerate(nets):
        if n.ip_masq:
            return i
    return len(nets) - 1
