"""A pod's CNI networks: ADD before its apps start, DEL when it exits and again in `rkt gc`.

State lives in `<pod dir>/networks.json`, written before the first ADD (the
networks, their configurations and interface names, with no results yet) and
after each one: whatever point a pod dies at, `teardown` knows what may have
been added and deletes it (CNI DEL of what was never added succeeds), so no
veth, route, iptables rule or IPAM lease outlives the pod. A failed ADD
deletes everything added so far, the failed network included.

Both directions are split in a start and a finish (`start`/`finish`,
`start_teardown`/`finish_teardown`) so that `rkt run` creates the pod's
containers while its networks are added, and removes them while its networks
are deleted. The built-in networks' ptp part runs in this process
(pyrkt.net.ptp); everything else is the plugins'.
"""

from __future__ import annotations

import os

from pyrkt import fastjson  # json through _json alone: `import json` pulls in re (~6 ms of every pod)
from pyrkt.net import cni, config, masq, netns, ptp, veth
from pyrkt.net import spec as netspec

TYPE_CHECKING = False  # typing costs ~3 ms at import, on every `rkt run` on a CNI network
if TYPE_CHECKING:
    import socket
    from typing import Any

STATE = "networks.json"
PORTMAP = {"type": "portmap", "capabilities": {"portMappings": True}, "snat": True}


class NetError(Exception):
    """Setting up a pod's networks failed (everything was rolled back); one line."""


def _write(pod_dir: str, state: dict[str, Any]) -> None:
    tmp = os.path.join(pod_dir, STATE + ".tmp")
    with open(tmp, "w") as f:
        f.write(fastjson.dumps(state))
    os.rename(tmp, os.path.join(pod_dir, STATE))


def read(pod_dir: str) -> dict[str, Any] | None:
    try:
        with open(os.path.join(pod_dir, STATE)) as f:
            data = fastjson.loads(f.read())
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
    if not ports:
        return []
    import socket  # ~2-10 ms (its enums): only for a pod with --port

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


def _builtin(att: dict[str, Any]) -> bool:
    """One of pyrkt's own networks (not a net.d file that took the name)."""
    return not att.get("source") and att["name"] in (netspec.DEFAULT, netspec.DEFAULT_RESTRICTED)


def known_before_add(attachments: list[dict[str, Any]]) -> bool:
    """True when the ADD's outcome is known but for the address: only built-in networks.

    Their ptp + host-local (and portmap) always give an IPv4 address and no
    DNS, so the pod's hosts and resolv.conf files can be made before the ADD
    ends, and its containers created while it runs. A network from net.d may
    give DNS servers or no IPv4 address: its ADD ends first.
    """
    return all(_builtin(a) for a in attachments)


class Adding:
    """A pod's CNI ADD under way (`start`): the chain of the network being added runs; `finish` does the rest."""

    __slots__ = ("pod_dir", "state", "ns", "index", "chain", "masq_child")

    def __init__(self, pod_dir: str, state: dict[str, Any], ns: str) -> None:
        self.pod_dir, self.state, self.ns = pod_dir, state, ns
        self.index = -1
        self.chain: cni.Chain | None = None
        self.masq_child: Any = None  # iptables adding the masquerade rule, when the address came early

    @property
    def attachments(self) -> list[dict[str, Any]]:
        return self.state["attachments"]  # type: ignore[no-any-return]

    def _start_next(self) -> None:
        self.index += 1
        if self.index >= len(self.attachments):
            return
        att = self.attachments[self.index]
        att["result"] = {}  # ADD started: teardown deletes it whatever happens next
        own = ptp.owns(att)
        if own:
            att["veth"] = ptp.plan()  # recorded first: a teardown finds the pair whatever happens next
        _write(self.pod_dir, self.state)
        conflist, prev = att["conflist"], None
        if own:  # the ptp part in this process (pyrkt.net.ptp), the list's other plugins (portmap) after it
            try:
                prev = ptp.add(att, self.state["container_id"], self.ns)
            except ptp.PtpError as exc:
                raise cni.CniError(att["name"], "ptp", str(exc)) from None
            conflist = {**conflist, "plugins": conflist["plugins"][1:]}
            ip = cni.ip4(prev) if att.get("masquerade") else None
            if ip:  # the address is known now: the rule is added while the containers are made
                att["masq_rule"] = masq.rule(ip[0], att["masquerade"], self.state["container_id"], att["name"])
                _write(self.pod_dir, self.state)  # first: a teardown deletes the rule whatever happens next
                self.masq_child = masq.start_add(att["masq_rule"])
        self.chain = cni.start_add(conflist, self.state["container_id"], self.ns, att["ifname"], att["args"],
                                   runtime_config=att["runtime_config"], prev=prev)

    def _drain(self) -> None:
        """Wait for the plugin still running (its error does not matter: a teardown follows)."""
        chain, self.chain = self.chain, None
        if chain is not None:
            try:
                cni.finish_add(chain)
            except cni.CniError:
                pass
        child, self.masq_child = self.masq_child, None
        if child is not None:
            try:
                masq.finish_add(child)
            except masq.MasqError:
                pass


def start(pod_dir: str, container_id: str, init_pid: int, attachments: list[dict[str, Any]]) -> Adding:
    """Bind the pod's netns and start the ADD of its first network; returns at once (see `finish`).

    The pod's containers can be created meanwhile (ptp's ADD runs ~10-15 ms);
    their apps must not start before `finish` returned. On error everything
    added is deleted again and NetError says which network and plugin failed.
    """
    state = {"container_id": container_id, "attachments": attachments}
    _write(pod_dir, state)
    adding = Adding(pod_dir, state, netns.bind(pod_dir, init_pid))
    _run(adding, adding._start_next)
    return adding


