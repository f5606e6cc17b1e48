"""Helpers for the network tests: busybox images with ip/wget/httpd, a private store and net.d per test.

Everything global these tests touch is theirs: network names and bridges start
with `pyrkt`, subnets are 10.213.N.0/24 with N chosen per test, IPAM leases of
named networks live in the test's tmp dir, netns names start with `pyrkt-nt-`.
Packets go only to 127.0.0.1 and to the pods and namespaces a test made.
"""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "pod"))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "image"))

from imagebuild import Entry, aci_bytes, aci_manifest, busybox_entries  # noqa: E402
from podfixtures import cleanup, copy_store, run_rkt, spawn_rkt  # noqa: E402

APPLETS = ("sh", "ip", "cat", "echo", "wget", "httpd", "sleep", "hostname", "mkdir", "true", "ls", "grep", "test", "nc")
IPAM_DIR = "/var/lib/cni/rkt"  # pyrkt.net.config.IPAM_DIR: the built-in networks' leases


def _image(path: str, name: str, exec_: list[str], **app: object) -> str:
    m = aci_manifest(name, "1.0", exec_)
    m["app"].update(app)  # type: ignore[union-attr]
    ents = busybox_entries(APPLETS) + [Entry("proc", "dir", mode=0o755), Entry("sys", "dir", mode=0o755),
                                       Entry("dev", "dir", mode=0o755), Entry("www", "dir", mode=0o755),
                                       Entry("www/index.html", data=b"page from a pyrkt pod\n")]
    with open(path, "wb") as f:
        f.write(aci_bytes(m, ents))
    return path


class Net:
    """rkt with the test's own store and --local-config; helpers for its networks."""

    def __init__(self, data: str, conf: str, tmp: str) -> None:
        self.dir, self.conf, self.tmp = data, conf, tmp
        self.octet = random.randint(20, 240)  # 10.213.<octet>.0/24 and the next few are this test's

    def __call__(self, *args: str, **kw):  # type: ignore[no-untyped-def]
        return run_rkt(self.dir, f"--local-config={self.conf}", *args, **kw)

    def spawn(self, *args: str):  # type: ignore[no-untyped-def]
        return spawn_rkt(self.dir, f"--local-config={self.conf}", *args)

    def subnet(self, i: int = 0) -> str:
        return f"10.213.{self.octet + i}"

    def write(self, filename: str, conf: dict[str, object] | str) -> None:
        os.makedirs(os.path.join(self.conf, "net.d"), exist_ok=True)
        with open(os.path.join(self.conf, "net.d", filename), "w") as f:
            f.write(conf if isinstance(conf, str) else json.dumps(conf))

    def ipam(self, i: int = 0, **extra: object) -> dict[str, object]:
        return {"type": "host-local", "subnet": f"{self.subnet(i)}.0/24", "dataDir": os.path.join(self.tmp, "leases"), **extra}


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return int(port)


def _lines(cmd: list[str]) -> list[str]:
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.splitlines()


def snapshot(*lease_dirs: str) -> dict[str, object]:
    """What a pod's networks leave on the host: veths, routes, iptables rules, IPAM lease files.

    portmap's shared chains (CNI-HOSTPORT-DNAT/-MASQ/-SETMARK and the jumps to
    them) are made by the first --port pod on the host and shared by every
    CNI user (podman too), so they are not counted; the per-pod CNI-DN-* rules are.
    """
    rules = []
    for line in _lines(["iptables-save"]):
        if line.startswith("#") or line.startswith(":"):
            continue
        if "CNI-HOSTPORT-" in line and "CNI-DN-" not in line:
            continue
        rules.append(line)
    leases = []
    for d in (IPAM_DIR,) + lease_dirs:
        for root, _dirs, files in os.walk(d):
            leases += [os.path.join(root, f) for f in files if f != "lock" and not f.startswith("last_reserved_ip")]
    return {"veths": sorted(_lines(["ip", "-o", "link", "show", "type", "veth"])),
            "routes": sorted(_lines(["ip", "-4", "route", "show", "table", "all"])),
            "iptables": sorted(rules), "leases": sorted(leases)}
