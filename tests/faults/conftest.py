"""Fixtures of the fault tier: the pod tests' busybox store template, a private copy per test."""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "pod"))

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from podfixtures import cleanup, copy_store, make_template, run_rkt  # noqa: E402


@pytest.fixture(scope="session")
def fault_template(tmp_path_factory):  # type: ignore[no-untyped-def]
    if os.geteuid() != 0:
        pytest.skip("needs root")
    return make_template(str(tmp_path_factory.mktemp("faultimages")))


@pytest.fixture
def rkt(fault_template, tmp_path):  # type: ignore[no-untyped-def]
    data = copy_store(fault_template, str(tmp_path / "rkt"))

    def call(*args: str, **kw):  # type: ignore[no-untyped-def]
        return run_rkt(data, *args, **kw)

    call.dir = data  # type: ignore[attr-defined]
    yield call
    cleanup(data)
