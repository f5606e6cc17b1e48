"""pyrkt.net.ipam against the real host-local plugin: one lease directory, both allocators, no address twice.

pyrkt's own ptp (the built-in networks) leases without executing host-local,
so a directory both use (a pod made by an older pyrkt, a DEL through the
plugin) must stay consistent: each sees the other's leases, releases them by
container id, and both start after the last address handed out. The
directory is the test's own; nothing touches a network interface.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from pyrkt.net import ipam

HOST_LOCAL = "/usr/lib/cni/host-local"


def host_local(command: str, data_dir: str, subnet: str, cid: str) -> dict[str, object]:
    conf = {"cniVersion": "0.4.0", "name": "pyrkt-ipam-test", "type": "ptp",
            "ipam": {"type": "host-local", "subnet": subnet, "dataDir": data_dir}}
    env = {"CNI_COMMAND": command, "CNI_CONTAINERID": cid, "CNI_NETNS": "/nonexistent", "CNI_IFNAME": "eth0",
           "CNI_PATH": "/usr/lib/cni", "PATH": "/usr/bin:/bin"}
    p = subprocess.run([HOST_LOCAL], input=json.dumps(conf).encode(), env=env, capture_output=True, timeout=30)
    assert p.returncode == 0, (p.stdout, p.stderr)
    return json.loads(p.stdout) if p.stdout.strip() else {}


@pytest.fixture
def leases(tmp_path):  # type: ignore[no-untyped-def]
    if not os.access(HOST_LOCAL, os.X_OK):
        pytest.skip("no host-local plugin")
    return str(tmp_path / "leases")


def files(d: str) -> list[str]:
    return sorted(f for f in os.listdir(os.path.join(d, "pyrkt-ipam-test")) if f[0].isdigit())


def test_pyrkt_and_host_local_share_a_lease_directory(leases) -> None:  # type: ignore[no-untyped-def]
    subnet = "10.213.250.0/29"  # .1 gateway, .2-.6 leasable
    a = ipam.reserve(leases, "pyrkt-ipam-test", subnet, "pod-a", "eth0")
    assert a == ("10.213.250.2", 29)  # the gateway is skipped
    with open(os.path.join(leases, "pyrkt-ipam-test", "10.213.250.2"), "rb") as f:
        assert f.read() == b"pod-a\r\neth0"  # host-local's own format
    b = host_local("ADD", leases, subnet, "pod-b")
    assert b["ips"][0]["address"] == "10.213.250.3/29"  # host-local saw pyrkt's lease and its last_reserved_ip
    c = ipam.reserve(leases, "pyrkt-ipam-test", subnet, "pod-c", "eth0")
    assert c[0] == "10.213.250.4"  # and pyrkt saw host-local's
    assert files(leases) == ["10.213.250.2", "10.213.250.3", "10.213.250.4"]
    ipam.release(leases, "pyrkt-ipam-test", "pod-b", "eth0")  # pyrkt releases host-local's lease
    host_local("DEL", leases, subnet, "pod-a")  # host-local releases pyrkt's
    assert files(leases) == ["10.213.250.4"]
    ipam.release(leases, "pyrkt-ipam-test", "pod-b", "eth0")  # idempotent
    # after the last one handed out, wrapping around the range past the taken address
    got = [ipam.reserve(leases, "pyrkt-ipam-test", subnet, f"pod-{i}", "eth0")[0] for i in range(4)]
    assert got == ["10.213.250.5", "10.213.250.6", "10.213.250.2", "10.213.250.3"]
    with pytest.raises(ipam.IpamError, match="no IP addresses available in range set: 10.213.250.1-10.213.250.6"):
        ipam.reserve(leases, "pyrkt-ipam-test", subnet, "pod-x", "eth0")
    assert len(files(leases)) == 5  # the failed reserve left nothing
