"""Fixtures for the kernel-facing pyrkt.linux tests (cgroups, seccomp).

Every cgroup a test creates lives under one test-unique parent directory
(``/pyrkt-test-<pid>-<random>`` in every hierarchy); the finalizer kills
whatever is left in it and removes it bottom-up, even when the test failed.
"""

from __future__ import annotations

import os
import secrets
import signal
import time

import pytest

def _cleanup_tree(top: str) -> None:
    if not os.path.isdir(top):
        return
    for _ in range(100):
        dirs = [root for root, _d, _f in os.walk(top, topdown=False)]
        busy = False
        for d in dirs:
            for fname in ("freezer.state",):
                p = os.path.join(d, fname)
                if os.path.exists(p):
                    try:
                        with open(p, "w") as f:
                            f.write("THAWED")
                    except OSError:
                        pass
            try:
                with open(os.path.join(d, "cgroup.procs")) as f:
                    for line in f.read().split():
                        try:
                            os.kill(int(line), signal.SIGKILL)
                        except ProcessLookupError:
                            pass
            except OSError:
                pass
            try:
                os.rmdir(d)
            except FileNotFoundError:
                pass
            except OSError:
                busy = True
        if not busy:
            return
        time.sleep(0.02)


@pytest.fixture
def cgroup_parent():
    """An absolute cgroup path unique to this test; removed everywhere afterwards."""
    from pyrkt.linux.cgroups import detect_layout

    name = f"/pyrkt-test-{os.getpid()}-{secrets.token_hex(4)}"
    layout = detect_layout()
    yield name
    for h in layout.hierarchies:
        _cleanup_tree(h.host_dir(name))
    leftovers = [h.host_dir(name) for h in layout.hierarchies if os.path.exists(h.host_dir(name))]
    assert not leftovers, f"cgroups left behind: {leftovers}"


@pytest.fixture
def unified_root_lock():
    """Serialise tests that change the cgroup2 root's subtree_control (a
    host-wide setting) across concurrent test runs, so each one restores
    what it found."""
    import fcntl

    fd = os.open("/run/pyrkt-tests-cgroup2-root.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    yield
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)


@pytest.fixture
def unified_parent(unified_root_lock):
    """Same, on the cgroup2 mount (``/sys/fs/cgroup/unified`` on a hybrid host)."""
    name = f"/pyrkt-test-{os.getpid()}-{secrets.token_hex(4)}"
    from pyrkt.linux.cgroups import detect_layout

    layout = detect_layout()
    v2 = [h for h in layout.hierarchies if h.is_v2]
    if not v2:
        pytest.skip("no cgroup2 mount on this host")
    # creating a v2 cgroup enables the parent's controllers in its
    # subtree_control (as runc does); on the hybrid mount that parent is the
    # host's root, so put it back as it was
    ctl = os.path.join(v2[0].mountpoint, "cgroup.subtree_control")
    with open(ctl) as f:
        before = set(f.read().split())
    yield v2[0], name
    _cleanup_tree(v2[0].host_dir(name))
    with open(ctl) as f:
        added = set(f.read().split()) - before
    for c in added:
        with open(ctl, "w") as f:
            f.write("-" + c)
    assert not os.path.exists(v2[0].host_dir(name))


@pytest.fixture
def remove_cgroup_later():
    """Register an absolute cgroup path to be removed from every hierarchy after the test."""
    from pyrkt.linux.cgroups import detect_layout

    paths: list[str] = []
    yield paths.append
    layout = detect_layout()
    for name in paths:
        for h in layout.hierarchies:
            _cleanup_tree(h.host_dir(name))
    left = [h.host_dir(n) for n in paths for h in layout.hierarchies if os.path.exists(h.host_dir(n))]
    assert not left, f"cgroups left behind: {left}"
