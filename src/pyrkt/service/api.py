"""`rkt api-service`: rkt's public gRPC API v1alpha over pyrkt's pods and image store.

Read-only: every answer is computed from `pods/` and the image index at the
time of the request (pyrkt.service.podview / imageview); nothing is cached
and nothing is written, so the service may run beside any `rkt` command,
start and stop at any time, and run without root given read access to the
data dir. A request the service cannot answer gets a gRPC status with a
message (INVALID_ARGUMENT, NOT_FOUND, ...), never a traceback, and the server
keeps serving.

Only `rkt api-service` imports this module: grpc and the generated modules
cost ~100 ms of imports that no other command pays.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from concurrent import futures
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import grpc

from pyrkt import __version__
from pyrkt.service import events as ev
from pyrkt.service import logs as logmod
from pyrkt.service.filters import any_filter, image_matches, pod_matches
from pyrkt.service.imageview import ImageView, find_images, list_images
from pyrkt.service.podview import POD_STATE_NUMBERS, PodView, find_pods, list_pods, read_pod
from pyrkt.service.v1alpha import api_pb2 as _pb
from pyrkt.service.v1alpha import api_pb2_grpc as _pb_grpc

# the generated modules, untyped (their messages are built at import from the descriptor)
pb: Any = _pb
pb_grpc: Any = _pb_grpc

API_VERSION = "1.0.0-alpha"
POLL_SECONDS = 0.2  # ListenEvents and GetLogs(follow): how often the store is looked at again
MAX_WORKERS = 64  # every open stream holds a thread: 20 clients following logs must leave room


class ServiceError(Exception):
    """The service could not start (one line for the user)."""


class RequestError(Exception):
    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class ServiceConfig:
    dir: str
    system_config: str = ""
    local_config: str = ""
    user_config: str = ""
    insecure_flags: str = ""
    trust_keys_from_https: bool = False


def _unary(fn: Callable[[Any, Any, Any], Any]) -> Callable[[Any, Any, Any], Any]:
    def handler(self: Any, request: Any, context: Any) -> Any:
        try:
            return fn(self, request, context)
        except RequestError as exc:
            context.abort(exc.code, str(exc))
        except Exception as exc:  # a bug, or the store in a state we did not foresee: a status, not a crash
            context.abort(grpc.StatusCode.INTERNAL, f"{fn.__name__}: {type(exc).__name__}: {exc}")
    handler.__name__ = fn.__name__
    return handler


def _stream(fn: Callable[[Any, Any, Any], Iterator[Any]]) -> Callable[[Any, Any, Any], Iterator[Any]]:
    def handler(self: Any, request: Any, context: Any) -> Iterator[Any]:
        try:
            yield from fn(self, request, context)
        except RequestError as exc:
            context.abort(exc.code, str(exc))
        except Exception as exc:
            context.abort(grpc.StatusCode.INTERNAL, f"{fn.__name__}: {type(exc).__name__}: {exc}")
    handler.__name__ = fn.__name__
    return handler


def _ns(t: float | None) -> int:
    return int(t * 1e9) if t else 0


def _kvs(pairs: list[tuple[str, str]]) -> list[Any]:
    return [pb.KeyValue(Key=k, value=v) for k, v in pairs]


def image_message(img: ImageView, detail: bool) -> Any:
    msg = pb.Image(base_format=pb.ImageFormat(type=img.format_type, version=img.format_version), id=img.id, name=img.name,
                   version=img.version, import_timestamp=int(img.import_time), size=img.size,
                   annotations=_kvs(img.annotations), labels=_kvs(img.labels))
    if detail:
        msg.manifest = img.manifest
    return msg


def pod_message(pod: PodView, detail: bool, images: dict[str, ImageView]) -> Any:
    msg = pb.Pod(id=pod.uuid, state=pod.state_number, annotations=_kvs(pod.annotations), cgroup=pod.cgroup,
                 created_at=_ns(pod.created), started_at=_ns(pod.started), gc_marked_at=_ns(pod.gc_marked),
                 networks=[pb.Network(name=n, ipv4=ip) for n, ip in zip(pod.networks, pod.network_ips)])
    if pod.pid is not None and pod.state not in ("embryo", "preparing", "aborted prepare", "prepared"):
        msg.pid = pod.pid
    for a in pod.apps:
        app = msg.apps.add(name=a.name, annotations=_kvs(a.annotations))
        img = images.get(a.image_id)
        if detail and img is not None:
            app.image.CopyFrom(image_message(img, True))
        else:
            app.image.id = a.image_id
            app.image.name = a.image_name
            app.image.version = a.image_version
        if detail:
            if a.exit_code is not None:
                app.state = pb.APP_STATE_EXITED
                app.exit_code = a.exit_code
            elif pod.state == "running" and pod.started is not None:
                app.state = pb.APP_STATE_RUNNING
            elif pod.state in ("exited", "exited garbage", "deleting", "garbage"):
                app.state = pb.APP_STATE_EXITED
    if detail:
        msg.manifest = pod.manifest
    return msg


def _check_states(filters: Any) -> None:
    known = set(POD_STATE_NUMBERS.values())
    for f in filters:
        for s in f.states:
            if s not in known:
                raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, f"PodFilter.states: unknown pod state {s}")


def _one_pod(data_dir: str, pod_id: str, what: str) -> PodView:
    if not pod_id.strip():
        raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, f"{what}: the pod ID is empty")
    found = find_pods(data_dir, pod_id)
    if not found:
        raise RequestError(grpc.StatusCode.NOT_FOUND, f"{what}: no pod {pod_id!r}")
    if len(found) > 1:
        raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, f"{what}: pod ID {pod_id!r} is ambiguous: it matches {len(found)} pods")
    return found[0]


class PublicAPI(pb_grpc.PublicAPIServicer):  # type: ignore[misc]
    def __init__(self, config: ServiceConfig, stopping: threading.Event) -> None:
        self.config = config
        self.stopping = stopping

    @_unary
    def GetInfo(self, request: Any, context: Any) -> Any:
        c = self.config
        flags = pb.GlobalFlags(dir=c.dir, system_config_dir=c.system_config, local_config_dir=c.local_config,
                               user_config_dir=c.user_config, insecure_flags=c.insecure_flags,
                               trust_keys_from_https=c.trust_keys_from_https)
        return pb.GetInfoResponse(info=pb.Info(rkt_version=f"1.30.0+pyrkt{__version__}", appc_version="0.8.11",
                                               api_version=API_VERSION, global_flags=flags))

    @_unary
    def ListPods(self, request: Any, context: Any) -> Any:
        _check_states(request.filters)
        pods = [p for p in list_pods(self.config.dir) if any_filter(p, request.filters, pod_matches)]
        images = {i.id: i for i in list_images(self.config.dir)} if request.detail else {}
        return pb.ListPodsResponse(pods=[pod_message(p, request.detail, images) for p in pods])

    @_unary
    def InspectPod(self, request: Any, context: Any) -> Any:
        pod = _one_pod(self.config.dir, request.id, "InspectPod")
        images = {i.id: i for i in list_images(self.config.dir)}
        return pb.InspectPodResponse(pod=pod_message(pod, True, images))

    @_unary
    def ListImages(self, request: Any, context: Any) -> Any:
        for f in request.filters:
            if f.imported_after < 0 or f.imported_before < 0:
                raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, "ImageFilter: imported_after/imported_before must not be negative")
        images = [i for i in list_images(self.config.dir) if any_filter(i, request.filters, image_matches)]
        return pb.ListImagesResponse(images=[image_message(i, request.detail) for i in images])

    @_unary
    def InspectImage(self, request: Any, context: Any) -> Any:
        if not request.id.strip():
            raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, "InspectImage: the image ID is empty")
        found = find_images(self.config.dir, request.id)
        if not found:
            raise RequestError(grpc.StatusCode.NOT_FOUND, f"InspectImage: no image {request.id!r}")
        if len(found) > 1:
            raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, f"InspectImage: image ID {request.id!r} is ambiguous")
        return pb.InspectImageResponse(image=image_message(found[0], True))

    def _snapshot(self) -> ev.Snapshot:
        return ev.snapshot(list_pods(self.config.dir), list_images(self.config.dir))

    @_stream
    def ListenEvents(self, request: Any, context: Any) -> Iterator[Any]:
        f = request.filter
        if f.since_time < 0 or f.until_time < 0:
            raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, "EventFilter: since_time/until_time must not be negative")
        if f.until_time and f.since_time and f.until_time <= f.since_time:
            raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, "EventFilter: until_time must be after since_time")
        types, ids, names = list(f.types), list(f.ids), list(f.names)
        for t in types:
            if not 1 <= t <= 9:
                raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, f"EventFilter.types: unknown event type {t}")
        old = self._snapshot()
        while context.is_active() and not self.stopping.is_set():
            now = time.time()
            if f.until_time and now >= f.until_time:
                return
            self.stopping.wait(POLL_SECONDS)
            new = self._snapshot()
            changes, old = ev.diff(old, new), new
            now = time.time()
            if f.since_time and now < f.since_time:
                continue
            out = [pb.Event(type=e.type, id=e.id, time=int(now), data=_kvs(list(e.data)), **{"from": e.name})
                   for e in changes if ev.wanted(e, types, ids, names)]
            if out:
                yield pb.ListenEventsResponse(events=out)

    @_stream
    def GetLogs(self, request: Any, context: Any) -> Iterator[Any]:
        if request.lines < 0:
            raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, "GetLogs: lines must not be negative")
        if request.since_time < 0 or request.until_time < 0:
            raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, "GetLogs: since_time/until_time must not be negative")
        pod = _one_pod(self.config.dir, request.pod_id, "GetLogs")
        names = [a.name for a in pod.apps]
        if request.app_name:
            if request.app_name not in names:
                raise RequestError(grpc.StatusCode.NOT_FOUND, f"GetLogs: pod {pod.uuid} has no app {request.app_name!r}")
            names = [request.app_name]
        since, until = request.since_time, request.until_time

        def paths(p: PodView) -> dict[str, str]:
            base = os.path.join(self.config.dir, "pods", p.directory, p.uuid, "apps")
            return {n: os.path.join(base, n, "log") for n in names}

        offsets: dict[str, int] = {}
        first: list[logmod.LogLine] = []
        running = pod.state == "running"
        for name, path in paths(pod).items():
            got, offsets[name] = logmod.read_lines(path, name, 0, complete_only=running and request.follow)
            first.extend(got)
        selected = logmod.select(first, since, until, request.lines)
        for i in range(0, len(selected), 1000):
            yield pb.GetLogsResponse(lines=[ln.text for ln in selected[i:i + 1000]])
        if not request.follow:
            return
        while context.is_active() and not self.stopping.is_set():
            if until and time.time() >= until:
                return
            self.stopping.wait(POLL_SECONDS)
            now_pod = read_pod(self.config.dir, pod.uuid)
            if now_pod is None:
                return  # removed
            still = now_pod.state == "running"
            new: list[logmod.LogLine] = []
            for name, path in paths(now_pod).items():
                got, offsets[name] = logmod.read_lines(path, name, offsets[name], complete_only=still)
                new.extend(got)
            new = logmod.select(new, since, until)
            if new:
                yield pb.GetLogsResponse(lines=[ln.text for ln in new])
            if not still:
                return  # the app exited and every line it wrote was sent


def parse_listen(text: str) -> str:
    """ADDR:PORT as grpc takes it; `:PORT` listens on every address, as rkt's Go listener did."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ServiceError(f"--listen={text}: expected ADDR:PORT (e.g. localhost:15441)")
    return f"{host or '[::]'}:{port}"


def serve(config: ServiceConfig, listen: str) -> int:
    address = parse_listen(listen)
    stopping = threading.Event()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=MAX_WORKERS, thread_name_prefix="api"))
    pb_grpc.add_PublicAPIServicer_to_server(PublicAPI(config, stopping), server)
    try:
        port = server.add_insecure_port(address)
    except RuntimeError as exc:
        raise ServiceError(f"cannot listen on {listen}: {exc}") from None
    if not port:
        raise ServiceError(f"cannot listen on {listen}: address in use or not available")
    server.start()
    print(f"API service running on {listen}", file=sys.stderr, flush=True)

    def stop(signum: int, _frame: object) -> None:
        stopping.set()

    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, stop)
    while not stopping.wait(3600):
        pass
    server.stop(grace=1).wait()
    return 0
