from __future__ import annotations

import json
from pathlib import Path

import pytest

from pyrkt.oci import config as cfgmod
from pyrkt.oci.operations import parse_signal
from pyrkt.oci.errors import RuntimeFailure
from pyrkt.oci.specgen import default_spec
from pyrkt.oci.state import StateError, validate_id


def write(bundle: Path, doc: object) -> None:
    (bundle / "rootfs").mkdir(exist_ok=True)
    (bundle / "config.json").write_text(json.dumps(doc) if not isinstance(doc, str) else doc)


def test_default_spec_parses(tmp_path: Path) -> None:
    write(tmp_path, default_spec())
    cfg = cfgmod.load(str(tmp_path))
    assert cfg.process.args == ["sh"]
    assert cfg.root_readonly
    assert {ns.type for ns in cfg.namespaces} >= {"pid", "mount", "network", "ipc", "uts"}
    assert cfg.process.rlimits[0].name == "RLIMIT_NOFILE"


@pytest.mark.parametrize(
    "mutate,message",
    [
        (lambda d: d.update(ociVersion="2.0.0"), "unsupported ociVersion"),
        (lambda d: d.pop("ociVersion"), "ociVersion is missing"),
        (lambda d: d["process"].update(args=[]), "process.args must not be empty"),
        (lambda d: d["process"].update(args="sh"), "process.args must be of type array"),
        (lambda d: d["process"].update(cwd="relative"), "must be an absolute path"),
        (lambda d: d["process"]["user"].update(uid="0"), "process.user.uid must be of type integer"),
        (lambda d: d["process"]["rlimits"].append({"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1}), "not a known rlimit"),
        (lambda d: d["linux"]["namespaces"].append({"type": "bogus"}), "not a namespace type"),
        (lambda d: d["linux"]["namespaces"].append({"type": "pid"}), "pid given twice"),
        (lambda d: d["linux"].update(namespaces=[{"type": "pid"}]), "mounts needs a mount namespace of the container.s own"),
        (lambda d: d["linux"]["namespaces"].append({"type": "user"}), "needs linux.uidMappings"),
        (lambda d: d["mounts"].append({"destination": "rel", "type": "tmpfs"}), "destination must be an absolute path"),
        (lambda d: d.update(root={"path": "missing"}), "no such directory"),
        (lambda d: d["linux"]["namespaces"].append({"type": "cgroup", "path": "/nonexistent/ns"}) if False else d["linux"].update(namespaces=[{"type": "mount"}, {"type": "network", "path": "/nonexistent/ns"}]), "no such file"),
    ],
)
def test_config_errors_name_the_field(tmp_path: Path, mutate: object, message: str) -> None:
    doc = default_spec()
    mutate(doc)  # type: ignore[operator]
    write(tmp_path, doc)
    with pytest.raises(cfgmod.ConfigError, match=message):
        cfgmod.load(str(tmp_path))


def test_malformed_and_missing(tmp_path: Path) -> None:
    with pytest.raises(cfgmod.ConfigError, match="no such file"):
        cfgmod.load(str(tmp_path))
    write(tmp_path, "{not json")
    with pytest.raises(cfgmod.ConfigError, match="malformed JSON"):
        cfgmod.load(str(tmp_path))
    with pytest.raises(cfgmod.ConfigError, match="no such directory"):
        cfgmod.load(str(tmp_path / "nope"))


@pytest.mark.parametrize("bad", ["", ".", "..", "../x", "a/b", "/", "x\0y", "sp ace"])
def test_ids_that_could_escape(bad: str) -> None:
    with pytest.raises(StateError):
        validate_id(bad)


@pytest.mark.parametrize("good", ["abc", "a-b_c.d+e", "0123456789abcdef" * 4])
def test_good_ids(good: str) -> None:
    validate_id(good)


@pytest.mark.parametrize("text,number", [("9", 9), ("KILL", 9), ("SIGTERM", 15), ("term", 15), ("SIGRTMIN+1", 35), ("HUP", 1)])
def test_signals(text: str, number: int) -> None:
    assert parse_signal(text) == number


@pytest.mark.parametrize("text", ["SIGNOPE", "65", "99", "-1"])  # 0 is valid: runc's kill takes it
def test_bad_signals(text: str) -> None:
    with pytest.raises(RuntimeFailure):
        parse_signal(text)
