"""Fixtures for the network tests (helpers in netfixtures.py)."""

from __future__ import annotations

import os
import random
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from netfixtures import Net, _image, cleanup, copy_store, run_rkt  # noqa: E402


@pytest.fixture(scope="session")
def net_template(tmp_path_factory):  # type: ignore[no-untyped-def]
    if os.geteuid() != 0:
        pytest.skip("needs root")
    work = str(tmp_path_factory.mktemp("netimages"))
    store = os.path.join(work, "store")
    for ref in (_image(f"{work}/tool.aci", "example.com/nettool", ["/bin/sh", "-c", "ip -4 -o addr; ip -4 route"]),
                _image(f"{work}/web.aci", "example.com/web", ["/bin/httpd", "-f", "-p", "80", "-h", "/www"],
                       ports=[{"name": "http", "protocol": "tcp", "port": 80}])):
        r = run_rkt(store, "--insecure-options=image", "fetch", ref)
        assert r.code == 0, r.err
    return store


@pytest.fixture
def net(net_template, tmp_path):  # type: ignore[no-untyped-def]
    data = copy_store(net_template, str(tmp_path / "rkt"))
    n = Net(data, str(tmp_path / "conf"), str(tmp_path))
    yield n
    cleanup(data)


@pytest.fixture
def other_ns():  # type: ignore[no-untyped-def]
    """A network namespace acting as a remote host: veth pyrkt-h<N> (host, .1) <-> (ns, .2) on 10.214.N.0/30."""
    n = random.randint(1, 250)
    ns, host_if, ns_if = f"pyrkt-nt-{n}", f"pyrkt-h{n}", f"pyrkt-n{n}"
    host_ip, ns_ip = f"10.214.{n}.1", f"10.214.{n}.2"
    cmds = [["ip", "netns", "add", ns], ["ip", "link", "add", host_if, "type", "veth", "peer", "name", ns_if],
            ["ip", "link", "set", ns_if, "netns", ns], ["ip", "addr", "add", f"{host_ip}/30", "dev", host_if],
            ["ip", "link", "set", host_if, "up"], ["ip", "-n", ns, "addr", "add", f"{ns_ip}/30", "dev", ns_if],
            ["ip", "-n", ns, "link", "set", ns_if, "up"], ["ip", "-n", ns, "link", "set", "lo", "up"],
            ["ip", "-n", ns, "route", "add", "default", "via", host_ip]]
    try:
        for c in cmds:
            subprocess.run(c, check=True, capture_output=True)
        yield ns, host_ip
    finally:
        subprocess.run(["ip", "link", "del", host_if], capture_output=True)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
