"""Test-wide settings: skip tests marked `root` when not running as root; a private seccomp cache."""

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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="needs root (namespaces, mounts, cgroups)")
    for item in items:
        if "root" in item.keywords:
            item.add_marker(skip)
