"""Helpers for the tests that drive pyrkt-runtime through real clients (podman, containerd).

A busybox image as an OCI layout (built from `pyrkt.devtools.busybox`), a
loopback docker-registry, and process clean-up that never leaves anything
running when a test fails.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pty
import select
import shutil
import signal
import socket
import subprocess
import tarfile
import time

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
RUNTIME = os.path.join(REPO, ".venv", "bin", "pyrkt-runtime")


def have(tool: str) -> bool:
    return shutil.which(tool) is not None


def need(*tools: str) -> None:
    from toolcheck import need_tools

    need_tools(*tools)
    if os.geteuid() != 0:
        pytest.skip("needs root")


def run_in_pty(argv: list[str], env: dict[str, str] | None = None, timeout: float = 60) -> tuple[int, bytes]:
    """Run `argv` with a new terminal as its stdio; (exit status, everything it wrote).

    A command still running after `timeout` is killed, so a hung client fails
    the test instead of the suite.
    """
    pid, master = pty.fork()
    if pid == 0:
        os.execvpe(argv[0], argv, env if env is not None else os.environ)
    out = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    data = os.read(master, 4096)
                except OSError:  # EIO: the last writer closed the terminal
                    break
                if not data:
                    break
                out += data
        else:
            os.kill(pid, signal.SIGKILL)
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(master)
    return os.waitstatus_to_exitcode(status), out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(predicate, timeout: float = 20.0, what: str = "condition"):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


def _blob(layout: str, data: bytes, media_type: str) -> dict[str, object]:
    digest = hashlib.sha256(data).hexdigest()
    d = os.path.join(layout, "blobs", "sha256")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, digest), "wb") as f:
        f.write(data)
    return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data)}


def busybox_layer(workdir: str) -> bytes:
    """One uncompressed tar layer of a busybox rootfs (built under `workdir`)."""
    from pyrkt.devtools.busybox import build_rootfs

    rootfs = build_rootfs(os.path.join(workdir, "rootfs"))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(os.listdir(rootfs)):
            tar.add(os.path.join(rootfs, name), arcname=name)
    return buf.getvalue()


def busybox_layout(workdir: str, tag: str = "latest") -> str:
    """An OCI image layout holding one busybox image (one uncompressed layer)."""
    layer = busybox_layer(workdir)
    layout = os.path.join(workdir, "layout")
    os.makedirs(layout, exist_ok=True)
    config = {
        "architecture": {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine),
        "os": "linux",
        "config": {"Cmd": ["sh"], "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]},
    }
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": _blob(layout, json.dumps(config).encode(), "application/vnd.oci.image.config.v1+json"),
        "layers": [_blob(layout, layer, "application/vnd.oci.image.layer.v1.tar")],
    }
    desc = _blob(layout, json.dumps(manifest).encode(), "application/vnd.oci.image.manifest.v1+json")
    desc["annotations"] = {"org.opencontainers.image.ref.name": tag}
    with open(os.path.join(layout, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [desc]}, f)
    with open(os.path.join(layout, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    return layout


class Registry:
    """docker-registry serving on 127.0.0.1 from a private directory."""

    def __init__(self, root: str) -> None:
        os.makedirs(root, exist_ok=True)
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        cfg = {
            "version": 0.1,
            "log": {"level": "warn"},
            "storage": {"filesystem": {"rootdirectory": root}},
            "http": {"addr": self.host},
        }
        path = os.path.join(root, "config.yml")
        with open(path, "w") as f:
            json.dump(cfg, f)  # YAML is a superset of JSON
        self.log = open(os.path.join(root, "log"), "w")
        self.proc = subprocess.Popen(["docker-registry", "serve", path], stdout=self.log, stderr=self.log)

        def up() -> bool:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return True
            except OSError:
                if self.proc.poll() is not None:
                    raise AssertionError("docker-registry exited") from None
                return False

        wait_for(up, 15, "docker-registry")

    def push(self, layout: str, tag: str, repo: str) -> str:
        ref = f"{self.host}/{repo}:{tag}"
        subprocess.run(
            ["skopeo", "--insecure-policy", "copy", "-q", "--dest-tls-verify=false", f"oci:{layout}:{tag}", f"docker://{ref}"],
            check=True, capture_output=True, timeout=120,
        )
        return ref

    def close(self) -> None:
        stop_process(self.proc)
        self.log.close()


def stop_process(proc: subprocess.Popen, timeout: float = 10.0) -> None:  # type: ignore[type-arg]
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def runtime_state_ids(root: str) -> list[str]:
    try:
        return sorted(os.listdir(root))
    except FileNotFoundError:
        return []


def force_delete_all(root: str) -> None:
    """Kill and delete every container pyrkt-runtime has under `root` (test clean-up)."""
    for cid in runtime_state_ids(root):
        subprocess.run([RUNTIME, "--root", root, "delete", "--force", cid], capture_output=True, timeout=30)
