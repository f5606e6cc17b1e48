"""pyrkt.net without root: the flag parsers, network config loading and order, the CNI protocol with a fake plugin."""

from __future__ import annotations

import json
import os

import pytest

from pyrkt.net import cni, config, dns
from pyrkt.net import spec as netspec
from pyrkt.net.setup import plan, summary



def test_net_values_and_cni_args() -> None:
    reqs = netspec.parse_nets(["default,net1:IP=10.213.0.9;K2=V2", "net2"])
    assert [r.name for r in reqs] == ["default", "net1", "net2"]
    assert reqs[1].cni_args() == "IgnoreUnknown=1;IP=10.213.0.9;K2=V2" and reqs[0].cni_args() == ""
    assert netspec.mode(None) == "cni" and netspec.mode(["host"]) == "host" and netspec.mode(["none"]) == "none"
    for bad, msg in ((["host,default"], "cannot be combined"), (["net1:novalue"], "not KEY=VALUE"), (["a", "a"], "twice"),
                     (["-x"], "not a network name"), (["host:K=V"], "takes no arguments")):
        with pytest.raises(netspec.NetSpecError, match=msg):
            netspec.parse_nets(bad)


def test_port_and_hosts_entry() -> None:
    assert netspec.parse_port("http:8080") == netspec.PortRequest("http", 8080)
    assert netspec.parse_port("80-tcp:127.0.0.1:8080") == netspec.PortRequest("80-tcp", 8080, "127.0.0.1")
    for bad in ("http", "http:0", "http:65536", "http:1.2.3:80", ":80", "a:b:c:d"):
        with pytest.raises(netspec.NetSpecError):
            netspec.parse_port(bad)
    assert netspec.parse_hosts_entry("10.0.0.1=foo") == ("10.0.0.1", "foo") and netspec.parse_hosts_entry("host") is None
    with pytest.raises(netspec.NetSpecError):
        netspec.parse_hosts_entry("foo")


def test_resolv_conf_choice() -> None:
    assert dns.resolv_conf([], [], [], None) is None and dns.resolv_conf(["host"], [], [], None) == "host"
    assert dns.resolv_conf(["none"], [], [], None) == "none"
    text = dns.resolv_conf(["10.0.0.53"], ["a.test"], ["ndots:2"], "a.test")
    assert text and text.endswith("nameserver 10.0.0.53\ndomain a.test\nsearch a.test\noptions ndots:2\n")
    cni_res = [{"dns": {}}, {"dns": {"nameservers": ["10.0.0.1"], "search": ["s.test"]}}]
    assert dns.choose(None, "cni", cni_res) == dns.HEADER + "nameserver 10.0.0.1\nsearch s.test\n"
    assert dns.choose("none", "cni", cni_res) is None and dns.choose(None, "cni", []) is None


def _write(d: str, name: str, data: object) -> None:
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "w") as f:
        f.write(data if isinstance(data, str) else json.dumps(data))


