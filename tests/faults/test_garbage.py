"""Every rkt command and pyrkt-runtime verb fed garbage: one line on stderr, a non-zero exit, never a traceback.

Garbage arguments (unknown flags, bad values, non-UTF-8 bytes, huge numbers)
against an empty private data dir, and garbage files where a previous run's
files should be (a store and a runtime root whose every file is garbled).
"""

from __future__ import annotations

import os
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RKT = os.path.join(ROOT, ".venv", "bin", "rkt")
RUNTIME = os.path.join(ROOT, ".venv", "bin", "pyrkt-runtime")

RKT_COMMANDS = ["fetch", "image", "trust", "version", "run", "prepare", "run-prepared", "list", "status", "enter",
                "stop", "rm", "gc", "cat-manifest", "export", "config"]
IMAGE_SUBCOMMANDS = ["list", "rm", "gc", "cat-manifest", "export", "extract", "render", "fetch"]
RUNTIME_VERBS = ["create", "start", "kill", "delete", "run", "exec", "ps", "list", "spec", "features", "pause", "resume",
                 "update", "events", "state"]
GARBAGE = [b"--no-such-flag-xyz", b"--\xff\xfe=\xff", b"\xff\xfe\xfd", b"--cpu=1e400", b"9" * 400, b"--=", b""]


def _run(argv: list[bytes], timeout: float = 30) -> subprocess.CompletedProcess[bytes]:
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
    return subprocess.run(argv, capture_output=True, env=env, timeout=timeout, stdin=subprocess.DEVNULL)


def _check(p: subprocess.CompletedProcess[bytes], want_failure: bool = True) -> None:
    out = p.stdout + p.stderr
    assert b"Traceback" not in out, out.decode(errors="replace")
    assert b"internal error" not in out, out.decode(errors="replace")  # a known damage has its own sentence
    if want_failure:
        assert p.returncode != 0, out.decode(errors="replace")
        lines = p.stderr.strip().splitlines()
        assert lines, "a failure says why"
        # one line of error (rkt's fetch says what it searched for first, as rkt does)
        assert len(lines) <= 2 and lines[-1].startswith((b"rkt: ", b"pyrkt-runtime: ")), p.stderr.decode(errors="replace")


