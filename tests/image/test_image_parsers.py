"""Unit and property tests: image references, manifests, the docker2aci mapping."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyrkt.image.appc import ImageManifest
from pyrkt.image.digest import Digest
from pyrkt.image.errors import InvalidManifest, InvalidReference
from pyrkt.image.mapping import appc_name_for, config_to_app, parse_port, parse_user, volume_name
from pyrkt.image.oci import ImageConfig, Index, Manifest, Platform
from pyrkt.image.reference import (AppcNameRef, DockerArchiveRef, DockerRef, FileRef, HttpRef, ImageIDRef, OciLayoutRef,
                                   parse_reference)

H64 = "a" * 64


@pytest.mark.parametrize("text,expected", [
    ("sha512-fa1cb92dc276b0f9bedf87981e61ecde", ImageIDRef("sha512", "fa1cb92dc276b0f9bedf87981e61ecde")),
    ("sha512-ab", ImageIDRef("sha512", "ab")),
    ("coreos.com/etcd:v2.0.0", AppcNameRef("coreos.com/etcd", (("version", "v2.0.0"),))),
    ("example.com/app,os=linux,arch=amd64", AppcNameRef("example.com/app", (("arch", "amd64"), ("os", "linux")))),
    ("/tmp/x.aci", FileRef("/tmp/x.aci")),
    ("file:///tmp/x.aci", FileRef("/tmp/x.aci")),
    ("./x", FileRef("./x")),
    ("https://example.com/a.aci", HttpRef("https://example.com/a.aci")),
    ("docker://busybox", DockerRef("registry-1.docker.io", "library/busybox", "latest")),
    ("docker://docker.io/library/busybox:1.36", DockerRef("registry-1.docker.io", "library/busybox", "1.36")),
    ("docker://quay.io/coreos/etcd:v2.0.0", DockerRef("quay.io", "coreos/etcd", "v2.0.0")),
    ("docker://localhost:5000/a/b@sha256:" + H64, DockerRef("localhost:5000", "a/b", None, Digest("sha256", H64))),
    ("docker://127.0.0.1:5000/x:t@sha256:" + H64, DockerRef("127.0.0.1:5000", "x", "t", Digest("sha256", H64))),
    ("oci:/srv/layout:v1", OciLayoutRef("/srv/layout", "v1")),
    ("oci:/srv/layout", OciLayoutRef("/srv/layout", None)),
    ("oci-archive:/srv/img.tar", OciLayoutRef("/srv/img.tar", None, True)),
    ("docker-archive:/srv/save.tar", DockerArchiveRef("/srv/save.tar")),
])
def test_parse_ok(text, expected) -> None:  # type: ignore[no-untyped-def]
    assert parse_reference(text) == expected


@pytest.mark.parametrize("text,fragment", [
    ("", "empty"),
    (" busybox", "whitespace"),
    ("sha512-a", "at least 2 hex"),
    ("sha256-" + "a" * 65, "at most 64"),
    ("Example.com/App", "character 'E' at position 0"),
    ("example.com//app", "repeat separators"),
    ("example.com/app:", "version"),
    ("example.com/app,os", "NAME=VALUE"),
    ("example.com/app,os=linux,os=linux", "twice"),
    ("docker://", "empty docker"),
    ("docker://Busybox", "invalid repository component 'Busybox'"),
    ("docker://busybox:bad tag", "invalid tag"),
    ("docker://busybox@sha256:abc", "64 hex digits"),
    ("ftp://example.com/a.aci", "unsupported transport 'ftp'"),
    ("file://", "without a path"),
])
def test_parse_errors_are_precise(text, fragment) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidReference) as exc:
        parse_reference(text)
    assert fragment in str(exc.value)
    assert "\n" not in str(exc.value)


_comp = st.from_regex(r"[a-z0-9]{1,8}([._-][a-z0-9]{1,8}){0,2}", fullmatch=True)
_tag = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True)
_host = st.sampled_from(["quay.io", "localhost:5000", "127.0.0.1:8080", "registry.example.com"])


@given(_host, st.lists(_comp, min_size=1, max_size=3), _tag)
def test_docker_roundtrip(host, comps, tag) -> None:  # type: ignore[no-untyped-def]
    ref = parse_reference(f"docker://{host}/{'/'.join(comps)}:{tag}")
    assert isinstance(ref, DockerRef)
    assert ref.registry == host and ref.repository == "/".join(comps) and ref.tag == tag
    assert parse_reference(str(ref)) == ref


_acname = st.from_regex(r"[a-z0-9]{1,6}(\.[a-z0-9]{1,6}){0,2}(/[a-z0-9]{1,6}([-_][a-z0-9]{1,4})?){0,3}", fullmatch=True)


@given(_acname, st.one_of(st.none(), st.from_regex(r"v?[0-9a-z][0-9a-z.+-]{0,8}", fullmatch=True)),
       st.dictionaries(st.sampled_from(["os", "arch", "channel"]), st.from_regex(r"[a-z0-9]{1,6}", fullmatch=True), max_size=2))
def test_appc_name_roundtrip(name, version, labels) -> None:  # type: ignore[no-untyped-def]
    text = name + (f":{version}" if version else "") + "".join(f",{k}={v}" for k, v in labels.items())
    ref = parse_reference(text)
    if isinstance(ref, ImageIDRef):
        return  # names like sha512-ab are IDs by design
    assert isinstance(ref, AppcNameRef)
    assert ref.name == name and ref.version == version
    assert parse_reference(str(ref)) == ref


@settings(max_examples=300)
@given(st.text(max_size=60))
def test_any_text_parses_or_fails_cleanly(text) -> None:  # type: ignore[no-untyped-def]
    try:
        ref = parse_reference(text)
    except InvalidReference as exc:
        assert str(exc).startswith("invalid image reference")
        return
    assert str(ref)


# -- manifests ----------------------------------------------------------------

def _m(**kw) -> dict:  # type: ignore[no-untyped-def,type-arg]
    m = {"acKind": "ImageManifest", "acVersion": "0.8.11", "name": "example.com/app",
         "app": {"exec": ["/bin/app"], "user": "0", "group": "0"}}
    m.update(kw)
    return m


def test_appc_manifest_roundtrip() -> None:
    obj = _m(labels=[{"name": "version", "value": "1.0"}], dependencies=[{"imageName": "example.com/base", "labels": [{"name": "os", "value": "linux"}]}],
             pathWhitelist=["/bin/app"], annotations=[{"name": "a", "value": "b"}], future={"kept": True})
    obj["app"].update(environment=[{"name": "A", "value": "1"}], ports=[{"name": "http", "protocol": "tcp", "port": 80}],
                      mountPoints=[{"name": "data", "path": "/data", "readOnly": True}], workingDirectory="/w")
    m = ImageManifest.from_json(obj)
    assert m.version == "1.0" and m.app and m.app.env == {"A": "1"} and m.app.mount_points[0].read_only
    assert m.dependencies[0].labels == (("os", "linux"),)
    again = ImageManifest.from_bytes(m.to_bytes())
    assert again == m and dict(again.extra)["future"] == {"kept": True}


@pytest.mark.parametrize("obj,fragment", [
    (_m(acKind="PodManifest"), "acKind"),
    (_m(name="Bad Name"), "image manifest.name"),
    (_m(app={"exec": "/bin/app", "user": "0", "group": "0"}), "app.exec"),
    (_m(app={"exec": ["/x"], "group": "0"}), "missing field 'user'"),
    (_m(app={"exec": ["/x"], "user": "0", "group": "0", "ports": [{"name": "p", "protocol": "tcp", "port": 70000}]}), "out of range"),
    (_m(labels=[{"name": "a", "value": "1"}, {"name": "a", "value": "2"}]), "duplicate"),
    ([], "expected a JSON object"),
])
def test_appc_manifest_errors(obj, fragment) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidManifest) as exc:
        ImageManifest.from_json(obj)
    assert fragment in str(exc.value)


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                     lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=6), c, max_size=4), max_leaves=12)


@settings(max_examples=300)
@given(st.dictionaries(st.sampled_from(["acKind", "acVersion", "name", "app", "labels", "dependencies", "schemaVersion", "config", "layers",
                                        "manifests", "mediaType"]), _json, max_size=6))
def test_manifest_parsers_never_crash(obj) -> None:  # type: ignore[no-untyped-def]
    for parse in (ImageManifest.from_json, Manifest.parse, Index.parse, ImageConfig.parse):
        try:
            parse(obj)
        except InvalidManifest as exc:
            assert "\n" not in str(exc)


def test_oci_manifest_and_index() -> None:
    desc = {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": "sha256:" + H64, "size": 3}
    m = Manifest.parse(json.dumps({"schemaVersion": 2, "config": {**desc, "mediaType": "application/vnd.oci.image.config.v1+json"}, "layers": [desc]}).encode())
    assert m.layers[0].digest == Digest("sha256", H64)
    with pytest.raises(InvalidManifest, match="layers\\[0\\].size"):
        Manifest.parse({"schemaVersion": 2, "config": desc, "layers": [{**desc, "size": -1}]})
    with pytest.raises(InvalidManifest, match="unsupported layer mediaType"):
        Manifest.parse({"schemaVersion": 2, "config": desc, "layers": [{**desc, "mediaType": "text/plain"}]})
    mk = lambda arch, variant="": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + (arch[0] * 64 if arch[0] in "abcdef" else "1" * 64),
                                   "size": 1, "platform": {"os": "linux", "architecture": arch, **({"variant": variant} if variant else {})}}
    idx = Index.parse({"schemaVersion": 2, "manifests": [mk("arm", "v6"), mk("arm", "v7"), mk("amd64")]})
    assert idx.select(Platform("linux", "amd64")).platform == Platform("linux", "amd64")
    assert idx.select(Platform("linux", "arm", "v7")).platform == Platform("linux", "arm", "v7")
    with pytest.raises(Exception, match="no image for platform linux/s390x"):
        idx.select(Platform("linux", "s390x"))


def test_docker2aci_mapping() -> None:
    cfg = ImageConfig.parse({"architecture": "amd64", "os": "linux", "config": {
        "Entrypoint": ["/entry"], "Cmd": ["a", "b"], "Env": ["PATH=/bin", "EMPTY=", "X=1=2"], "User": "nobody",
        "WorkingDir": "/w", "ExposedPorts": {"8080/tcp": {}, "53/udp": {}, "9000": {}}, "Volumes": {"/var/lib/data": {}}}})
    app = config_to_app(cfg)
    assert app.exec == ("/entry", "a", "b")
    assert app.env == {"PATH": "/bin", "EMPTY": "", "X": "1=2"}
    assert (app.user, app.group) == ("nobody", "0")
    assert {p.name: (p.port, p.protocol) for p in app.ports} == {"8080-tcp": (8080, "tcp"), "53-udp": (53, "udp"), "9000-tcp": (9000, "tcp")}
    assert [(m.name, m.path) for m in app.mount_points] == [("volume-var-lib-data", "/var/lib/data")]
    assert config_to_app(ImageConfig.parse({"config": {}})).user == "0"
    assert parse_user("1000:100") == ("1000", "100") and parse_user("") == ("0", "0")
    assert parse_port("8000-8002/tcp").count == 3
    with pytest.raises(InvalidManifest):
        parse_port("http/tcp")
    assert volume_name("/") == "volume-root"
    assert appc_name_for("127.0.0.1:5000/Test/App") == "127.0.0.1-5000/test/app"
