"""`rkt run --mds-register` end to end: real pods on the default CNI network and `rkt metadata-service`.

The service runs on a free port with a private registration socket
(PYRKT_MDS_SOCKET); its apps' listener is on every address, which the pods
reach at the host side of their ptp veth (172.16.28.1). Packets go only
between the host and the test's own pods. The veths, routes, iptables rules
and IPAM leases on the host are counted before and after, as tests/net does.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import urllib.parse

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "net"))

from netfixtures import APPLETS, Entry, aci_bytes, aci_manifest, busybox_entries, free_port, snapshot  # noqa: E402
from podfixtures import cleanup, copy_store  # noqa: E402
from servicefixtures import installed_rkt, wait_for  # noqa: E402

pytestmark = pytest.mark.root
IMAGE = "example.com/mdstool"
MD = "$AC_METADATA_URL/acMetadata/v1"


def _registrations(sock: str) -> dict[str, str]:
    """GET /pods on the registration socket: {uuid: ip} of the live registrations."""
    class Conn(http.client.HTTPConnection):
        def connect(self) -> None:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.connect(sock)
    c = Conn("localhost", timeout=10)
    try:
        c.request("GET", "/pods")
        return dict(json.loads(c.getresponse().read()))
    finally:
        c.close()


class Mds:
    def __init__(self, data: str, sock: str) -> None:
        self.data, self.sock = data, sock
        self.env = dict(os.environ, PYRKT_MDS_SOCKET=sock)

    def rkt(self, *args: str, env: dict[str, str] | None = None, timeout: float = 90) -> subprocess.CompletedProcess:  # type: ignore[type-arg]
        return subprocess.run([installed_rkt(), f"--dir={self.data}", "--insecure-options=image", *args],
                              capture_output=True, text=True, env=env or self.env, timeout=timeout)

    def spawn(self, *args: str) -> subprocess.Popen:  # type: ignore[type-arg]
        return subprocess.Popen([installed_rkt(), f"--dir={self.data}", "--insecure-options=image", *args],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=self.env)

    def pod(self, script: str, *flags: str) -> subprocess.CompletedProcess:  # type: ignore[type-arg]
        return self.rkt("run", "--mds-register", *flags, IMAGE, "--exec", "/bin/sh", "--", "-c", script)


@pytest.fixture(scope="module")
def mds_template(tmp_path_factory):  # type: ignore[no-untyped-def]
    if os.geteuid() != 0:
        pytest.skip("needs root")
    work = str(tmp_path_factory.mktemp("mdsimages"))
    m = aci_manifest(IMAGE, "1.0", ["/bin/true"])
    m["annotations"] = [{"name": "example.com/from-image", "value": "img"}]
    ents = busybox_entries(APPLETS + ("sed", "tr")) + [Entry(d, "dir", mode=0o755) for d in ("proc", "sys", "dev")]
    with open(f"{work}/tool.aci", "wb") as f:
        f.write(aci_bytes(m, ents))
    store = os.path.join(work, "store")
    r = subprocess.run([installed_rkt(), f"--dir={store}", "--insecure-options=image", "fetch", f"{work}/tool.aci"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return store


@pytest.fixture
def mds(mds_template, tmp_path):  # type: ignore[no-untyped-def]
    data = copy_store(mds_template, str(tmp_path / "rkt"))
    sock = str(tmp_path / "mds.sock")
    port = free_port()
    before = snapshot()
    svc = subprocess.Popen([installed_rkt(), "metadata-service", f"--listen-port={port}"], stderr=subprocess.PIPE,
                           text=True, env=dict(os.environ, PYRKT_MDS_SOCKET=sock))
    try:
        wait_for(lambda: os.path.exists(sock) or svc.poll() is not None, what="metadata-service socket")
        assert svc.poll() is None, svc.stderr.read() if svc.stderr else ""
        yield Mds(data, sock)
    finally:
        cleanup(data)
        svc.terminate()
        svc.wait(timeout=15)
    assert snapshot() == before  # no veth, route, iptables rule or lease outlives the pods
    assert not os.path.exists(sock)


def _enc(s: str) -> str:
    return urllib.parse.quote(s, safe="")


URLENC = "sed -e 's/+/%2B/g' -e 's#/#%2F#g' -e 's/=/%3D/g'"


def test_pod_reads_its_identity_and_has_its_signature_verified(mds: Mds) -> None:
    script = f"""
