"""`rkt metadata-service`: the appc v1 metadata endpoints, pod identity (HMAC), registration.

The "pods" here are processes in network namespaces this test creates, so the
service's own rules are tested apart from CNI (real pods on the default network:
test_metadata_pods.py) (veth pairs on a private /30 subnet
each), registered through pyrkt.pod.mds with the manifests of a real prepared
pod; their requests are made with busybox wget from inside those namespaces.
The service itself runs in a namespace of its own, so nothing listens on the
host's addresses. The `rkt run --mds-register` paths that need no pod network
run for real.
"""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from servicefixtures import installed_rkt, wait_for  # noqa: E402

pytestmark = pytest.mark.root
BB = "example.com/busybox"
PORT = 18112  # the default: the service's namespace is the test's own


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess:  # type: ignore[type-arg]
    return subprocess.run(list(args), capture_output=True, text=True, check=check, timeout=60)


@pytest.fixture
def netns():  # type: ignore[no-untyped-def]
    """Namespaces svc (the host side), pa and pb (two pods), each pod linked to svc by a veth /30."""
    tag = f"{os.getpid() % 100000}"
    octet = 20 + os.getpid() % 200
    names = {k: f"pyrkt-svc-{k}-{tag}" for k in ("svc", "pa", "pb")}
    made: list[str] = []
    try:
        for n in names.values():
            sh("ip", "netns", "add", n)
            made.append(n)
        nets = {}
        for i, pod in enumerate(("pa", "pb")):
            host_ip, pod_ip = f"10.231.{octet}.{4 * i + 1}", f"10.231.{octet}.{4 * i + 2}"
            h, p = f"pys{tag}{i}h", f"pys{tag}{i}p"
            sh("ip", "link", "add", h, "netns", names["svc"], "type", "veth", "peer", "name", p, "netns", names[pod])
            sh("ip", "-n", names["svc"], "addr", "add", f"{host_ip}/30", "dev", h)
            sh("ip", "-n", names[pod], "addr", "add", f"{pod_ip}/30", "dev", p)
            for ns, dev in ((names["svc"], h), (names[pod], p), (names[pod], "lo"), (names["svc"], "lo")):
                sh("ip", "-n", ns, "link", "set", dev, "up")
            sh("ip", "-n", names[pod], "route", "add", "default", "via", host_ip)
            nets[pod] = (pod_ip, host_ip)
        yield names, nets
    finally:
        for n in made:
            sh("ip", "netns", "del", n, check=False)


