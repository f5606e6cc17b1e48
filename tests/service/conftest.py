"""Fixtures for the API service tests: a store with pods in every state worth listing, the service over it."""

from __future__ import annotations

import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "pod"))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "image"))

from podfixtures import cleanup, copy_store, make_template, run_rkt  # noqa: E402
from servicefixtures import Service, generate_client  # noqa: E402


@pytest.fixture(scope="session")
def client_modules(tmp_path_factory):  # type: ignore[no-untyped-def]
    import grpc_tools  # noqa: F401 - the `test` extra: missing means `make install` did not run
    return generate_client(str(tmp_path_factory.mktemp("apiclient")))


@pytest.fixture(scope="session")
def service_template(tmp_path_factory):  # type: ignore[no-untyped-def]
    if os.geteuid() != 0:
        pytest.skip("needs root")
    work = str(tmp_path_factory.mktemp("svcimages"))
    store = make_template(work)
    # and a docker:// image from a loopback registry (the template's OCI layout, pushed there)
    from imagefixtures import start_registry, stop

    reg = start_registry(os.path.join(work, "registry"))
    try:
        import subprocess

        from imagebuild import busybox_entries, tar_bytes, write_oci_layout

        layout = os.path.join(work, "pushed")
        write_oci_layout(layout, [tar_bytes(busybox_entries(("sh", "echo")))], {"Cmd": ["/bin/sh", "-c", "echo app"]})
        subprocess.run(["skopeo", "--insecure-policy", "copy", "-q", "--dest-tls-verify=false", "--format", "v2s2",
                        f"oci:{layout}:latest", f"docker://{reg.host}/team/app:latest"], check=True, capture_output=True, timeout=120)
        r = run_rkt(store, "--insecure-options=image,http", "fetch", f"docker://{reg.host}/team/app:latest")
        assert r.code == 0, r.err
    finally:
        stop(reg.proc)
    return store


@pytest.fixture
def store(service_template, tmp_path):  # type: ignore[no-untyped-def]
    """A private copy of the template store: rkt(*args) runs rkt over it; gc'd after the test."""
    data = copy_store(service_template, str(tmp_path / "rkt"))

    def call(*args: str, **kw):  # type: ignore[no-untyped-def]
        return run_rkt(data, *args, **kw)

    call.dir = data  # type: ignore[attr-defined]
    yield call
    cleanup(data)


@pytest.fixture
def service(store, client_modules):  # type: ignore[no-untyped-def]
    svc = Service(store.dir, client_modules[1])
    yield svc
    svc.stop()
