"""Fixtures of the rootless tests: a real unprivileged user, created (as root) for the session.

`rl_user` is a fresh account `pyrkt-rl<N>` (see rlhelpers), `rl_rootfs` a
busybox rootfs it can read, `rl_bundle` bundles made with its own
`pyrkt-runtime spec --rootless`.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from pyrkt.pod.userns import subid_ranges
from rlhelpers import REPO, RUNTIME, SUBID_BASE, SUBID_SIZE, User, _can_traverse, _edit_subids, _read_lines, _rewrite


@pytest.fixture(scope="session")
def rl_user() -> Iterator[User]:
    if os.geteuid() != 0:
        pytest.skip("needs root to create a user")
    from toolcheck import need_tools

    need_tools("useradd", "userdel", "setpriv", "newuidmap", "newgidmap")
    if not _can_traverse(Path(RUNTIME).parent) or not _can_traverse(REPO / "src"):
        pytest.skip(f"{REPO} is not readable by other users: the test user could not run the installed runtime")
    name = f"pyrkt-rl{os.getpid() % 100000}"
    top = tempfile.mkdtemp(prefix="prl-")  # short: state socket paths must fit in sun_path
    os.chmod(top, 0o755)
    home = os.path.join(top, "h")
    # $XDG_RUNTIME_DIR/pyrkt-runtime/<podman's 64-hex id>/exec.sock must fit in sun_path (108)
    xdg = tempfile.mkdtemp(prefix="r")
    subprocess.run(["useradd", "-M", "-d", home, "-s", "/bin/sh", "-K", "SUB_UID_COUNT=0", "-K", "SUB_GID_COUNT=0", name],
                   check=True, capture_output=True)
    subid = 0
    try:
        pw = pwd.getpwnam(name)
        os.mkdir(home, 0o755)
        for d in (home, xdg):
            os.chown(d, pw.pw_uid, pw.pw_gid)

        def add() -> int:
            taken = subid_ranges()  # both files, as the pods avoid them
            start = SUBID_BASE
            while any(s < start + SUBID_SIZE and start < s + n for s, n in taken):
                start += SUBID_SIZE
            for path in ("/etc/subuid", "/etc/subgid"):
                _rewrite(path, _read_lines(path) + [f"{name}:{start}:{SUBID_SIZE}\n"])
            return start

        subid = _edit_subids(add)
        yield User(name, home, xdg, subid)
    finally:
        user = User(name, home, xdg, subid) if subid else None
        if user is not None:
            for _ in range(3):
                pids = user.pids()
                if not pids:
                    break
                for pid in pids:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                time.sleep(0.3)

        def remove() -> None:
            for path in ("/etc/subuid", "/etc/subgid"):
                lines = _read_lines(path)
                kept = [line for line in lines if not line.startswith(f"{name}:")]
                if kept != lines:
                    _rewrite(path, kept)

        _edit_subids(remove)
        try:
            os.unlink("/run/.pyrkt-rl-subid.lock")
        except FileNotFoundError:
            pass
        subprocess.run(["userdel", name], capture_output=True)
        subprocess.run(["umount", "-R", xdg], capture_output=True)
        shutil.rmtree(top, ignore_errors=True)
        shutil.rmtree(xdg, ignore_errors=True)


@pytest.fixture(scope="session")
def rl_rootfs(rl_user: User) -> Iterator[str]:
    """A busybox rootfs the user can read (pytest's own tmp dirs are 0700)."""
    from pyrkt.devtools.busybox import build_rootfs

    top = tempfile.mkdtemp(prefix="prl-rootfs-")
    os.chmod(top, 0o755)
    yield build_rootfs(os.path.join(top, "rootfs"))
    shutil.rmtree(top, ignore_errors=True)


@pytest.fixture
def rl_bundle(rl_user: User, rl_rootfs: str) -> Iterator[Any]:
    """rl_bundle(args, changes) -> a bundle dir owned by the user, from `spec --rootless` run by the user."""
    top = tempfile.mkdtemp(prefix="prl-b-", dir=rl_user.home)
    os.chown(top, rl_user.uid, rl_user.gid)
    counter = [0]

    def make(args: list[str], **changes: Any) -> str:
        counter[0] += 1
        path = os.path.join(top, f"b{counter[0]}")
        os.mkdir(path)
        os.chown(path, rl_user.uid, rl_user.gid)
        res = rl_user.run(RUNTIME, "spec", "--rootless", cwd=path)
        assert res.returncode == 0, res.stderr
        with open(os.path.join(path, "config.json")) as f:
            spec = json.load(f)
        spec["root"]["path"] = rl_rootfs
        spec["process"]["terminal"] = False
        spec["process"]["args"] = args
        for key, value in changes.items():
            section, _, field = key.partition("__")
            if field:
                spec[section][field] = value
            else:
                spec[section] = value
        with open(os.path.join(path, "config.json"), "w") as f:
            json.dump(spec, f)
        return path

    yield make
    shutil.rmtree(top, ignore_errors=True)