def test_networks_order_overrides_and_builtins(tmp_path) -> None:  # type: ignore[no-untyped-def]
    local, system = str(tmp_path / "local"), str(tmp_path / "system")
    _write(f"{system}/net.d", "20-b.conf", {"name": "b", "type": "bridge"})
    _write(f"{system}/net.d", "30-c.conf", {"name": "c", "type": "ptp"})
    _write(f"{local}/net.d", "30-c.conf", {"name": "c", "type": "macvlan"})  # local overrides system
    _write(f"{local}/net.d", "10-a.conflist", {"cniVersion": "1.0.0", "name": "a", "plugins": [{"type": "ptp", "ipMasq": True}, {"type": "tuning"}]})
    nets = config.resolve(netspec.parse_nets(["c,a"]), local, system)
    assert [(n.name, n.conflist["plugins"][0]["type"]) for n, _ in nets] == [("a", "ptp"), ("c", "macvlan"), ("default-restricted", "ptp")]
    assert [n.name for n, _ in config.resolve(netspec.parse_nets(["all"]), local, system)] == ["a", "b", "c", "default"]
    default = config.resolve(netspec.parse_nets(["default"]), local, system)[0][0]
    ipam = default.conflist["plugins"][0]["ipam"]
    assert ipam["subnet"] == "172.16.28.0/24" and ipam["routes"] == [{"dst": "0.0.0.0/0"}] and default.ip_masq
    assert not config.builtin("default-restricted").ip_masq
    with pytest.raises(config.NetConfigError, match="network nosuch not found"):
        config.resolve(netspec.parse_nets(["nosuch"]), local, system)
    # --port goes to the first network with ipMasq, else the last
    ports = [{"name": "http", "protocol": "tcp", "containerPort": 80, "hostPort": 8080, "hostIP": ""}]
    atts = plan(["c,a"], ports, local, system)
    assert [a["conflist"]["plugins"][-1]["type"] for a in atts] == ["portmap", "macvlan", "ptp"]
    assert atts[0]["runtime_config"] == {"portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]}
    assert [a["ifname"] for a in atts] == ["eth0", "eth1", "eth2"]
    _write(f"{local}/net.d", "40-bad.conf", {"name": "bad"})
    with pytest.raises(config.NetConfigError, match="a plugin has no \"type\""):
        config.load_named(local, system)


FAKE = """#!/bin/sh
# a CNI plugin: records its environment and stdin, answers a result or the spec's error object
cat > "$0.$CNI_COMMAND.stdin"
env | grep ^CNI_ | sort > "$0.$CNI_COMMAND.env"
if grep -q '"fail"' "$0.$CNI_COMMAND.stdin"; then
  echo '{"code": 11, "msg": "it failed", "details": "on purpose"}'; exit 1
fi
[ "$CNI_COMMAND" = ADD ] && echo '{"cniVersion": "0.4.0", "ips": [{"version": "4", "address": "10.213.0.7/24"}]}'
exit 0
"""


def test_cni_protocol_with_a_fake_plugin(tmp_path) -> None:  # type: ignore[no-untyped-def]
    plugin = tmp_path / "fake"
    plugin.write_text(FAKE)
    plugin.chmod(0o755)
    path = (str(tmp_path),)
    netconf = {"cniVersion": "0.4.0", "name": "n1", "plugins": [{"type": "fake", "a": 1}, {"type": "fake", "capabilities": {"portMappings": True}}]}
    res = cni.add(netconf, "cid", "/x/netns", "eth3", "IgnoreUnknown=1;K=V", path, runtime_config={"portMappings": [1], "other": 2})
    assert cni.ip4(res) == ("10.213.0.7", "24")
    env = (tmp_path / "fake.ADD.env").read_text()
    assert env == ("CNI_ARGS=IgnoreUnknown=1;K=V\nCNI_COMMAND=ADD\nCNI_CONTAINERID=cid\nCNI_IFNAME=eth3\n"
                   f"CNI_NETNS=/x/netns\nCNI_PATH={tmp_path}\n")
    last = json.loads((tmp_path / "fake.ADD.stdin").read_text())  # the second plugin's: chained
    assert last["name"] == "n1" and last["cniVersion"] == "0.4.0" and cni.ip4(last["prevResult"]) == ("10.213.0.7", "24")
    assert last["runtimeConfig"] == {"portMappings": [1]}  # only the capabilities it declares
    assert cni.delete(netconf, "cid", "", "eth3", "", path, result=res) == []
    first_del = json.loads((tmp_path / "fake.DEL.stdin").read_text())  # reverse order: the first plugin ran last
    assert first_del["a"] == 1 and "prevResult" in first_del
    with pytest.raises(cni.CniError, match="network n2: plugin fake: it failed \\(on purpose\\)"):
        cni.add({"cniVersion": "0.4.0", "name": "n2", "plugins": [{"type": "fake", "fail": True}]}, "cid", "", "eth0", "", path)
    with pytest.raises(cni.CniError, match="plugin nothere: not found in CNI_PATH"):
        cni.add({"cniVersion": "0.4.0", "name": "n3", "plugins": [{"type": "nothere"}]}, "cid", "", "eth0", "", path)
    assert cni.ip4({"ip4": {"ip": "10.0.0.2/16"}}) == ("10.0.0.2", "16")  # 0.1/0.2 results
    state = {"attachments": [{"name": "n1", "ifname": "eth0", "args": "", "result": res}, {"name": "x", "ifname": "eth1", "result": None}]}
    assert summary(state) == [{"netName": "n1", "netConf": "", "ifName": "eth0", "ip": "10.213.0.7", "mask": "255.255.255.0", "args": ""}]
