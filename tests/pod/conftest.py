"""Fixtures for the pod tests: a template store of busybox images, a private store per test."""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from podfixtures import cleanup, copy_store, make_template, run_rkt  # noqa: E402


@pytest.fixture(scope="session")
def pod_template(tmp_path_factory):  # type: ignore[no-untyped-def]
    if os.geteuid() != 0:
        pytest.skip("needs root")
    return make_template(str(tmp_path_factory.mktemp("podimages")))


@pytest.fixture
def rkt(pod_template, tmp_path):  # type: ignore[no-untyped-def]
    """rkt(*args) against a private copy of the template store; every pod is gc'd after the test."""
    data = copy_store(pod_template, str(tmp_path / "rkt"))

    def call(*args: str, **kw):  # type: ignore[no-untyped-def]
        return run_rkt(data, *args, **kw)

    call.dir = data  # type: ignore[attr-defined]
    yield call
    cleanup(data)
