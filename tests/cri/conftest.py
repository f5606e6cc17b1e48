"""Fixtures for tests/cri: one private containerd (CRI plugin on) per module, and pod sandboxes in it."""

from __future__ import annotations

import os
import shutil
from typing import Iterator

import pytest

from cri_fixtures import RUNTIME, CriContainerd, Pod, build_image_archive, compile_client


@pytest.fixture(scope="module")
def cri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CriContainerd]:
    from toolcheck import need_installed, need_tools

    need_tools("containerd", "ctr", "containerd-shim-runc-v2")
    need_installed(RUNTIME)
    work = str(tmp_path_factory.mktemp("cri"))
    pb, pb_grpc = compile_client(work)
    cd = CriContainerd(pb, pb_grpc)
    try:
        assert cd.cri_plugin_status() == "ok", f"containerd's CRI plugin did not load: {cd.log_tail()}"
        cd.ctr("image", "import", "--snapshotter", "native", build_image_archive(work, os.path.join(work, "images.tar")))
        yield cd
        cd.remove_everything()
        left = {"shims": cd.shims(), "container processes": cd.processes_in_containers(),
                "runtime state": cd.runtime_containers(), "mounts": cd.mounts()}
        assert not any(left.values()), f"left behind after removing every pod: {left}"
    finally:
        cd.close()


@pytest.fixture(scope="module")
def pod(cri: CriContainerd) -> Iterator[Pod]:
    p = Pod(cri, "shared")
    yield p
    p.remove()


@pytest.fixture(scope="module")
def privileged_pod(cri: CriContainerd) -> Iterator[Pod]:
    p = Pod(cri, "privileged", privileged=True)
    yield p
    p.remove()
