"""A pod's CNI networks: ADD before its apps start, DEL when it exits and again in `rkt gc`.

State lives in `<pod dir>/networks.json`, written before the first ADD (the
networks, their configurations and interface names, with no results yet) and
after each one: whatever point a pod dies at, `teardown` knows what may have
been added and deletes it (CNI DEL of what was never added succeeds), so no
veth, route, iptables rule or IPAM lease outlives the pod. A failed ADD
deletes everything added so far, the failed network included.
"""

from __future__ import annotations

import json
import os
import socket
from typing import Any

from pyrkt.net import cni, config, masq, netns
from pyrkt.net import spec as netspec

STATE = "networks.json"
PORTMAP = {"type": "portmap", "capabilities": {"portMappings": True}, "snat": True}


class NetError(Exception):
    """Setting up a pod's networks failed (everything was rolled back); one line."""


def _write(pod_dir: str, state: dict[str, Any]) -> None:
    tmp = os.path.join(pod_dir, STATE + ".tmp")
    with open(tmp, "w") as f:
        json.dump(state, f)
    os.rename(tmp, os.path.join(pod_dir, STATE))


def read(pod_dir: str) -> dict[str, Any] | None:
    try:
        with open(os.path.join(pod_dir, STATE)) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def plan(values: list[str] | None, ports: list[dict[str, Any]], local_config: str, system_config: str
         ) -> list[dict[str, Any]]:
    """The attachments (one per network, in order) a pod with these --net values and ports gets.

    Raises NetError for an unknown network or a malformed configuration.
    """
    try:
        requests = netspec.parse_nets(values or [netspec.DEFAULT])
        nets = config.resolve(requests, local_config, system_config)
    except (netspec.NetSpecError, config.NetConfigError) as exc:
        raise NetError(str(exc)) from None
    if not nets:
        raise NetError("--net: no network to join")
    port_at = config.port_network([n for n, _ in nets]) if ports else -1
    out = []
    for i, (net, req) in enumerate(nets):
        conflist = dict(net.conflist)
        runtime_config: dict[str, Any] = {}
        if i == port_at:
            plugins = list(conflist["plugins"])
            if not any(p.get("type") == "portmap" for p in plugins):
                plugins.append(dict(PORTMAP))
            conflist["plugins"] = plugins
            runtime_config["portMappings"] = [
                {"hostPort": p["hostPort"], "containerPort": p["containerPort"], "protocol": p["protocol"],
                 **({"hostIP": p["hostIP"]} if p.get("hostIP") else {})} for p in ports]
        out.append({"name": net.name, "ifname": f"eth{i}", "args": req.cni_args(), "conflist": conflist,
                    "runtime_config": runtime_config, "source": net.source, "result": None,
                    "masquerade": net.masquerade})
    return out


def reserve_ports(ports: list[dict[str, Any]]) -> list[socket.socket]:
    """Hold each host port open for the pod's lifetime (as podman's conmon does), or fail if it is taken.

    A DNAT rule would silently steal a port a host service listens on; holding
    it also keeps a second pod from mapping the same one. Connections to the
    port never reach these sockets: the portmap rules redirect them first.
    """
    socks: list[socket.socket] = []
    try:
        for p in ports:
            tcp = p["protocol"] == "tcp"
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM)
            socks.append(s)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((p.get("hostIP") or "0.0.0.0", p["hostPort"]))
                if tcp:
                    s.listen(1)
            except OSError as exc:
                where = f"{p['hostIP']}:{p['hostPort']}" if p.get("hostIP") else str(p["hostPort"])
                raise NetError(f"--port {p['name']}:{where}: {exc.strerror} on the host") from None
    except BaseException:
        for s in socks:
            s.close()
        raise
    return socks


def setup(pod_dir: str, container_id: str, init_pid: int, attachments: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Bind the pod's netns and ADD every network; returns the attachments with their results.

    On error everything added is deleted again and NetError says which network
    and plugin failed, with the plugin's own message.
    """
    state = {"container_id": container_id, "attachments": attachments}
    _write(pod_dir, state)
    ns = netns.bind(pod_dir, init_pid)
    try:
        for att in attachments:
            att["result"] = {}  # ADD started: teardown deletes it whatever happens next
            _write(pod_dir, state)
            att["result"] = cni.add(att["conflist"], container_id, ns, att["ifname"], att["args"],
                                    runtime_config=att["runtime_config"])
            ip = cni.ip4(att["result"]) if att.get("masquerade") else None
            if ip:
                att["masq_rule"] = masq.rule(ip[0], att["masquerade"], container_id, att["name"])
            _write(pod_dir, state)
            if ip:
                masq.add(att["masq_rule"])
    except (cni.CniError, masq.MasqError) as exc:
        teardown(pod_dir)
        raise NetError(str(exc) if isinstance(exc, cni.CniError) else f"network {att['name']}: {exc}") from None
    except BaseException:
        teardown(pod_dir)
        raise
    return attachments


def teardown(pod_dir: str) -> list[str]:
    """DEL every network the pod may have (last first), then drop its netns; idempotent. Returns errors."""
    state = read(pod_dir)
    errors: list[str] = []
    if state:
        ns = netns.path(pod_dir) if netns.is_bound(pod_dir) else ""
        changed = False
        for att in reversed(state.get("attachments") or []):
            if att.get("result") is None or att.get("deleted"):
                continue  # never added, or already deleted
            # the pod's masquerade rule goes while the plugins' DEL runs (independent)
            pending = masq.start_delete(att["masq_rule"]) if att.get("masq_rule") else None
            # an ADD that failed (result still {}): its plugins' DEL errors mean nothing more
            # (a plugin missing from CNI_PATH, a config its own ADD refused), so it counts as deleted
            errs = cni.delete(att["conflist"], str(state.get("container_id", "")), ns, att["ifname"], att.get("args", ""),
                              runtime_config=att.get("runtime_config"), result=att.get("result") or None)
            masq_err = masq.finish_delete(pending, att["masq_rule"]) if att.get("masq_rule") else None
            if masq_err:
                errors.append(f"network {att['name']}: {masq_err}")
                continue
            if errs and att.get("result"):
                errors.extend(errs)  # kept: the next teardown (rkt gc) tries again
            else:
                att["deleted"] = True
                changed = True
        if changed:
            _write(pod_dir, state)
    if not errors:
        netns.release(pod_dir)
    return errors


def summary(state: dict[str, Any] | None) -> list[dict[str, str]]:
    """Per network: netName, ifName, ip, mask, args (rkt's list/status fields)."""
    out = []
    for att in (state or {}).get("attachments") or []:
        res = att.get("result")
        if not res:
            continue
        ip = cni.ip4(res)
        mask = ""
        if ip:
            bits = int(ip[1]) if ip[1].isdigit() else 32
            n = (0xFFFFFFFF << (32 - bits)) & 0xFFFFFFFF
            mask = ".".join(str((n >> s) & 255) for s in (24, 16, 8, 0))
        out.append({"netName": att["name"], "netConf": att.get("source", ""), "ifName": att["ifname"],
                    "ip": ip[0] if ip else "", "mask": mask, "args": att.get("args", "")})
    return out


def pod_ip(attachments: list[dict[str, Any]]) -> str | None:
    for att in attachments:
        ip = cni.ip4(att.get("result") or {})
        if ip:
            return ip[0]
    return None
