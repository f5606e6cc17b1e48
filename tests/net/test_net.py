"""CNI networking of rkt pods, through the installed `rkt` command, with the real plugins in /usr/lib/cni.

Every test compares a snapshot of the host's veths, routes, iptables rules
and IPAM leases before and after its pods: nothing a pod's networks made may
outlive the pod (normal exit, `rkt stop`, `kill -9` of `rkt run` + `rkt gc`,
a failed setup).
"""

from __future__ import annotations

import http.server
import json
import os
import signal
import socket
import subprocess
import threading
import urllib.request

import pytest
from netfixtures import free_port, snapshot

pytestmark = pytest.mark.root

TOOL = "example.com/nettool"
WEB = "example.com/web"


def sh(script: str) -> list[str]:
    return [TOOL, "--exec=/bin/sh", "--", "-c", script, "---"]


def one_line_254(r) -> None:  # type: ignore[no-untyped-def]
    assert r.code == 254, (r.code, r.out, r.err)
    assert len(r.err.strip().splitlines()) == 1 and "Traceback" not in r.err, r.err


def pod_networks(net, uuid: str) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
    r = net("status", "--format=json", uuid)
    assert r.code == 0, r.err
    return json.loads(r.out)["networks"]  # type: ignore[no-any-return]


def start(net, *args: str):  # type: ignore[no-untyped-def]
    """`rkt run` in the background; returns (process, uuid) once the pod's apps have started."""
    uuid_file = os.path.join(net.tmp, f"uuid-{len(os.listdir(net.tmp))}")
    proc = net.spawn("run", f"--uuid-file-save={uuid_file}", *args)
    for _ in range(600):
        if os.path.exists(uuid_file) and open(uuid_file).read():
            break
        assert proc.poll() is None, proc.communicate()
        threading.Event().wait(0.05)
    uuid = open(uuid_file).read().strip()
    r = net("status", "--wait-ready=30s", uuid)
    assert r.code == 0, r.err
    return proc, uuid


def http_get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return resp.read().decode()  # type: ignore[no-any-return]