U=$(wget -qO- {MD}/pod/uuid); echo "uuid=$U"
echo "manifest=$(wget -qO- {MD}/pod/manifest)"
echo "annotations=$(wget -qO- {MD}/pod/annotations)"
echo "appann=$(wget -qO- {MD}/apps/mdstool/annotations)"
echo "imageid=$(wget -qO- {MD}/apps/mdstool/image/id)"
S=$(wget -qO- --post-data=content=hello {MD}/pod/hmac/sign); echo "sig=$S"
E=$(echo -n "$S" | {URLENC})
wget -qO- --post-data="content=hello&uuid=$U&signature=$E" {MD}/pod/hmac/verify && echo verified
wget -qO- --post-data="content=hellO&uuid=$U&signature=$E" {MD}/pod/hmac/verify 2>&1 || echo tampered-refused
wget -qO- "${{AC_METADATA_URL%/*}}/notthetoken/acMetadata/v1/pod/uuid" 2>&1 || echo bad-token-refused
"""
    r = mds.rkt("run", "--mds-register", IMAGE, "--user-annotation=example.com/who=podA", "--exec", "/bin/sh", "--", "-c", script)
    assert r.returncode == 0, r.stderr
    out = dict(line.split("=", 1) for line in r.stdout.splitlines() if "=" in line and line.split("=", 1)[0].isalpha())
    lines = r.stdout.splitlines()
    uuid = out["uuid"]
    assert len(uuid) == 36
    manifest = json.loads(out["manifest"])
    assert manifest["acKind"] == "PodManifest" and manifest["apps"][0]["name"] == "mdstool"
    assert isinstance(json.loads(out["annotations"]), list)
    appann = {a["name"]: a["value"] for a in json.loads(out["appann"])}
    assert appann.get("example.com/from-image") == "img" and appann.get("example.com/who") == "podA"
    assert out["imageid"].startswith("sha512-")
    assert out["sig"]
    assert "verified" in lines
    assert "tampered-refused" in lines and "bad-token-refused" in lines
    assert "403" in r.stdout
    listed = subprocess.run([installed_rkt(), f"--dir={mds.data}", "list", "--no-legend", "--full"], capture_output=True, text=True)
    assert uuid in listed.stdout
    # the pod exited: its registration is gone, and stays gone after gc
    assert uuid not in _registrations(mds.sock)
    mds.rkt("gc", "--grace-period=0s")
    assert uuid not in _registrations(mds.sock)


def test_another_pods_identity_cannot_be_forged(mds: Mds) -> None:
    a = mds.spawn("run", "--mds-register", IMAGE, "--exec", "/bin/sh", "--", "-c",
                  f'echo "uuid=$(wget -qO- {MD}/pod/uuid)"; echo "sig=$(wget -qO- --post-data=content=hello {MD}/pod/hmac/sign)"; sleep 60')
    try:
        assert a.stdout is not None
        got: dict[str, str] = {}
        while "sig" not in got:
            line = a.stdout.readline()
            assert line, a.stderr.read() if a.stderr else ""
            k, _, v = line.strip().partition("=")
            got[k] = v
        a_uuid, a_sig = got["uuid"], got["sig"]
        assert a_uuid in _registrations(mds.sock)
        script = f"""
B=$(wget -qO- {MD}/pod/uuid)
wget -qO- --post-data="content=hello&uuid=$AUID&signature=$ASIG" {MD}/pod/hmac/verify && echo a-verified
wget -qO- --post-data="content=hello&uuid=$B&signature=$ASIG" {MD}/pod/hmac/verify 2>&1 || echo not-as-b
echo "bsig=$(wget -qO- --post-data=content=hello {MD}/pod/hmac/sign)"
"""
        r = mds.pod(script, f"--set-env=AUID={a_uuid}", f"--set-env=ASIG={_enc(a_sig)}")
        assert r.returncode == 0, r.stderr
        lines = r.stdout.splitlines()
        assert "a-verified" in lines and "not-as-b" in lines
        bsig = next(line.split("=", 1)[1] for line in lines if line.startswith("bsig="))
        assert bsig and bsig != a_sig  # B's key is its own
        mds.rkt("stop", "--force", a_uuid)
        a.wait(timeout=60)
        wait_for(lambda: a_uuid not in _registrations(mds.sock), what="A unregistered")
    finally:
        if a.poll() is None:
            a.kill()
            a.wait()


def test_refusals_are_one_line(mds: Mds, tmp_path) -> None:  # type: ignore[no-untyped-def]
    r = mds.rkt("run", "--net=host", "--mds-register", IMAGE, "--exec", "/bin/true")
    assert r.returncode == 254
    err = [e for e in r.stderr.splitlines() if "warning" not in e]
    assert len(err) == 1 and "--net=host" in err[0], r.stderr
    r = mds.rkt("run", "--mds-register", IMAGE, "--exec", "/bin/true",
                env=dict(mds.env, PYRKT_MDS_SOCKET=str(tmp_path / "nobody.sock")))
    assert r.returncode == 254
    err = [e for e in r.stderr.splitlines() if "warning" not in e]
    assert len(err) == 1 and "no metadata service is listening" in err[0], r.stderr
    r = mds.rkt("run", "--net=none", "--mds-register", IMAGE, "--exec", "/bin/true")
    assert r.returncode == 254
    err = [e for e in r.stderr.splitlines() if "warning" not in e]
    assert len(err) == 1 and "mds-register" in err[0], r.stderr


def test_default_restricted_reaches_the_service(mds: Mds) -> None:
    r = mds.pod(f'ip route | grep -q default && echo has-default; echo "uuid=$(wget -qO- {MD}/pod/uuid)"', "--net=default-restricted")
    assert r.returncode == 0, r.stderr
    assert "has-default" not in r.stdout
    assert len(r.stdout.split("uuid=", 1)[1].strip()) == 36
