"""Fixtures for tests/cri: one private containerd (CRI plugin on) per module, and pod sandboxes in it."""

from __future__ import annotations

import os
import shutil
from typing import Any, Iterator

import pytest

from cri_fixtures import BUSYBOX_IMAGE, RUNTIME, CriContainerd, build_image_archive, compile_client


@pytest.fixture(scope="module")
def cri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CriContainerd]:
    missing = [t for t in ("containerd", "ctr", "containerd-shim-runc-v2") if shutil.which(t) is None]
    if missing:
        pytest.skip(f"not installed: {' '.join(missing)} (make install installs them from packages.apt)")
    if not os.access(RUNTIME, os.X_OK):
        pytest.skip("needs the installed .venv/bin/pyrkt-runtime (make install)")
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


class Pod:
    """A running pod sandbox and the config it was made with (CreateContainer needs it again)."""

    def __init__(self, cri: CriContainerd, name: str, privileged: bool = False) -> None:
        pb = cri.pb
        self.cri = cri
        self.log_dir = os.path.join(cri.base, "logs", name)
        ns = pb.NamespaceOption(network=pb.NODE, pid=pb.CONTAINER, ipc=pb.POD)
        self.config = pb.PodSandboxConfig(
            metadata=pb.PodSandboxMetadata(name=name, uid=f"uid-{name}-{os.getpid()}", namespace="pyrkt-cri"),
            log_directory=self.log_dir,
            labels={"pyrkt-test": name},
            linux=pb.LinuxPodSandboxConfig(
                cgroup_parent=cri.cgroup_parent,
                security_context=pb.LinuxSandboxSecurityContext(namespace_options=ns, privileged=privileged)),
        )
        self.id = cri.runtime.RunPodSandbox(pb.RunPodSandboxRequest(config=self.config), timeout=60).pod_sandbox_id
        self.containers: list[str] = []

    def container(self, name: str, command: list[str], security: Any = None, start: bool = True, **kw: Any) -> str:
        """Create (and start) a busybox container in this pod; its id."""
        pb = self.cri.pb
        ns = pb.NamespaceOption(network=pb.NODE, pid=pb.CONTAINER, ipc=pb.POD)
        if security is None:
            security = pb.LinuxContainerSecurityContext()
        security.namespace_options.CopyFrom(ns)
        config = pb.ContainerConfig(
            metadata=pb.ContainerMetadata(name=name), image=pb.ImageSpec(image=BUSYBOX_IMAGE),
            command=command, log_path=f"{name}.log", linux=pb.LinuxContainerConfig(security_context=security), **kw)
        cid = self.cri.runtime.CreateContainer(
            pb.CreateContainerRequest(pod_sandbox_id=self.id, config=config, sandbox_config=self.config), timeout=60).container_id
        self.containers.append(cid)
        if start:
            self.cri.runtime.StartContainer(pb.StartContainerRequest(container_id=cid), timeout=60)
        return cid

    def exec_sync(self, cid: str, *cmd: str) -> Any:
        return self.cri.runtime.ExecSync(self.cri.pb.ExecSyncRequest(container_id=cid, cmd=list(cmd), timeout=30), timeout=60)

    def remove_container(self, cid: str) -> None:
        pb = self.cri.pb
        self.cri.runtime.StopContainer(pb.StopContainerRequest(container_id=cid, timeout=0), timeout=60)
        self.cri.runtime.RemoveContainer(pb.RemoveContainerRequest(container_id=cid), timeout=60)
        self.containers.remove(cid)

    def remove(self) -> None:
        pb = self.cri.pb
        self.cri.runtime.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=self.id), timeout=60)
        self.cri.runtime.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=self.id), timeout=60)


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
