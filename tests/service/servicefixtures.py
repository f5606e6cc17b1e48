"""Helpers for the service tests: the installed `rkt`, a client generated from the project's .proto.

The client is generated at test time from src/pyrkt/service/v1alpha/api.proto
into a temp dir (as a module named `api_pb2`, not pyrkt's), so it shares
nothing with the server but the wire: what any client built from rkt's
api.proto would see. The server is `.venv/bin/rkt api-service`, a subprocess.
"""

from __future__ import annotations

import importlib
import os
import socket
import subprocess
import sys
import time
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROTO_DIR = os.path.join(ROOT, "src", "pyrkt", "service", "v1alpha")
RKT_BIN = os.path.join(ROOT, ".venv", "bin", "rkt")


def installed_rkt() -> str:
    from toolcheck import need_installed

    need_installed(RKT_BIN)
    return RKT_BIN


def generate_client(dest: str) -> tuple[Any, Any]:
    """(api_pb2, api_pb2_grpc) compiled from the project's api.proto into `dest`."""
    from grpc_tools import protoc

    rc = protoc.main(["protoc", f"-I{PROTO_DIR}", f"--python_out={dest}", f"--grpc_python_out={dest}", os.path.join(PROTO_DIR, "api.proto")])
    assert rc == 0, "protoc failed on api.proto"
    sys.path.insert(0, dest)
    try:
        return importlib.import_module("api_pb2"), importlib.import_module("api_pb2_grpc")
    finally:
        sys.path.remove(dest)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Service:
    """`rkt --dir DIR api-service --listen=127.0.0.1:PORT` and a channel to it."""

    def __init__(self, data_dir: str, pb_grpc: Any) -> None:
        import grpc

        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([installed_rkt(), "--dir", data_dir, "api-service", f"--listen={self.address}"],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.channel = grpc.insecure_channel(self.address)
        try:
            grpc.channel_ready_future(self.channel).result(timeout=30)
        except grpc.FutureTimeoutError:
            self.stop()
            raise AssertionError(f"api-service did not come up: {self.proc.stderr.read() if self.proc.stderr else ''}")
        self.stub = pb_grpc.PublicAPIStub(self.channel)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> str:
        self.channel.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.stderr.read() if self.proc.stderr else ""


def wait_for(pred: Any, timeout: float = 30, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
