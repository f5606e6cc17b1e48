"""The INSTALLED commands, run as a person runs them: in a pipe and under a pty.

The in-process tests never noticed that the `-IS` launchers could not import
rich or zstandard; these run .venv/bin/rkt and .venv/bin/pyrkt-runtime as
subprocesses against a loopback docker-registry.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Iterator

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "image"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "integration"))

from imagebuild import Entry, busybox_entries, tar_bytes, write_oci_layout, zstd_bytes  # noqa: E402
from imagefixtures import Registry, start_registry, stop  # noqa: E402
from clients import run_in_pty  # noqa: E402

BIN = os.path.join(sys.prefix, "bin")
RKT = os.path.join(BIN, "rkt")
RUNTIME = os.path.join(BIN, "pyrkt-runtime")
RKT_COMMANDS = ["api-service", "cat-manifest", "config", "enter", "export", "fetch", "gc", "image", "list", "metadata-service", "prepare", "rm", "run",
                "run-prepared", "status", "stop", "trust", "version"]
RUNTIME_VERBS = ["create", "start", "run", "state", "kill", "delete", "list", "spec", "exec", "ps", "pause", "resume",
                 "update", "events", "features"]


def in_pty(argv: list[str], timeout: float = 120) -> tuple[int, str]:
    """Run argv with a new terminal as its stdio: (exit status, everything it wrote, decoded)."""
    code, out = run_in_pty(argv, {**os.environ, "TERM": "xterm-256color", "COLUMNS": "120"}, timeout)
    return code, out.decode(errors="replace")


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    root = tmp_path_factory.mktemp("installed")
    reg = start_registry(str(root / "registry"))
    base = tar_bytes(busybox_entries())
    z = zstd_bytes(tar_bytes([Entry("zz", data=b"from-a-zstd-layer\n")], compress=False))
    layout = str(root / "layout")
    write_oci_layout(layout, [base], {"Cmd": ["/bin/sh", "-c", "echo hi"]}, tag="plain")
    write_oci_layout(layout, [base, z], {"Cmd": ["/bin/cat", "/zz"]}, tag="zstd")
    reg.push_layout(layout, "plain", "installed/bb")
    reg.push_layout(layout, "zstd", "installed/bb")
    yield reg
    stop(reg.proc)


def clean(text: str) -> None:
    assert "Traceback" not in text and "internal error" not in text, text


def test_fetch_under_a_pty_shows_the_progress_bar(registry: Registry, tmp_path) -> None:  # type: ignore[no-untyped-def]
    rc, out = in_pty([RKT, f"--dir={tmp_path}", "--insecure-options=image,http", "fetch", f"docker://{registry.host}/installed/bb:plain"])
    clean(out)
    assert rc == 0, out
    assert "Downloading" in out and "KiB" in out and "sha256-" in out, out


def test_fetch_in_a_pipe_has_no_bar(registry: Registry, tmp_path) -> None:  # type: ignore[no-untyped-def]
    p = subprocess.run([RKT, f"--dir={tmp_path}", "--insecure-options=image,http", "fetch", f"docker://{registry.host}/installed/bb:plain"],
                       capture_output=True, text=True, timeout=120)
    clean(p.stderr)
    assert p.returncode == 0 and p.stdout.startswith("sha256-") and "Downloading" not in p.stderr, p.stderr


@pytest.mark.root
def test_run_of_a_zstd_image_not_yet_stored_in_a_pipe(registry: Registry, tmp_path) -> None:  # type: ignore[no-untyped-def]
    p = subprocess.run([RKT, f"--dir={tmp_path}", "--insecure-options=image,http", "run", "--net=none", f"docker://{registry.host}/installed/bb:zstd"],
                       capture_output=True, text=True, timeout=120)
    clean(p.stderr)
    assert p.returncode == 0 and "from-a-zstd-layer" in p.stdout, p.stderr
    subprocess.run([RKT, f"--dir={tmp_path}", "gc", "--grace-period=0s"], capture_output=True, timeout=60)


@pytest.mark.root
def test_run_of_an_image_not_yet_stored_under_a_pty(registry: Registry, tmp_path) -> None:  # type: ignore[no-untyped-def]
    rc, out = in_pty([RKT, f"--dir={tmp_path}", "--insecure-options=image,http", "run", "--net=none", f"docker://{registry.host}/installed/bb:plain"])
    clean(out)
    assert rc == 0 and "hi" in out and "Downloading" in out, out
    subprocess.run([RKT, f"--dir={tmp_path}", "gc", "--grace-period=0s"], capture_output=True, timeout=60)


@pytest.mark.root
def test_run_interactive_under_a_pty(registry: Registry, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """--interactive: the app's stdin and stdout are rkt run's terminal (rkt fetches the image first)."""
    rc, out = in_pty([RKT, f"--dir={tmp_path}", "--insecure-options=image,http", "run", "--net=none", "--interactive",
                      f"docker://{registry.host}/installed/bb:plain", "--exec", "/bin/sh", "--",
                      "-c", "test -t 0 && test -t 1 && echo ON-A-TTY; exit 3"])
    clean(out)
    assert rc == 3 and "ON-A-TTY" in out, out
    subprocess.run([RKT, f"--dir={tmp_path}", "gc", "--grace-period=0s"], capture_output=True, timeout=60)


@pytest.mark.parametrize("command", RKT_COMMANDS)
def test_rkt_help_of_every_command(command: str) -> None:
    for argv in ([RKT, "help", command], [RKT, command, "--help"]):
        p = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        clean(p.stderr)
        assert p.returncode == 0 and p.stdout.strip(), (argv, p.stderr)


@pytest.mark.parametrize("verb", RUNTIME_VERBS)
def test_runtime_help_of_every_verb(verb: str) -> None:
    p = subprocess.run([RUNTIME, verb, "--help"], capture_output=True, text=True, timeout=30)
    clean(p.stderr)
    assert p.returncode == 0 and p.stdout.strip(), p.stderr
    p = subprocess.run([RUNTIME, "--help"], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and verb in p.stdout


@pytest.mark.parametrize("flag", ["--name=web\n", "--volume=data\n,kind=empty"])
def test_a_name_must_match_whole(registry: Registry, tmp_path, flag: str) -> None:  # type: ignore[no-untyped-def]
    p = subprocess.run([RKT, f"--dir={tmp_path}", "--insecure-options=image,http", "prepare", f"docker://{registry.host}/installed/bb:plain", flag],
                       capture_output=True, text=True, timeout=120)
    clean(p.stderr)
    assert p.returncode == 254 and "is not a valid name" in p.stderr, p.stderr