@pytest.mark.parametrize("command", RKT_COMMANDS)
def test_rkt_command_with_garbage_arguments(command: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    data = str(tmp_path / "rkt").encode()
    for junk in GARBAGE:
        if command in ("version", "config") and not junk.startswith(b"--"):
            continue  # rkt version ignores its arguments, as rkt's does
        if command in ("fetch", "run", "prepare", "trust") and not junk.startswith(b"--"):
            continue  # a word is an image name to discover over the network: garbage files below instead
        argv = [RKT.encode(), b"--dir=" + data, command.encode(), junk]
        if command == "image":
            argv = [RKT.encode(), b"--dir=" + data, b"image", junk]
        _check(_run(argv))


@pytest.mark.parametrize("sub", IMAGE_SUBCOMMANDS)
def test_rkt_image_subcommand_with_garbage_arguments(sub: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    data = str(tmp_path / "rkt").encode()
    for junk in GARBAGE[:4]:
        _check(_run([RKT.encode(), b"--dir=" + data, b"image", sub.encode(), junk]))


def test_rkt_image_commands_with_garbage_files(tmp_path) -> None:  # type: ignore[no-untyped-def]
    data = str(tmp_path / "rkt").encode()
    for i, content in enumerate((b"", b"\xff" * 100, b"\x1f\x8b\x08garbage", b"ustar" * 200, b"{}", b"BZh9garbage")):
        path = tmp_path / f"junk{i}.aci"
        path.write_bytes(content)
        for cmd in ([b"fetch"], [b"run"], [b"prepare"], [b"image", b"fetch"]):
            _check(_run([RKT.encode(), b"--dir=" + data, b"--insecure-options=image", *cmd, str(path).encode()]))
        _check(_run([RKT.encode(), b"--dir=" + data, b"trust", b"--root", str(path).encode()]))


def test_rkt_global_flags_garbage(tmp_path) -> None:  # type: ignore[no-untyped-def]
    for argv in ([b"--dir=", b"list"], [b"--insecure-options=bogus", b"list"],
                 [b"--debug=maybe", b"list"], [b"--no-such-global"], [b"no-such-command"]):
        _check(_run([RKT.encode(), *argv]))


@pytest.mark.parametrize("verb", RUNTIME_VERBS)
def test_runtime_verb_with_garbage_arguments(verb: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    root = str(tmp_path / "root").encode()
    for junk in GARBAGE:
        if verb in ("list", "features", "spec") and not junk.startswith(b"--"):
            continue  # these take no id; a stray word is ignored or refused, checked below
        p = _run([RUNTIME.encode(), b"--root", root, verb.encode(), junk])
        _check(p)
    for junk in ([b"--preserve-fds", b"9" * 30, b"x"], [b"--preserve-fds=-1", b"x"], [b"--bundle", b"\xff", b"x"],
                 [b"--pid-file=", b"x"]):
        if verb in ("create", "run"):
            _check(_run([RUNTIME.encode(), b"--root", root, verb.encode(), *junk]))


def _garble_tree(top: str) -> None:
    """Every regular file under top replaced by a torn prefix and garbage bytes."""
    for dirpath, _dirs, files in os.walk(top):
        for name in files:
            path = os.path.join(dirpath, name)
            if os.path.islink(path):
                continue
            with open(path, "rb") as f:
                data = f.read()
            with open(path, "wb") as f:
                f.write(data[: len(data) // 2] + b"\xff\x00garbage")


def test_runtime_with_garbage_state_files(tmp_path) -> None:  # type: ignore[no-untyped-def]
    root = tmp_path / "root"
    for cid, files in {"torn": {"state.json": b'{"id": "torn", "pid": 12'}, "binary": {"state.json": b"\xff\xfe\x00"},
                       "list": {"state.json": b"[1, 2]"}, "empty": {"state.json": b""}, "nostate": {}}.items():
        (root / cid).mkdir(parents=True)
        for name, data in files.items():
            (root / cid / name).write_bytes(data)
    (root / "afile").write_bytes(b"not a container dir")
    p = _run([RUNTIME.encode(), b"--root", str(root).encode(), b"list"])
    _check(p, want_failure=False)
    for verb in ("state", "start", "kill", "ps", "pause", "resume", "events", "exec"):
        for cid in ("torn", "binary", "list", "empty", "afile"):
            extra = [b"sh"] if verb == "exec" else []
            _check(_run([RUNTIME.encode(), b"--root", str(root).encode(), verb.encode(), cid.encode(), *extra]))
    for cid in ("torn", "binary", "list", "empty", "nostate"):
        p = _run([RUNTIME.encode(), b"--root", str(root).encode(), b"delete", b"--force", cid.encode()])
        _check(p, want_failure=False)
        assert p.returncode == 0, p.stderr
        assert not (root / cid).exists()


def test_runtime_with_garbage_bundle(tmp_path) -> None:  # type: ignore[no-untyped-def]
    root = str(tmp_path / "root").encode()
    for config in (b"", b"{", b'{"ociVersion": "1.0.2", "process": ', b"[]", b"\xff\xfe", b'{"process": 7}', b"null",
                   b'{"ociVersion": "1.0.2", "root": {"path": 5}}', b'{"process": {"args": [1e400]}}'):
        bundle = tmp_path / "bundle"
        bundle.mkdir(exist_ok=True)
        (bundle / "config.json").write_bytes(config)
        for verb in (b"create", b"run"):
            _check(_run([RUNTIME.encode(), b"--root", root, verb, b"--bundle", str(bundle).encode(), b"cid"]))
