"""Fixtures for the runtime's integration tests: real containers, as root.

`busybox_rootfs` is built once per session from Debian's busybox-static;
`bundle(args, **changes)` makes an OCI bundle whose rootfs is a symlink to it
(read-only root by default, as runc's spec), and `rt` runs pyrkt-runtime with
a private --root that is emptied after each test, whatever happened.

Every bundle names a cgroup of its own (`/pyrkt-test-<pid>-<token>-<n>`): without
`cgroupsPath` the runtime (as runc) uses the container's id under its own cgroup,
and ids like `c1` recur across tests and parallel runs. A test of that default
passes `linux={"cgroupsPath": None}` (the key is then left out).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import pytest

from pyrkt.devtools.busybox import build_rootfs
from pyrkt.oci.specgen import default_spec

RUNTIME = str(Path(sys.executable).parent / "pyrkt-runtime")

pytestmark = pytest.mark.root


@pytest.fixture(scope="session")
def busybox_rootfs(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = tmp_path_factory.mktemp("busybox") / "rootfs"
    return build_rootfs(str(root))


def _merge(base: dict[str, Any], changes: dict[str, Any]) -> None:
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value


@pytest.fixture(scope="session")
def shared_rootfs() -> Any:
    """A busybox rootfs in a world-traversable directory, for user namespaces
    (pytest's own tmp dirs are 0700, which a mapped root cannot enter)."""
    import tempfile

    top = tempfile.mkdtemp(prefix="pyrkt-userns-")
    os.chmod(top, 0o755)
    yield build_rootfs(os.path.join(top, "rootfs"))
    shutil.rmtree(top, ignore_errors=True)


@pytest.fixture
def bundle(tmp_path: Path, busybox_rootfs: str) -> Callable[..., str]:
    """bundle(args, **changes) -> bundle dir; changes are merged into runc's default spec."""
    counter = [0]
    token = os.urandom(3).hex()

    def make(args: list[str], copy_rootfs: bool = False, rootfs: str | None = None, **changes: Any) -> str:
        counter[0] += 1
        path = tmp_path / f"bundle{counter[0]}"
        path.mkdir()
        if copy_rootfs:
            shutil.copytree(busybox_rootfs, path / "rootfs", symlinks=True)
        elif rootfs is not None:
            changes.setdefault("root", {"path": rootfs, "readonly": True})
        else:
            (path / "rootfs").symlink_to(busybox_rootfs)
        spec = default_spec()
        spec["process"]["args"] = args
        spec["process"]["terminal"] = False
        spec["linux"]["cgroupsPath"] = f"/pyrkt-test-{os.getpid()}-{token}-{counter[0]}"
        _merge(spec, changes)
        if spec["linux"].get("cgroupsPath", "") is None:
            del spec["linux"]["cgroupsPath"]
        (path / "config.json").write_text(json.dumps(spec))
        return str(path)

    return make


class Runtime:
    """pyrkt-runtime with a private state root."""

    def __init__(self, root: str, binary: str = RUNTIME) -> None:
        self.root = root
        self.binary = binary

    def __call__(self, *args: str, timeout: float = 30, input: bytes | None = None, check: bool = False) -> subprocess.CompletedProcess[str]:
        import tempfile

        cmd = [self.binary, "--root", self.root, *args]
        # files, not pipes: a detached container inherits our stdio and would keep a pipe open
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            p = subprocess.run(cmd, stdout=out, stderr=err, timeout=timeout, input=input, stdin=None if input else subprocess.DEVNULL)
            out.seek(0)
            err.seek(0)
            proc = subprocess.CompletedProcess(cmd, p.returncode, out.read().decode(errors="replace"), err.read().decode(errors="replace"))
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr}")
        return proc

    def state(self, container_id: str) -> dict[str, Any]:
        proc = self("state", container_id, check=True)
        return json.loads(proc.stdout)

    def cleanup(self) -> None:
        if not os.path.isdir(self.root):
            return
        for name in os.listdir(self.root):
            self("delete", "--force", name, timeout=30)
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def rt(tmp_path: Path) -> Any:
    runtime = Runtime(str(tmp_path / "state"))
    yield runtime
    runtime.cleanup()


@pytest.fixture
def runc(tmp_path: Path) -> Any:
    from toolcheck import need_tools

    need_tools("runc")
    binary = shutil.which("runc")
    assert binary is not None
    runtime = Runtime(str(tmp_path / "runc-state"), binary)
    yield runtime
    runtime.cleanup()