@pytest.fixture
def mds(netns, tmp_path):  # type: ignore[no-untyped-def]
    names, _ = netns
    sock = str(tmp_path / "mds" / "metadata-svc.sock")
    env = {**os.environ, "PYRKT_MDS_SOCKET": sock}
    proc = subprocess.Popen(["ip", "netns", "exec", names["svc"], installed_rkt(), "metadata-service"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    wait_for(lambda: os.path.exists(sock) or proc.poll() is not None, what="the registration socket")
    assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
    os.environ["PYRKT_MDS_SOCKET"] = sock
    yield sock, proc
    os.environ.pop("PYRKT_MDS_SOCKET", None)
    proc.terminate()
    proc.wait(timeout=15)
    assert not os.path.exists(sock)  # removed on exit
    assert "Traceback" not in (proc.stderr.read() if proc.stderr else "")


def wget(ns: str, url: str, post: str | None = None) -> subprocess.CompletedProcess:  # type: ignore[type-arg]
    # (no -T: busybox 1.35 wget crashes with it)
    args = ["ip", "netns", "exec", ns, "busybox", "wget", "-q", "-O", "-"] + (["--post-data", post] if post is not None else []) + [url]
    return subprocess.run(args, capture_output=True, text=True, timeout=60)


def _pod_facts(store, uuid: str) -> tuple[dict, dict, dict]:  # type: ignore[no-untyped-def]
    manifest = json.loads(store("cat-manifest", uuid).out)
    images, ids = {}, {}
    for app in manifest["apps"]:
        ids[app["name"]] = app["image"]["id"]
        images[app["name"]] = json.loads(store("image", "cat-manifest", app["image"]["id"]).out)
    return manifest, images, ids


def test_endpoints_identity_and_registration(store, netns, mds):  # type: ignore[no-untyped-def]
    from pyrkt.pod import mds as client

    names, nets = netns
    sock, _ = mds
    uuid_a = store("prepare", "--quiet", "--net=none", BB, "--name=web", "--user-annotation=role=frontend").out.strip()
    uuid_b = store("prepare", "--quiet", "--net=none", "example.com/env-printer").out.strip()
    inits = {pod: subprocess.Popen(["ip", "netns", "exec", names[pod], "sleep", "300"]) for pod in ("pa", "pb")}
    try:
        wait_for(lambda: all(os.path.exists(f"/proc/{p.pid}/net/route") and open(f"/proc/{p.pid}/cmdline").read().startswith("sleep")
                             for p in inits.values()), what="the stand-in pod inits")
        # the hook's view of a pod's network: its address and the host side, from its own routes
        assert client.pod_addresses(inits["pa"].pid) == nets["pa"]
        assert client.pod_addresses(os.getpid()) != nets["pa"]
        urls = {}
        for pod, uuid in (("pa", uuid_a), ("pb", uuid_b)):
            manifest, images, ids = _pod_facts(store, uuid)
            token, port = client.register_with(uuid, nets[pod][0], inits[pod].pid, manifest, images, ids)
            assert port == PORT and len(token) >= 22
            urls[pod] = f"http://{nets[pod][1]}:{port}/{token}/acMetadata/v1"
        ua = urls["pa"]
        r = wget(names["pa"], f"{ua}/pod/uuid")
        assert r.returncode == 0 and r.stdout == uuid_a, r.stderr
        assert json.loads(wget(names["pa"], f"{ua}/pod/manifest").stdout) == json.loads(store("cat-manifest", uuid_a).out)
        assert json.loads(wget(names["pa"], f"{ua}/pod/annotations").stdout) == []
        assert json.loads(wget(names["pa"], f"{ua}/apps/web/annotations").stdout) == [{"name": "role", "value": "frontend"}]
        img = json.loads(wget(names["pa"], f"{ua}/apps/web/image/manifest").stdout)
        assert img["name"] == BB
        image_id = wget(names["pa"], f"{ua}/apps/web/image/id").stdout
        assert image_id.startswith("sha512-") and image_id in store("image", "list", "--full").out
        assert wget(names["pa"], f"{ua}/apps/nope/image/id").returncode != 0
        # identity: pa signs, anyone registered can have the service verify it
        sig = wget(names["pa"], f"{ua}/pod/hmac/sign", "content=hello").stdout
        assert len(sig) == 88  # base64 of 64 bytes (hmac-sha512)
        form = f"content=hello&uuid={uuid_a}&signature={sig.replace('+', '%2B').replace('/', '%2F').replace('=', '%3D')}"
        assert wget(names["pb"], f"{urls['pb']}/pod/hmac/verify", form).returncode == 0
        assert wget(names["pb"], f"{urls['pb']}/pod/hmac/verify", form.replace("hello", "hellO")).returncode != 0
        # pb cannot forge pa's identity: its signature is made with its own key
        forged = wget(names["pb"], f"{urls['pb']}/pod/hmac/sign", "content=hello").stdout
        assert forged and forged != sig
        bad = f"content=hello&uuid={uuid_a}&signature={forged.replace('+', '%2B').replace('/', '%2F').replace('=', '%3D')}"
        assert "403" in wget(names["pa"], f"{ua}/pod/hmac/verify", bad).stderr
        # a pod's token from another address, or no token: 403
        assert "403" in wget(names["pb"], ua.replace(nets["pa"][1], nets["pb"][1]) + "/pod/uuid").stderr
        assert "403" in wget(names["pa"], f"http://{nets['pa'][1]}:{PORT}/acMetadata/v1/pod/uuid").stderr
        # pb's pod exits: its registration is gone, and so are its answers
        inits["pb"].kill()
        inits["pb"].wait()
        listed = json.loads(_unix_get(sock, "/pods"))
        assert set(listed) == {uuid_a}
        assert "403" in wget(names["pb"], f"{urls['pb']}/pod/uuid").stderr
        assert wget(names["pa"], f"{ua}/pod/hmac/verify", bad.replace(uuid_a, uuid_b)).returncode != 0
        # an explicit unregister (as at pod exit) and a gc of the pods leave nothing
        client.unregister(uuid_a)
        assert json.loads(_unix_get(sock, "/pods")) == {}
        assert "403" in wget(names["pa"], f"{ua}/pod/uuid").stderr
    finally:
        for p in inits.values():
            p.kill()
            p.wait()


def _unix_get(sock: str, path: str) -> str:
    from pyrkt.pod import mds as client

    status, data = client._request("GET", path)
    assert status == 200
    return data.decode()


def test_bad_registrations(mds):  # type: ignore[no-untyped-def]
    from pyrkt.pod import mds as client

    sock, _ = mds
    for body in (b"{", json.dumps({"ip": "nope", "pid": 1, "start_time": 0, "manifest": {}, "images": {}, "image_ids": {}}).encode(),
                 json.dumps({"ip": "10.231.0.9", "pid": 1, "start_time": 0, "manifest": {}, "images": {}, "image_ids": {}}).encode()):
        status, data = client._request("PUT", "/pods/" + "0" * 36, body)
        assert status == 400 and data, data
    assert client._request("PUT", "/pods/short", b"{}")[0] == 400
    assert oct(os.stat(sock).st_mode & 0o777) == "0o600"


def test_rkt_run_mds_register(store, tmp_path, mds):  # type: ignore[no-untyped-def]
    r = store("run", "--net=host", "--mds-register", BB)
    assert r.code == 254 and "--net=host" in r.err and len(r.err.strip().splitlines()) == 1, r.err
    # a service, but (on this branch) no pod network: refused with one line, nothing registered
    r = store("run", "--net=none", "--mds-register", BB)
    assert r.code == 254 and "no route to the host" in r.err and len(r.err.strip().splitlines()) == 1, r.err
    assert json.loads(_unix_get(mds[0], "/pods")) == {}
    # no service listening
    r = store("run", "--net=none", "--mds-register=true", BB, env={"PYRKT_MDS_SOCKET": str(tmp_path / "none.sock")})
    assert r.code == 254 and "no metadata service is listening" in r.err and len(r.err.strip().splitlines()) == 1, r.err
    uuid = store("prepare", "--quiet", "--net=host", BB).out.strip()
    r = store("run-prepared", "--mds-register", uuid)
    assert r.code == 254 and "--net=host" in r.err, r.err
    assert "prepared" in store("status", uuid).out


def test_cli_errors(store, tmp_path):  # type: ignore[no-untyped-def]
    rkt = installed_rkt()
    for args, msg in ((["--listen-port=0"], "port"), (["--listen-port=x"], "port"), (["extra"], "unexpected")):
        p = subprocess.run([rkt, "metadata-service", *args], capture_output=True, text=True, timeout=30)
        assert p.returncode == 254 and msg in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
