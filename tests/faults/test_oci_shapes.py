"""OCI manifests and configs whose digests check out but whose JSON has the wrong shape.

A registry (or a layout) may serve such blobs: the digest proves only that they
are what it served. fetch, run, image list and cat-manifest must give one line
(or work), never a traceback, and the store must stay usable.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys

import pytest
from podfixtures import run_rkt

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "image"))
from imagebuild import Entry, tar_bytes, write_oci_layout  # noqa: E402


def _put(layout: str, data: bytes) -> dict[str, object]:
    hx = hashlib.sha256(data).hexdigest()
    with open(os.path.join(layout, "blobs", "sha256", hx), "wb") as f:
        f.write(data)
    return {"digest": f"sha256:{hx}", "size": len(data)}


def _get(layout: str, digest: str) -> object:
    with open(os.path.join(layout, "blobs", "sha256", digest.split(":")[1])) as f:
        return json.load(f)


def _layout(path: str, config=None, manifest=None) -> str:  # type: ignore[no-untyped-def]
    """A one-layer layout, its config and manifest replaced by what the callables make of them."""
    write_oci_layout(path, [tar_bytes([Entry("bin", "dir", mode=0o755), Entry("bin/hi", data=b"hi")])], {"Cmd": ["/bin/hi"]})
    with open(os.path.join(path, "index.json")) as f:
        index = json.load(f)
    mdesc = index["manifests"][0]
    man = _get(path, mdesc["digest"])
    assert isinstance(man, dict)
    if config is not None:
        man["config"] = {**man["config"], **_put(path, json.dumps(config(_get(path, man["config"]["digest"]))).encode())}
    if manifest is not None:
        man = manifest(man)
    mdesc.update(_put(path, json.dumps(man).encode()))
    with open(os.path.join(path, "index.json"), "w") as f:
        json.dump(index, f)
    return f"oci:{path}:latest"


def _set(d: dict, key: str, value: object) -> dict:  # type: ignore[type-arg]
    return {**d, key: value}


CASES = {
    "config-a-list": dict(config=lambda c: [c]),
    "config-a-string": dict(config=lambda c: "config"),
    "config-config-not-object": dict(config=lambda c: _set(c, "config", ["Cmd"])),
    "config-cmd-a-string": dict(config=lambda c: _set(c, "config", {"Cmd": "/bin/hi", "Env": "A=1"})),
    "config-env-not-strings": dict(config=lambda c: _set(c, "config", {"Cmd": ["/bin/hi"], "Env": [1, None], "ExposedPorts": ["80"]})),
    "config-rootfs-wrong": dict(config=lambda c: _set(c, "rootfs", {"type": "layers", "diff_ids": "sha256:00"})),
    "config-user-a-number": dict(config=lambda c: _set(c, "config", {"Cmd": ["/bin/hi"], "User": 0, "WorkingDir": 5, "Volumes": ["/v"]})),
    "manifest-layers-not-list": dict(manifest=lambda m: _set(m, "layers", {"digest": "x"})),
    "manifest-layer-no-digest": dict(manifest=lambda m: _set(m, "layers", [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "size": 1}])),
    "manifest-config-a-string": dict(manifest=lambda m: _set(m, "config", "sha256:00")),
    "manifest-a-list": dict(manifest=lambda m: [m]),
}


def _one_line(r, what: str) -> None:  # type: ignore[no-untyped-def]
    assert "Traceback" not in r.err and "internal error" not in r.err, f"{what}: {r.err}"
    if r.code:
        assert r.code == 254 and len(r.err.strip().splitlines()) == 1, f"{what}: {r.err}"


@pytest.mark.parametrize("case", sorted(CASES))
def test_oci_blob_of_the_wrong_shape(case, tmp_path) -> None:  # type: ignore[no-untyped-def]
    if os.geteuid() != 0:
        pytest.skip("needs root")
    data = str(tmp_path / "rkt")
    ref = _layout(str(tmp_path / "layout"), **CASES[case])  # type: ignore[arg-type]
    r = run_rkt(data, "--insecure-options=image", "fetch", ref)
    _one_line(r, "fetch")
    print(f"\n{case}: fetch {r.code} {r.err.strip()[-150:]}")
    if r.code == 0:
        image = r.out.strip().splitlines()[-1]
        for args in (["image", "cat-manifest", image], ["run", "--net=none", image], ["prepare", image]):
            r = run_rkt(data, *args)
            print(f"  {args[0]}: {r.code} {r.err.strip()[-150:]}")
            _one_line(r, " ".join(args[:2]))
    r = run_rkt(data, "image", "list")
    assert r.code == 0, r.err
    r = run_rkt(data, "gc", "--grace-period=0s", "--expire-prepared=0s")
    assert r.code == 0, r.err


@pytest.mark.parametrize("which", ["config", "manifest"])
def test_stored_oci_blob_replaced_by_other_json(which, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A stored config/manifest blob overwritten on disk by valid JSON of another shape: run and
    cat-manifest say so in one line; a new fetch repairs the image."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    data = str(tmp_path / "rkt")
    layout = str(tmp_path / "layout")
    ref = _layout(layout)
    r = run_rkt(data, "--insecure-options=image", "fetch", ref)
    assert r.code == 0, r.err
    image = r.out.strip().splitlines()[-1]
    with open(os.path.join(layout, "index.json")) as f:
        mdigest = json.load(f)["manifests"][0]["digest"]
    digest = mdigest if which == "manifest" else _get(layout, mdigest)["config"]["digest"]  # type: ignore[index]
    blob = os.path.join(data, "cas", "blobs", "sha256", digest.split(":")[1])
    assert os.path.exists(blob)
    with open(blob, "w") as f:
        json.dump(["not", "an", "object"], f)
    outs = []
    for args in (["image", "cat-manifest", image], ["run", "--net=none", image], ["image", "list"]):
        r = run_rkt(data, *args)
        outs.append(f"{args[1]}: {r.code} {r.err.strip()}")
        _one_line(r, " ".join(args[:2]))
    print("\n" + "\n".join(outs))
    r = run_rkt(data, "--insecure-options=image", "fetch", ref)
    assert r.code == 0, r.err
    with open(blob) as f:
        assert isinstance(json.load(f), dict), "fetch did not repair the blob"