def finish(adding: Adding) -> list[dict[str, Any]]:
    """Wait for the ADD `start` began and add the pod's other networks; the attachments with their results."""
    _run(adding, lambda: _finish(adding))
    return adding.attachments


def abandon(adding: Adding) -> None:
    """The pod failed before `finish`: wait for the running plugin, so that a teardown sees all it added."""
    adding._drain()


def _finish(adding: Adding) -> None:
    while adding.chain is not None:
        att = adding.attachments[adding.index]
        chain, adding.chain = adding.chain, None
        att["result"] = cni.finish_add(chain)
        if adding.masq_child is not None:  # started with the ADD (pyrkt.net.ptp gave the address)
            _write(adding.pod_dir, adding.state)
            child, adding.masq_child = adding.masq_child, None
            masq.finish_add(child)
        else:
            ip = cni.ip4(att["result"]) if att.get("masquerade") else None
            if ip:
                att["masq_rule"] = masq.rule(ip[0], att["masquerade"], adding.state["container_id"], att["name"])
            _write(adding.pod_dir, adding.state)
            if ip:
                masq.add(att["masq_rule"])
        adding._start_next()


def _run(adding: Adding, step: Any) -> None:
    """Run a step of the ADD; on error roll everything back and raise NetError (or what came)."""
    try:
        step()
    except (cni.CniError, masq.MasqError) as exc:
        adding._drain()
        teardown(adding.pod_dir)
        if isinstance(exc, cni.CniError):
            raise NetError(str(exc)) from None
        raise NetError(f"network {adding.attachments[adding.index]['name']}: {exc}") from None
    except BaseException:
        adding._drain()
        teardown(adding.pod_dir)
        raise


def setup(pod_dir: str, container_id: str, init_pid: int, attachments: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Bind the pod's netns and ADD every network; returns the attachments with their results (start + finish)."""
    return finish(start(pod_dir, container_id, init_pid, attachments))


class Tearing:
    """A pod's DEL under way (`start_teardown`): one network's DEL chain and masquerade rule removal run."""

    __slots__ = ("pod_dir", "state", "ns", "todo", "current", "errors", "changed")

    def __init__(self, pod_dir: str, state: dict[str, Any] | None) -> None:
        self.pod_dir, self.state = pod_dir, state
        self.ns = netns.path(pod_dir) if state and netns.is_bound(pod_dir) else ""
        # last first; never added, or already deleted: nothing to do
        self.todo = [a for a in reversed((state or {}).get("attachments") or [])
                     if a.get("result") is not None and not a.get("deleted")]
        self.current: tuple[dict[str, Any], cni.Chain, Any, Any, str | None] | None = None
        self.errors: list[str] = []
        self.changed = False

    def _start_next(self) -> None:
        if not self.todo:
            return
        att = self.todo.pop(0)
        # the pod's masquerade rule goes while the plugins' DEL runs (independent)
        pending = masq.start_delete(att["masq_rule"]) if att.get("masq_rule") else None
        ns, conflist, cid = self.ns, att["conflist"], str((self.state or {}).get("container_id", ""))
        link, lease_err = None, None
        if ptp.owns(att):  # pyrkt's ptp (pyrkt.net.ptp): the pair goes by `ip link del`, the lease here
            link = veth.start_delete(att["result"], att.get("veth"))
            lease_err = ptp.release(att, cid)
            conflist = {**conflist, "plugins": conflist["plugins"][1:]}
        chain = cni.start_delete(conflist, cid, ns, att["ifname"], att.get("args", ""),
                                 runtime_config=att.get("runtime_config"), result=att.get("result") or None)
        self.current = (att, chain, pending, link, lease_err)

    def _finish_current(self) -> None:
        assert self.current is not None
        att, chain, pending, link, lease_err = self.current
        self.current = None
        # an ADD that failed (result still {}): its plugins' DEL errors mean nothing more
        # (a plugin missing from CNI_PATH, a config its own ADD refused), so it counts as deleted
        errs = cni.finish_delete(chain)
        link_err = veth.finish_delete(link) if link is not None else None
        if link_err:
            errs.append(f"network {att['name']}: {link_err}")
        if lease_err:
            errs.append(lease_err)
        masq_err = masq.finish_delete(pending, att["masq_rule"]) if att.get("masq_rule") else None
        if masq_err:
            self.errors.append(f"network {att['name']}: {masq_err}")
        elif errs and att.get("result"):
            self.errors.extend(errs)  # kept: the next teardown (rkt gc) tries again
        else:
            att["deleted"] = True
            self.changed = True


def start_teardown(pod_dir: str) -> Tearing:
    """Start deleting the pod's networks (the last one's DEL runs); `finish_teardown` completes it."""
    tearing = Tearing(pod_dir, read(pod_dir))
    tearing._start_next()
    return tearing


def finish_teardown(tearing: Tearing) -> list[str]:
    """Wait for the DEL under way, delete the other networks, drop the netns; the errors (kept for gc)."""
    while tearing.current is not None:
        tearing._finish_current()
        tearing._start_next()
    if tearing.changed and tearing.state is not None:
        _write(tearing.pod_dir, tearing.state)
    if not tearing.errors:
        netns.release(tearing.pod_dir)
    return tearing.errors


def teardown(pod_dir: str) -> list[str]:
    """DEL every network the pod may have (last first), then drop its netns; idempotent. Returns errors."""
    return finish_teardown(start_teardown(pod_dir))


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
