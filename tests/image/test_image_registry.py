"""docker:// fetches from real loopback registries (anonymous, basic, bearer token)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest

from imagefixtures import needs_root, run_rkt
from imagebuild import Entry, busybox_entries, tar_bytes, write_oci_layout

pytestmark = needs_root

INSECURE = "--insecure-options=image,http"


@pytest.fixture(scope="module")
def pushed(registry, busybox_layout):  # type: ignore[no-untyped-def]
    layout, digest = busybox_layout
    registry.push_layout(layout, "latest", "test/busybox")
    return registry, digest


def test_fetch_prints_id_and_lists(rkt, pushed) -> None:  # type: ignore[no-untyped-def]
    reg, digest = pushed
    r = rkt(INSECURE, "fetch", "--full", f"docker://{reg.host}/test/busybox:latest")
    assert r.rc == 0, r.err
    assert r.out.strip() == "sha256-" + digest.split(":")[1]
    r = rkt("image", "list")
    assert r.rc == 0
    lines = r.out.splitlines()
    assert lines[0].split() == ["ID", "NAME", "IMPORT", "TIME", "LAST", "USED", "SIZE", "LATEST"]
    assert f"{reg.host.replace(':', '-')}/test/busybox:latest" in lines[1]
    assert lines[1].split()[0] == "sha256-" + digest.split(":")[1][:12]
    r = rkt("image", "list", "--format=json")
    data = json.loads(r.out)
    assert data[0]["id"] == "sha256-" + digest.split(":")[1] and data[0]["latest"] is True


def test_docker_needs_insecure_image(rkt, pushed) -> None:  # type: ignore[no-untyped-def]
    reg, _ = pushed
    r = rkt("--insecure-options=http", "fetch", f"docker://{reg.host}/test/busybox")
    assert r.rc == 254
    assert "insecure-options=image" in r.err and "Traceback" not in r.err
    assert len(r.err.strip().splitlines()) == 1


def test_http_registry_needs_insecure_http(rkt, pushed) -> None:  # type: ignore[no-untyped-def]
    reg, _ = pushed
    r = rkt("--insecure-options=image", "fetch", f"docker://{reg.host}/test/busybox")
    assert r.rc == 254 and "Traceback" not in r.err


def test_refetch_downloads_nothing_and_layers_shared(rkt, registry, busybox_layout, tmp_path) -> None:  # type: ignore[no-untyped-def]
    layout, _ = busybox_layout
    registry.push_layout(layout, "latest", "test/share1")
    r = rkt(INSECURE, "fetch", f"docker://{registry.host}/test/share1")
    assert r.rc == 0, r.err
    # a second image sharing the busybox base layer, plus one new layer
    layout2 = str(tmp_path / "layout2")
    write_oci_layout(layout2, [tar_bytes(busybox_entries()), tar_bytes([Entry("hello.txt", data=b"new layer")])])
    registry.push_layout(layout2, "latest", "test/share2")
    before = registry.log().count("GET /v2/test/share2/blobs/")
    r = rkt(INSECURE, "fetch", f"docker://{registry.host}/test/share2")
    assert r.rc == 0, r.err
    blob_gets = registry.log().count("GET /v2/test/share2/blobs/") - before
    assert blob_gets == 2  # config + the new layer; the shared busybox layer came from the store
    # fetching again with pull-policy=update: manifest only, no blob
    before = registry.log().count("/blobs/")
    r = rkt(INSECURE, "fetch", f"docker://{registry.host}/test/share2")
    assert r.rc == 0
    assert registry.log().count("/blobs/") == before
    # pull-policy=new does not even ask the registry
    before = registry.log().count("GET /v2/")
    assert rkt(INSECURE, "fetch", "--pull-policy=new", f"docker://{registry.host}/test/share2").rc == 0
    assert registry.log().count("GET /v2/") == before


def test_pull_policy_never(rkt, pushed) -> None:  # type: ignore[no-untyped-def]
    reg, _ = pushed
    r = rkt(INSECURE, "fetch", "--pull-policy=never", f"docker://{reg.host}/test/busybox")
    assert r.rc == 254 and "pull-policy=never" in r.err
    assert rkt(INSECURE, "fetch", "--pull-policy=sometimes", f"docker://{reg.host}/test/busybox").rc == 254


def test_render_layers_and_app(rkt, pushed) -> None:  # type: ignore[no-untyped-def]
    reg, digest = pushed
    assert rkt(INSECURE, "fetch", f"docker://{reg.host}/test/busybox").rc == 0
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "src"))
    from pyrkt.image import open_store, runnable_image

    store = open_store(rkt.dir)
    img = runnable_image(store, f"docker://{reg.host}/test/busybox")
    assert img.image_id == "sha256-" + digest.split(":")[1]
    app = img.app
    assert app.exec == ("/bin/sh", "-c", "echo hi")
    assert app.user == "1000" and app.group == "1000" and app.working_directory == "/srv"
    assert app.env == {"PATH": "/bin", "GREETING": "hi"}
    assert sorted(p.name for p in app.ports) == ["53-udp", "80-tcp"]
    assert [(m.name, m.path) for m in app.mount_points] == [("volume-data", "/data")]
    assert len(img.lowerdirs) == 2
    bottom, top = img.lowerdirs
    assert os.path.isfile(os.path.join(bottom, "bin/busybox"))
    # the whiteout of etc/passwd in overlay form: a 0:0 char device
    st = os.lstat(os.path.join(top, "etc/passwd"))
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    su = os.lstat(os.path.join(top, "bin/su"))
    assert su.st_mode & 0o7777 == 0o4755
    a, b = os.lstat(os.path.join(top, "srv/a")), os.lstat(os.path.join(top, "srv/b"))
    assert a.st_ino == b.st_ino and a.st_uid == 1000
    assert os.readlink(os.path.join(top, "lib")) == "/bin"
    # rendered once: a second call returns the same dirs without re-extracting
    mtime = os.stat(top).st_mtime_ns
    assert runnable_image(store, img.image_id).lowerdirs == img.lowerdirs
    assert os.stat(top).st_mtime_ns == mtime
    # really stackable by overlayfs
    mnt = os.path.join(rkt.dir, "mnt")
    os.makedirs(mnt)
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", f"lowerdir={img.overlay_lowerdir}", mnt], check=True)
    try:
        assert not os.path.exists(os.path.join(mnt, "etc/passwd"))
        assert os.path.exists(os.path.join(mnt, "bin/busybox")) and os.path.exists(os.path.join(mnt, "bin/su"))
        out = subprocess.run(["chroot", mnt, "/bin/sh", "-c", "echo from-image"], capture_output=True, text=True)
        assert out.stdout.strip() == "from-image"
        # gc keeps an image whose trees are mounted, even with a zero grace period
        r = rkt("image", "gc", "--grace-period=0s")
        assert r.rc == 0 and "in use" in r.err
        assert rkt("image", "list", "--no-legend").out.strip()
    finally:
        subprocess.run(["umount", mnt], check=True)
    r = rkt("image", "gc", "--grace-period=0s")
    assert r.rc == 0
    assert rkt("image", "list", "--no-legend").out.strip() == ""
    assert os.listdir(os.path.join(rkt.dir, "cas/tree")) == []
    assert os.listdir(os.path.join(rkt.dir, "cas/blobs/sha256")) == []


def test_tampered_blob_is_refused(rkt, registry, tmp_path) -> None:  # type: ignore[no-untyped-def]
    layout = str(tmp_path / "t")
    write_oci_layout(layout, [tar_bytes([Entry("f", data=b"original content")])])
    registry.push_layout(layout, "latest", "test/tamper")
    with open(os.path.join(layout, "index.json")) as f:
        mdigest = json.load(f)["manifests"][0]["digest"]
    with open(os.path.join(layout, "blobs/sha256", mdigest.split(":")[1])) as f:
        layer_digest = json.load(f)["layers"][0]["digest"]
    path = registry.blob_path(layer_digest)
    with open(path, "rb") as f:
        good = f.read()
    with open(path, "wb") as f:
        f.write(good[:-4] + b"XXXX")
    try:
        r = rkt(INSECURE, "fetch", f"docker://{registry.host}/test/tamper")
        assert r.rc == 254
        assert "digest mismatch" in r.err
        assert rkt("image", "list", "--no-legend").out.strip() == ""
        blobs = os.path.join(rkt.dir, "cas/blobs/sha256")
        assert layer_digest.split(":")[1] not in os.listdir(blobs)
    finally:
        with open(path, "wb") as f:
            f.write(good)


def test_manifest_list_picks_host_platform(rkt, registry, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from pyrkt.image.oci import host_platform

    layout = str(tmp_path / "multi")
    arch = host_platform().architecture
    other = "s390x" if arch != "s390x" else "arm64"
    d_host = write_oci_layout(layout, [tar_bytes([Entry("which", data=arch.encode())])], tag="host", arch=arch)
    d_other = write_oci_layout(layout, [tar_bytes([Entry("which", data=other.encode())])], tag="other", arch=other)
    # an index over both, pushed as one multi-arch tag
    with open(os.path.join(layout, "index.json")) as f:
        idx = json.load(f)
    inner = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": [{k: v for k, v in m.items() if k != "annotations"} for m in idx["manifests"]]}
    data = json.dumps(inner).encode()
    import hashlib

    hx = hashlib.sha256(data).hexdigest()
    with open(os.path.join(layout, "blobs/sha256", hx), "wb") as f:
        f.write(data)
    idx["manifests"].append({"mediaType": "application/vnd.oci.image.index.v1+json", "digest": f"sha256:{hx}", "size": len(data),
                             "annotations": {"org.opencontainers.image.ref.name": "multi"}})
    with open(os.path.join(layout, "index.json"), "w") as f:
        json.dump(idx, f)
    subprocess.run(["skopeo", "--insecure-policy", "copy", "-q", "--all", "--dest-tls-verify=false", f"oci:{layout}:multi",
                    f"docker://{registry.host}/test/multi:v1"], check=True, capture_output=True)
    r = rkt(INSECURE, "fetch", "--full", f"docker://{registry.host}/test/multi:v1")
    assert r.rc == 0, r.err
    assert r.out.strip() == "sha256-" + d_host.split(":")[1]
    assert r.out.strip() != "sha256-" + d_other.split(":")[1]
    # by digest of the index, too
    r = rkt(INSECURE, "fetch", "--full", f"docker://{registry.host}/test/multi@sha256:{hx}")
    assert r.rc == 0, r.err
    assert r.out.strip() == "sha256-" + d_host.split(":")[1]


def test_basic_auth_registry(rkt, basic_registry, busybox_layout) -> None:  # type: ignore[no-untyped-def]
    layout, digest = busybox_layout
    basic_registry.push_layout(layout, "latest", "private/bb")
    ref = f"docker://{basic_registry.host}/private/bb"
    r = rkt(INSECURE, "fetch", ref)
    assert r.rc == 254 and "user name and password" in r.err
    os.makedirs(os.path.join(rkt.config, "auth.d"))
    cred = {"rktKind": "dockerAuth", "rktVersion": "v1", "registries": [basic_registry.host], "credentials": {"user": "alice", "password": "wrong"}}
    with open(os.path.join(rkt.config, "auth.d", "reg.json"), "w") as f:
        json.dump(cred, f)
    r = rkt(INSECURE, "fetch", ref)
    assert r.rc == 254 and "unauthorized" in r.err
    cred["credentials"]["password"] = "s3cret"  # type: ignore[index]
    with open(os.path.join(rkt.config, "auth.d", "reg.json"), "w") as f:
        json.dump(cred, f)
    r = rkt(INSECURE, "fetch", "--full", ref)
    assert r.rc == 0, r.err
    assert r.out.strip() == "sha256-" + digest.split(":")[1]


def test_bearer_token_registry(rkt, token_registry, busybox_layout) -> None:  # type: ignore[no-untyped-def]
    reg, ts = token_registry
    layout, digest = busybox_layout
    reg.push_layout(layout, "latest", "tok/bb")
    ts.requests.clear()
    r = rkt(INSECURE, "fetch", "--full", f"docker://{reg.host}/tok/bb")
    assert r.rc == 0, r.err
    assert r.out.strip() == "sha256-" + digest.split(":")[1]
    assert ts.requests and ts.requests[0]["scope"] == "repository:tok/bb:pull" and ts.requests[0]["service"] == "test-registry"
    assert ts.requests[0]["user"] == ""  # anonymous token


def test_concurrent_fetch_processes(tmp_path, registry, busybox_layout) -> None:  # type: ignore[no-untyped-def]
    layout, digest = busybox_layout
    registry.push_layout(layout, "latest", "test/conc")
    layout2 = str(tmp_path / "l2")
    write_oci_layout(layout2, [tar_bytes(busybox_entries()), tar_bytes([Entry("x", data=os.urandom(300000))])])
    registry.push_layout(layout2, "latest", "test/conc2")
    data = str(tmp_path / "store")
    from imagefixtures import RKT, SRC

    env = {**os.environ, "PYTHONPATH": SRC}
    refs = [f"docker://{registry.host}/test/conc", f"docker://{registry.host}/test/conc2"] * 3
    procs = [subprocess.Popen(RKT + ["--dir", data, INSECURE, "fetch", "--full", ref], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
             for ref in refs]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1] for o in outs]
    ids = {o[0].strip() for o in outs}
    assert len(ids) == 2 and "sha256-" + digest.split(":")[1] in ids
    r = run_rkt(data, "image", "list", "--no-legend")
    assert len(r.out.strip().splitlines()) == 2
    r = run_rkt(data, "image", "verify")
    assert r.rc == 0, r.out
    assert os.listdir(os.path.join(data, "cas/tmp")) == []


def test_progress_bar_only_on_a_terminal(rkt, pushed) -> None:  # type: ignore[no-untyped-def]
    """With stderr on a terminal a fetch draws a progress bar; piped, stderr stays quiet."""
    import pty

    from imagefixtures import RKT, SRC

    reg, digest = pushed
    master, slave = pty.openpty()
    env = dict(os.environ, PYTHONPATH=SRC, TERM="xterm", COLUMNS="100")
    p = subprocess.Popen(RKT + ["--dir", rkt.dir, "--local-config", rkt.config, INSECURE, "fetch", f"docker://{reg.host}/test/busybox"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave, env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the last writer closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    out, _ = p.communicate(timeout=60)
    assert p.returncode == 0
    assert out.decode().strip().startswith("sha256-")  # the ID stays alone on stdout
    text = b"".join(chunks).decode(errors="replace")
    assert "Downloading test/busybox" in text
    assert "MiB" in text or "KiB" in text
    assert "━" in text  # a drawn bar, not just a counter
    # piped: no bar, no escape sequences
    r = rkt(INSECURE, "fetch", "--pull-policy=update", f"docker://{reg.host}/test/busybox")
    assert r.rc == 0 and "\x1b[" not in r.err and "Downloading" not in r.err
