"""Test-wide settings: the unit/root/conformance markers, root tests skipped when not root; a private seccomp cache."""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

_SECCOMP_CACHE_VAR = "PYRKT_SECCOMP_CACHE"


def pytest_configure(config: pytest.Config) -> None:
    """Compiled seccomp programs go to a cache of the test session's own, not /run/pyrkt/seccomp:
    every container the tests start (pods, podman, containerd) inherits the variable."""
    if _SECCOMP_CACHE_VAR not in os.environ:
        config._pyrkt_seccomp_cache = tempfile.mkdtemp(prefix="pyrkt-test-seccomp-")  # type: ignore[attr-defined]
        os.environ[_SECCOMP_CACHE_VAR] = config._pyrkt_seccomp_cache + "/cache"  # type: ignore[attr-defined]


def pytest_unconfigure(config: pytest.Config) -> None:
    own = getattr(config, "_pyrkt_seccomp_cache", None)
    if own:
        shutil.rmtree(own, ignore_errors=True)
        os.environ.pop(_SECCOMP_CACHE_VAR, None)


# Markers (pyproject.toml registers them), applied here by directory and fixture so that a new
# test is marked without editing it:
# - `root`: needs root. Marked explicitly (pytestmark / a decorator, or a skipif whose reason
#   says "needs root"), or in ROOT_DIRS (every test there runs containers, pods or services),
#   or using a fixture of ROOT_FIXTURES (they build pods, containers, users as root);
# - `unit`: every other test: it needs no root, and `make test-unit` runs them all as nobody
#   (`-m unit`); one that skips there saying it needs root fails instead (see below);
# - `conformance`: the runtime measured against the spec and its clients (runc, podman,
#   containerd, the CRI): CONFORMANCE_DIRS.
ROOT_DIRS = frozenset({"integration", "cri", "installed", "rootless", "service"})
ROOT_FIXTURES = frozenset({
    "rt", "runc", "bundle", "busybox_rootfs", "shared_rootfs",  # tests/integration
    "pod_template", "fault_template", "net_template", "service_template", "mds_template",
    "installed", "rl_user", "podman",
    "https_server",  # binds the loopback :443
})
CONFORMANCE_DIRS = frozenset({"integration", "cri"})
_TESTS = os.path.dirname(os.path.abspath(__file__))


def _tier(item: pytest.Item) -> str:
    rel = os.path.relpath(str(item.path), _TESTS)
    return rel.split(os.sep, 1)[0] if os.sep in rel else ""


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        tier = _tier(item)
        needs_root = (
            item.get_closest_marker("root") is not None
            or tier in ROOT_DIRS
            or not ROOT_FIXTURES.isdisjoint(getattr(item, "fixturenames", ()))
            # a `skipif(geteuid() != 0, reason="needs root ...")` says the same thing
            or any("needs root" in str(m.kwargs.get("reason", "")) for m in item.iter_markers("skipif"))
        )
        item.add_marker(pytest.mark.root if needs_root else pytest.mark.unit)
        if tier in CONFORMANCE_DIRS:
            item.add_marker(pytest.mark.conformance)
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="needs root (namespaces, mounts, cgroups)")
    for item in items:
        if item.get_closest_marker("root") is not None:
            item.add_marker(skip)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    """A `unit` test that skips because it needs root is marked wrong: it fails, naming the fix."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and item.get_closest_marker("unit") is not None and os.geteuid() != 0:
        reason = str(report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr)
        if "root" in reason:
            report.outcome = "failed"
            report.longrepr = f"{item.nodeid} is marked unit but skipped as non-root ({reason}): mark it root"