def test_default_network_address_route_masquerade_both_ways_and_stop(net):  # type: ignore[no-untyped-def]
    before = snapshot()
    # a host server the pod calls on its gateway (the host side of its veth)
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"from the host\n")

        def log_message(self, *a: object) -> None:
            pass

    srv = http.server.HTTPServer(("0.0.0.0", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        script = (f"ip -4 -o addr show eth0; ip -4 route; wget -q -O- http://172.16.28.1:{srv.server_port}/; "
                  "httpd -p 80 -h /www; echo ready; sleep 60")
        proc, uuid = start(net, *sh(script))  # no --net: the default network
        nets = pod_networks(net, uuid)
        assert [n["netName"] for n in nets] == ["default"] and nets[0]["ifName"] == "eth0"
        ip = nets[0]["ip"]
        assert ip.startswith("172.16.28.") and nets[0]["mask"] == "255.255.255.0"
        assert f"default:ip4={ip}" in net("list", "--no-legend").out
        assert f"networks=default:ip4={ip}" in net("status", uuid).out
        # masquerade: listed, never exercised (no packet leaves the host)
        nat = subprocess.run(["iptables-save", "-t", "nat"], capture_output=True, text=True, check=True).stdout
        assert any(f"-s {ip}/32" in line and uuid in line for line in nat.splitlines()), nat
        assert "-j MASQUERADE" in nat
        assert http_get(f"http://{ip}/") == "page from a pyrkt pod\n"  # host -> pod
        for _ in range(200):
            log = net("status", "--logs", uuid).out
            if "ready" in log:
                break
            threading.Event().wait(0.05)
        assert f"inet {ip}/24" in log and "default via 172.16.28.1 dev eth0" in log, log
        assert "from the host" in log, log  # pod -> host
        assert net("stop", uuid).code == 0
        proc.wait(timeout=30)
    finally:
        srv.shutdown()
    assert snapshot() == before


def test_port_from_another_netns_and_localhost_then_kill9_and_gc(net, other_ns):  # type: ignore[no-untyped-def]
    ns, host_ip = other_ns
    before = snapshot()
    port = free_port()
    proc, uuid = start(net, f"--port=http:{port}", WEB)
    assert http_get(f"http://127.0.0.1:{port}/") == "page from a pyrkt pod\n"
    r = subprocess.run(["ip", "netns", "exec", ns, "wget", "-q", "-O-", f"http://{host_ip}:{port}/"],
                       capture_output=True, text=True, timeout=30)
    if r.returncode == 127 or "No such file" in r.stderr:  # no wget on the host: busybox's
        r = subprocess.run(["ip", "netns", "exec", ns, "busybox", "wget", "-q", "-O-", f"http://{host_ip}:{port}/"],
                           capture_output=True, text=True, timeout=30)
    assert r.stdout == "page from a pyrkt pod\n", r.stderr
    # the port is held: a second pod cannot take it, and nothing of the second one stays
    during = snapshot()
    r = net("run", f"--port=http:{port}", WEB)
    one_line_254(r)
    assert str(port) in r.err
    assert snapshot() == during
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    r = net("gc", "--grace-period=0s")
    assert r.code == 0, r.err
    assert snapshot() == before


def test_two_pods_on_a_named_bridge_network_with_cni_args_dns_and_several_networks(net):  # type: ignore[no-untyped-def]
    br = f"pyrktbr{net.octet}"
    net.write("10-pyrkt-br.conflist", {"cniVersion": "1.0.0", "name": "pyrkt-br", "plugins": [
        {"type": "bridge", "bridge": br, "isGateway": True, "ipam": net.ipam(0),
         "dns": {"nameservers": [f"{net.subnet(0)}.53"], "search": ["pyrkt.test"]}}]})
    net.write("20-pyrkt-ptp.conf", {"cniVersion": "0.4.0", "name": "pyrkt-ptp", "type": "ptp", "ipam": net.ipam(1)})
    lease_dir = os.path.join(net.tmp, "leases")
    before = snapshot(lease_dir)
    fixed = f"{net.subnet(0)}.77"
    proc, uuid = start(net, f"--net=pyrkt-br:IP={fixed};PYRKT_UNUSED=1", *sh("httpd -p 80 -h /www; sleep 60"))
    nets = pod_networks(net, uuid)
    # named networks without `default` get default-restricted (the pod still reaches the host)
    assert [(n["netName"], n["ifName"]) for n in nets] == [("pyrkt-br", "eth0"), ("default-restricted", "eth1")]
    assert nets[0]["ip"] == fixed  # CNI_ARGS IP= reached host-local
    assert nets[1]["ip"].startswith("172.17.")
    # several networks as rkt lists them (fmtNets in rkt/list.go joins with ", "), in list and status
    joined = f"pyrkt-br:ip4={fixed}, default-restricted:ip4={nets[1]['ip']}"
    assert joined in net("list", "--no-legend").out and f"networks={joined}" in net("status", uuid).out
    script = (f"cat /etc/resolv.conf; ip -4 -o addr; ip -4 route; "
              f"wget -q -O- http://{fixed}/ && echo REACHED")
    r = net("run", "--net=pyrkt-ptp,pyrkt-br", *sh(script))
    assert r.code == 0, r.err
    assert "REACHED" in r.out and "page from a pyrkt pod" in r.out  # pod -> pod over the bridge
    assert f"nameserver {net.subnet(0)}.53" in r.out and "search pyrkt.test" in r.out  # the CNI result's dns
    assert "default via" not in r.out  # neither network, nor default-restricted, routes out
    # lexical order of the files: pyrkt-br (10-) eth0, pyrkt-ptp (20-) eth1, default-restricted eth2
    assert f"eth0    inet {net.subnet(0)}." in r.out and f"eth1    inet {net.subnet(1)}." in r.out, r.out
    assert "eth2    inet 172.17." in r.out, r.out
    assert net("stop", uuid).code == 0
    proc.wait(timeout=30)
    subprocess.run(["ip", "link", "del", br], capture_output=True)  # the bridge plugin keeps its bridge, by design
    assert snapshot(lease_dir) == before


def test_default_restricted_none_host_and_run_prepared_net(net):  # type: ignore[no-untyped-def]
    before = snapshot()
    r = net("run", "--net=default-restricted", TOOL)
    assert r.code == 0, r.err
    assert "inet 172.17." in r.out and "default via" not in r.out, r.out
    nat = subprocess.run(["iptables-save", "-t", "nat"], capture_output=True, text=True, check=True).stdout
    r = net("run", "--net=none", TOOL)
    assert r.code == 0, r.err
    assert r.out.split() == ["1:", "lo", "inet", "127.0.0.1/8", "scope", "host", "lo\\", "valid_lft", "forever",
                             "preferred_lft", "forever"], r.out
    host_ifs = sorted(subprocess.run(["ls", "/sys/class/net"], capture_output=True, text=True).stdout.split())
    r = net("run", "--net=host", *sh("ls /sys/class/net"))
    assert r.code == 0 and sorted(r.out.split()) == host_ifs, r.out
    assert "NETWORKS" in net("list").out
    uuid = net("prepare", "--quiet", "--net=host", TOOL).out.strip()
    r = net("run-prepared", "--net=default", uuid)
    assert r.code == 0, r.err
    assert "inet 172.16.28." in r.out and "default via 172.16.28.1" in r.out, r.out
    assert "MASQUERADE" not in nat or "172.17." not in nat  # default-restricted has no masquerade
    assert snapshot() == before


def test_dns_and_hosts_files(net):  # type: ignore[no-untyped-def]
    before = snapshot()
    r = net("run", "--hostname=webpod", "--dns=10.213.0.53", "--dns-search=pyrkt.test", "--dns-opt=ndots:2",
            "--dns-domain=pyrkt.test", "--hosts-entry=10.213.0.9=foo.pyrkt.test", *sh("cat /etc/resolv.conf /etc/hosts; ip -4 -o addr show eth0"))
    assert r.code == 0, r.err
    assert "nameserver 10.213.0.53\ndomain pyrkt.test\nsearch pyrkt.test\noptions ndots:2\n" in r.out
    ip = r.out.split("inet ")[1].split("/")[0]
    assert f"{ip}\twebpod\n" in r.out and "10.213.0.9\tfoo.pyrkt.test\n" in r.out and "127.0.0.1\tlocalhost" in r.out
    r = net("run", "--dns=none", *sh("test -e /etc/resolv.conf && echo HAS || echo NONE"))
    assert r.out.strip() == "NONE", r.out + r.err
    r = net("run", "--dns=host", "--hosts-entry=host", *sh("cat /etc/resolv.conf; echo ===; cat /etc/hosts"))
    host_resolv = open("/etc/resolv.conf").read() if os.path.exists("/etc/resolv.conf") else ""
    assert r.out == host_resolv + "===\n" + open("/etc/hosts").read(), r.out
    assert snapshot() == before  # normal exits leave nothing


def test_errors_are_one_line_and_roll_back(net):  # type: ignore[no-untyped-def]
    net.write("10-pyrkt-ok.conf", {"cniVersion": "0.4.0", "name": "pyrkt-ok", "type": "ptp", "ipam": net.ipam(0)})
    net.write("20-pyrkt-noplugin.conf", {"cniVersion": "0.4.0", "name": "pyrkt-noplugin", "type": "pyrkt-no-such-plugin"})
    net.write("30-pyrkt-badcidr.conf", {"cniVersion": "0.4.0", "name": "pyrkt-badcidr", "type": "ptp",
                                         "ipam": {"type": "host-local", "subnet": "10.213.0.0/99"}})
    one = f"{net.subnet(2)}.5"
    net.write("40-pyrkt-full.conf", {"cniVersion": "0.4.0", "name": "pyrkt-full", "type": "ptp",
                                      "ipam": net.ipam(2, rangeStart=one, rangeEnd=one)})
    lease_dir = os.path.join(net.tmp, "leases")
    os.makedirs(os.path.join(lease_dir, "pyrkt-full"))
    with open(os.path.join(lease_dir, "pyrkt-full", one), "w") as f:  # the only address is leased already
        f.write("someone-else\r\neth0")
    before = snapshot(lease_dir)
    cases = [
        (["--net=pyrkt-nosuch"], "network pyrkt-nosuch not found"),
        (["--net=pyrkt-ok,pyrkt-noplugin"], "network pyrkt-noplugin: plugin pyrkt-no-such-plugin: not found in CNI_PATH"),
        (["--net=pyrkt-ok,pyrkt-badcidr"], "network pyrkt-badcidr: plugin ptp: "),
        (["--net=pyrkt-ok,pyrkt-full"], "no IP addresses available"),
        (["--port=nosuch:8080"], "no app declares a port named 'nosuch'"),
        (["--net=host", "--port=http:8080"], "--port needs a CNI network"),
    ]
    for args, msg in cases:
        r = net("run", *args, WEB if "--port" in " ".join(args) else TOOL)
        one_line_254(r)
        assert msg in r.err, (args, r.err)
        assert snapshot(lease_dir) == before, args  # pyrkt-ok was added, then deleted again
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    try:
        r = net("run", f"--port=http:127.0.0.1:{taken.getsockname()[1]}", WEB)
        one_line_254(r)
        assert "Address already in use" in r.err, r.err
    finally:
        taken.close()
    net.write("50-pyrkt-bad.conflist", "{not json")
    r = net("run", TOOL)
    one_line_254(r)
    assert "50-pyrkt-bad.conflist: not JSON" in r.err
    for bad in ("--net=host,default", "--net=pyrkt-ok:novalue", "--port=http", "--port=http:99999", "--hosts-entry=foo"):
        r = net("run", bad, TOOL)
        one_line_254(r)
    assert snapshot(lease_dir) == before
