"""`rkt api-service`: every RPC of rkt's v1alpha API, from a client built from the project's .proto,
against a store with real pods (running, exited, exited garbage, prepared) and images (ACI, docker)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import grpc
import pytest

from podfixtures import RKT, SRC, spawn_rkt  # noqa: E402
from servicefixtures import ROOT, Service, installed_rkt, wait_for  # noqa: E402

pytestmark = pytest.mark.root
BB = "example.com/busybox"
H = "--net=host"


def _uuid_of(r) -> str:  # type: ignore[no-untyped-def]
    assert r.code == 0, r.err
    return r.out.strip().splitlines()[-1]


def _run(store, *args: str) -> str:  # type: ignore[no-untyped-def]
    """rkt run ... --uuid-file-save: the pod's UUID."""
    path = os.path.join(store.dir, f"uuid-{time.monotonic_ns()}")
    r = store("run", H, f"--uuid-file-save={path}", *args)
    assert r.code in (0, 3), r.err
    with open(path) as f:
        return f.read().strip()


def _spawn(store, *args: str):  # type: ignore[no-untyped-def]
    path = os.path.join(store.dir, f"uuid-{time.monotonic_ns()}")
    proc = spawn_rkt(store.dir, "run", H, f"--uuid-file-save={path}", *args)
    uuid = wait_for(lambda: os.path.exists(path) and open(path).read().strip(), what="the pod's uuid file")
    r = store("status", "--wait-ready=30s", uuid)
    assert r.code == 0, r.err
    return proc, uuid


def _stop(store, proc, uuid: str) -> None:  # type: ignore[no-untyped-def]
    store("stop", uuid)
    proc.wait(timeout=60)


@pytest.fixture
def pods(store):  # type: ignore[no-untyped-def]
    """exited garbage, exited (with an app annotation), prepared and running pods."""
    garbage = _run(store, BB)
    r = store("gc", "--mark-only")
    assert r.code == 0, r.err
    exited = _run(store, BB, "--name=greeter", "--user-annotation=team=blue", "--exec=/bin/sh", "--", "-c", "echo one; echo two; echo three; exit 3")
    prepared = _uuid_of(store("prepare", H, "example.com/env-printer"))
    proc, running = _spawn(store, BB, "--name=sleeper", "--exec=/bin/sh", "--", "-c", "echo started; exec sleep 300")
    yield {"garbage": garbage, "exited": exited, "prepared": prepared, "running": running}
    _stop(store, proc, running)


def test_get_info(service, client_modules, store):  # type: ignore[no-untyped-def]
    pb = client_modules[0]
    info = service.stub.GetInfo(pb.GetInfoRequest()).info
    assert info.rkt_version.startswith("1.30.0")
    assert info.appc_version == "0.8.11" and info.api_version
    assert info.global_flags.dir == store.dir


def test_list_pods_matches_rkt_list(service, client_modules, store, pods):  # type: ignore[no-untyped-def]
    pb = client_modules[0]
    listed = json.loads(store("list", "--format=json").out)
    got = service.stub.ListPods(pb.ListPodsRequest()).pods
    assert [p.id for p in got] == [p["name"] for p in listed]
    state_names = {v: k for k, v in pb.PodState.items()}
    api_states = {"exited garbage": "POD_STATE_EXITED", "aborted prepare": "POD_STATE_ABORTED_PREPARE"}
    for p, want in zip(got, listed):
        assert state_names[p.state] == api_states.get(want["state"], "POD_STATE_" + want["state"].upper()), (p, want)
        assert [a.name for a in p.apps] == want["app_names"]
        assert p.created_at == want.get("created_at", 0)
        assert p.started_at == want.get("started_at", 0)
        assert not p.manifest  # only with detail
    by_id = {p.id: p for p in got}
    assert by_id[pods["running"]].pid > 0 and by_id[pods["running"]].cgroup == f"/rkt-{pods['running']}"
    assert by_id[pods["garbage"]].gc_marked_at > 0 and by_id[pods["exited"]].gc_marked_at == 0
    assert by_id[pods["prepared"]].pid == 0


def test_list_pods_detail_and_inspect(service, client_modules, store, pods):  # type: ignore[no-untyped-def]
    pb = client_modules[0]
    detailed = {p.id: p for p in service.stub.ListPods(pb.ListPodsRequest(detail=True)).pods}
    ex = detailed[pods["exited"]]
    assert json.loads(ex.manifest) == json.loads(store("cat-manifest", pods["exited"]).out)
    app = ex.apps[0]
    assert app.name == "greeter" and app.state == pb.APP_STATE_EXITED and app.exit_code == 3
    assert app.image.name == BB and app.image.version == "1.0" and json.loads(app.image.manifest)["name"] == BB
    assert [(kv.Key, kv.value) for kv in app.annotations] == [("team", "blue")]
    run = detailed[pods["running"]]
    assert run.apps[0].state == pb.APP_STATE_RUNNING
    inspected = service.stub.InspectPod(pb.InspectPodRequest(id=pods["exited"])).pod
    assert inspected == ex
    assert service.stub.InspectPod(pb.InspectPodRequest(id=pods["running"][:8])).pod.id == pods["running"]


def test_pod_filters(service, client_modules, store, pods):  # type: ignore[no-untyped-def]
    pb = client_modules[0]

    def ids(*filters) -> set[str]:  # type: ignore[no-untyped-def]
        return {p.id for p in service.stub.ListPods(pb.ListPodsRequest(filters=list(filters))).pods}

    F = pb.PodFilter
    everything = set(pods.values())
    assert ids() == everything
    assert ids(F(ids=[pods["exited"], pods["prepared"]])) == {pods["exited"], pods["prepared"]}
    assert ids(F(states=[pb.POD_STATE_RUNNING])) == {pods["running"]}
    assert ids(F(states=[pb.POD_STATE_EXITED])) == {pods["exited"], pods["garbage"]}
    assert ids(F(states=[pb.POD_STATE_PREPARED]), F(ids=[pods["running"]])) == {pods["prepared"], pods["running"]}  # OR
    assert ids(F(app_names=["greeter"])) == {pods["exited"]}
    assert ids(F(app_names=["greeter", "sleeper"])) == set()  # all of
    images = {i.name: i.id for i in service.stub.ListImages(pb.ListImagesRequest()).images}
    assert ids(F(image_ids=[images["example.com/env-printer"]])) == {pods["prepared"]}
    assert ids(F(image_ids=[images[BB]], states=[pb.POD_STATE_RUNNING])) == {pods["running"]}  # AND
    assert ids(F(network_names=["default"])) == set()  # --net=host pods are in no network
    assert ids(F(annotations=[pb.KeyValue(Key="team", value="blue")])) == set()  # an app's annotation is not the pod's
    assert ids(F(cgroups=[f"/rkt-{pods['running']}"])) == {pods["running"]}
    assert ids(F(pod_sub_cgroups=[f"/rkt-{pods['running']}-sleeper"])) == {pods["running"]}
    assert ids(F(pod_sub_cgroups=[f"/rkt-{pods['running']}x"])) == set()


def test_default_network_pod_reports_its_address(service, client_modules, store):  # type: ignore[no-untyped-def]
    """A pod on the default CNI network: ListPods/InspectPod give its network with the ipv4 `rkt list` shows."""
    pb = client_modules[0]
    path = os.path.join(store.dir, "uuid-default-net")
    proc = spawn_rkt(store.dir, "run", f"--uuid-file-save={path}", BB, "--exec=/bin/sh", "--", "-c", "exec sleep 300")
    uuid = wait_for(lambda: os.path.exists(path) and open(path).read().strip(), what="the pod's uuid file")
    try:
        r = store("status", "--wait-ready=30s", uuid)
        assert r.code == 0, r.err
        listed = next(p for p in json.loads(store("list", "--format=json").out) if p["name"] == uuid)
        want = [(n["netName"], n["ip"]) for n in listed["networks"]]
        assert want and want[0][0] == "default" and want[0][1].startswith("172.16.28.")
        pod = service.stub.InspectPod(pb.InspectPodRequest(id=uuid)).pod
        assert [(n.name, n.ipv4) for n in pod.networks] == want
        got = {p.id for p in service.stub.ListPods(pb.ListPodsRequest(filters=[pb.PodFilter(network_names=["default"])])).pods}
        assert got == {uuid}
    finally:
        _stop(store, proc, uuid)


def test_images_match_rkt_image_list(service, client_modules, store):  # type: ignore[no-untyped-def]
    pb = client_modules[0]
    listed = json.loads(store("image", "list", "--format=json").out)
    got = service.stub.ListImages(pb.ListImagesRequest()).images
    assert sorted(i.id for i in got) == sorted(i["id"] for i in listed)
    by_id = {i.id: i for i in got}
    for want in listed:
        i = by_id[want["id"]]
        assert (f"{i.name}:{i.version}" if i.version else i.name) == want["name"]
        assert i.import_timestamp == want["import_time"] // 10**9
        assert i.size == want["size"]
        assert not i.manifest
    formats = {i.name: i.base_format.type for i in got}
    assert formats[BB] == pb.IMAGE_TYPE_APPC
    docker = sorted(i.name for i in got if i.base_format.type == pb.IMAGE_TYPE_DOCKER)
    assert len(docker) == 2 and docker[0].endswith("/team/app"), formats  # from the registry, and the docker-media-type layout
    bb = next(i for i in got if i.name == BB)
    full = service.stub.InspectImage(pb.InspectImageRequest(id=bb.id)).image
    assert json.loads(full.manifest) == json.loads(store("image", "cat-manifest", bb.id).out)
    assert service.stub.InspectImage(pb.InspectImageRequest(id=bb.id[:19])).image.id == bb.id
    detail = {i.id: i for i in service.stub.ListImages(pb.ListImagesRequest(detail=True)).images}
    assert detail[bb.id] == full


def test_image_filters(service, client_modules, store):  # type: ignore[no-untyped-def]
    pb = client_modules[0]
    F, KV = pb.ImageFilter, pb.KeyValue

    def names(*filters) -> set[str]:  # type: ignore[no-untyped-def]
        return {i.name for i in service.stub.ListImages(pb.ListImagesRequest(filters=list(filters))).images}

    everything = names()
    assert len(everything) == 7
    bb = next(i for i in service.stub.ListImages(pb.ListImagesRequest()).images if i.name == BB)
    assert names(F(ids=[bb.id])) == {BB}
    assert names(F(prefixes=["example.com/"])) == {n for n in everything if n.startswith("example.com/")}
    assert names(F(base_names=["busybox"])) == {BB}
    assert names(F(base_names=["busy"])) == set()
    assert names(F(keywords=["work"])) == {"example.com/reduce-worker", "example.com/worker-backup"}
    assert names(F(labels=[KV(Key="version", value="1.0")], keywords=["env"])) == {"example.com/env-printer"}
    assert names(F(labels=[KV(Key="version", value="9")])) == set()
    assert names(F(imported_after=bb.import_timestamp - 3600)) == everything
    assert names(F(imported_after=bb.import_timestamp + 3600)) == set()
    assert names(F(imported_before=bb.import_timestamp + 3600)) == everything
    assert names(F(imported_before=bb.import_timestamp - 3600)) == set()
    assert names(F(annotations=[KV(Key="x", value="y")])) == set()
    assert names(F(full_names=[BB, "example.com/data"])) == {BB, "example.com/data"}
    assert names(F(full_names=["example.com/busy"])) == set()
    assert names(F(full_names=[BB]), F(base_names=["data"])) == {BB, "example.com/data"}  # OR


def test_malformed_requests(service, client_modules, store, pods):  # type: ignore[no-untyped-def]
    pb = client_modules[0]
    cases = [
        (lambda: service.stub.InspectPod(pb.InspectPodRequest(id="")), grpc.StatusCode.INVALID_ARGUMENT),
        (lambda: service.stub.InspectPod(pb.InspectPodRequest(id="ffffffff-0000")), grpc.StatusCode.NOT_FOUND),
        (lambda: service.stub.InspectImage(pb.InspectImageRequest(id="")), grpc.StatusCode.INVALID_ARGUMENT),
        (lambda: service.stub.InspectImage(pb.InspectImageRequest(id="sha512-00")), grpc.StatusCode.NOT_FOUND),
        (lambda: service.stub.InspectImage(pb.InspectImageRequest(id="sha")), grpc.StatusCode.INVALID_ARGUMENT),  # ambiguous
        (lambda: service.stub.ListPods(pb.ListPodsRequest(filters=[pb.PodFilter(states=[42])])), grpc.StatusCode.INVALID_ARGUMENT),
        (lambda: service.stub.ListImages(pb.ListImagesRequest(filters=[pb.ImageFilter(imported_after=-1)])), grpc.StatusCode.INVALID_ARGUMENT),
        (lambda: list(service.stub.GetLogs(pb.GetLogsRequest(pod_id=pods["exited"], lines=-1))), grpc.StatusCode.INVALID_ARGUMENT),
        (lambda: list(service.stub.GetLogs(pb.GetLogsRequest(pod_id=pods["exited"], app_name="nope"))), grpc.StatusCode.NOT_FOUND),
        (lambda: list(service.stub.GetLogs(pb.GetLogsRequest())), grpc.StatusCode.INVALID_ARGUMENT),
        (lambda: list(service.stub.ListenEvents(pb.ListenEventsRequest(filter=pb.EventFilter(types=[77])))), grpc.StatusCode.INVALID_ARGUMENT),
    ]
    for call, code in cases:
        with pytest.raises(grpc.RpcError) as exc:
            call()
        assert exc.value.code() == code, exc.value
        assert exc.value.details()
    # bytes that are no protobuf message at all
    raw = service.channel.unary_unary("/v1alpha.PublicAPI/ListPods", request_serializer=None, response_deserializer=None)
    with pytest.raises(grpc.RpcError) as exc:
        raw(b"\xff\xff\xff\xff\x0f")
    assert exc.value.code() != grpc.StatusCode.OK
    unknown = service.channel.unary_unary("/v1alpha.PublicAPI/RemovePod", request_serializer=None, response_deserializer=None)
    with pytest.raises(grpc.RpcError) as exc:
        unknown(b"")
    assert exc.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert service.alive()
    assert len(service.stub.ListPods(pb.ListPodsRequest()).pods) == 4
    err = service.stop()
    assert "Traceback" not in err, err


def test_get_logs(service, client_modules, store, pods):  # type: ignore[no-untyped-def]
    pb = client_modules[0]

    def lines(**kw) -> list[str]:  # type: ignore[no-untyped-def]
        return [ln for r in service.stub.GetLogs(pb.GetLogsRequest(**kw), timeout=60) for ln in r.lines]

    ex = pods["exited"]
    assert lines(pod_id=ex) == ["one", "two", "three"]
    assert lines(pod_id=ex, app_name="greeter", lines=2) == ["two", "three"]
    assert lines(pod_id=ex, since_time=int(time.time()) + 3600) == []
    assert lines(pod_id=ex, until_time=int(time.time()) + 3600) == ["one", "two", "three"]
    assert lines(pod_id=ex, until_time=1) == []
    assert lines(pod_id=ex, follow=True) == ["one", "two", "three"]  # an exited pod: follow ends after its lines
    # follow a running app: lines arrive as it writes them; the stream ends when it exits
    proc, uuid = _spawn(store, BB, "--name=talker", "--exec=/bin/sh", "--",
                        "-c", "echo first; while [ ! -e /tmp/go ]; do sleep 0.05; done; echo second; echo third")
    stream = service.stub.GetLogs(pb.GetLogsRequest(pod_id=uuid, follow=True), timeout=120)
    got: list[str] = []
    first = next(stream)
    got.extend(first.lines)
    assert got == ["first"]
    r = subprocess.run(RKT + ["--dir", store.dir, "enter", uuid, "/bin/touch", "/tmp/go"], env={**os.environ, "PYTHONPATH": SRC},
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    for resp in stream:
        got.extend(resp.lines)
    assert got == ["first", "second", "third"]
    proc.wait(timeout=60)


def test_events_for_a_pod_started_and_stopped(service, client_modules, store):  # type: ignore[no-untyped-def]
    pb = client_modules[0]
    stream = service.stub.ListenEvents(pb.ListenEventsRequest(), timeout=180)
    events: list = []
    done = threading.Event()

    def collect() -> None:
        try:
            for resp in stream:
                events.extend(resp.events)
        except grpc.RpcError:
            pass
        done.set()

    t = threading.Thread(target=collect, daemon=True)
    t.start()
    time.sleep(1)  # the service took its first snapshot: what follows is news
    proc, uuid = _spawn(store, BB, "--name=ev", "--exec=/bin/sh", "--", "-c", "exec sleep 300")
    wait_for(lambda: any(e.id == uuid and e.type == pb.EVENT_TYPE_POD_STARTED for e in events), what="POD_STARTED")
    _stop(store, proc, uuid)
    wait_for(lambda: any(e.id == uuid and e.type == pb.EVENT_TYPE_POD_EXITED for e in events), what="POD_EXITED")
    assert store("gc", "--grace-period=0s").code == 0
    wait_for(lambda: any(e.id == uuid and e.type == pb.EVENT_TYPE_POD_GARBAGE_COLLECTED for e in events), what="POD_GARBAGE_COLLECTED")
    prepared = _uuid_of(store("prepare", "--quiet", H, BB))
    wait_for(lambda: any(e.id == prepared and e.type == pb.EVENT_TYPE_POD_PREPARED for e in events), what="POD_PREPARED")
    stream.cancel()
    done.wait(10)
    mine = [(e.type, getattr(e, "from")) for e in events if e.id == uuid]
    assert mine == [(pb.EVENT_TYPE_POD_STARTED, uuid), (pb.EVENT_TYPE_APP_STARTED, "ev"), (pb.EVENT_TYPE_APP_EXITED, "ev"),
                    (pb.EVENT_TYPE_POD_EXITED, uuid), (pb.EVENT_TYPE_POD_GARBAGE_COLLECTED, uuid)], mine
    assert all(e.time > 0 for e in events)


def test_event_filter_and_image_events(service, client_modules, store, tmp_path):  # type: ignore[no-untyped-def]
    pb = client_modules[0]
    f = pb.EventFilter(types=[pb.EVENT_TYPE_IMAGE_REMOVED, pb.EVENT_TYPE_IMAGE_IMPORTED], until_time=int(time.time()) + 20)
    stream = service.stub.ListenEvents(pb.ListenEventsRequest(filter=f), timeout=60)
    events: list = []
    t = threading.Thread(target=lambda: [events.extend(r.events) for r in stream], daemon=True)
    t.start()
    time.sleep(1)
    _run(store, BB)  # a pod event: filtered out
    assert store("image", "rm", "example.com/data").code == 0
    wait_for(lambda: events, what="IMAGE_REMOVED")
    t.join(40)  # until_time ends the stream
    assert not t.is_alive()
    assert [(e.type, getattr(e, "from")) for e in events] == [(pb.EVENT_TYPE_IMAGE_REMOVED, "example.com/data")]


def test_twenty_clients_while_pods_start_and_are_gcd(service, client_modules, store, pods):  # type: ignore[no-untyped-def]
    pb = client_modules[0]
    stop = threading.Event()
    errors: list[str] = []
    calls = [0]

    def client(i: int) -> None:
        import grpc as g

        ch = g.insecure_channel(service.address)
        stub = client_modules[1].PublicAPIStub(ch)
        try:
            while not stop.is_set():
                listed = stub.ListPods(pb.ListPodsRequest(detail=i % 2 == 0), timeout=60).pods
                for p in listed[:3]:
                    try:
                        stub.InspectPod(pb.InspectPodRequest(id=p.id), timeout=60)
                        list(stub.GetLogs(pb.GetLogsRequest(pod_id=p.id, lines=5), timeout=60))
                    except g.RpcError as exc:
                        if exc.code() != g.StatusCode.NOT_FOUND:  # gc'd meanwhile: fine
                            raise
                stub.ListImages(pb.ListImagesRequest(detail=True), timeout=60)
                calls[0] += 1
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(f"client {i}: {exc!r}")
        finally:
            ch.close()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(20)]
    for t in threads:
        t.start()
    try:
        for _ in range(3):
            _run(store, BB)
            assert store("gc", "--grace-period=0s").code == 0
    finally:
        stop.set()
        for t in threads:
            t.join(120)
    assert not errors, errors
    assert calls[0] >= 20
    assert service.alive()
    assert "Traceback" not in service.stop()


def test_cli_errors_and_no_grpc_on_other_paths(store):  # type: ignore[no-untyped-def]
    rkt = installed_rkt()
    for args, msg in ((["--listen=nope"], "ADDR:PORT"), (["--listen=127.0.0.1:99999"], "ADDR:PORT"), (["extra"], "unexpected")):
        p = subprocess.run([rkt, "--dir", store.dir, "api-service", *args], capture_output=True, text=True, timeout=60)
        assert p.returncode == 254 and msg in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
    # rkt run, list and image list never import grpc or the generated modules
    probe = ("import sys, runpy; sys.argv=['rkt','--dir',%r]+sys.argv[1:]; "
             "from pyrkt.cli.rkt import main\ntry:\n    code = main()\nfinally:\n"
             "    bad=[m for m in sys.modules if m.startswith(('grpc','google.protobuf','pyrkt.service'))]\n"
             "    sys.stderr.write('HEAVY=%%r\\n' %% bad)\nsys.exit(code)") % store.dir
    for args in (["run", H, BB], ["list"], ["image", "list"], ["status", "--help"]):
        p = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True, timeout=60,
                           env={**os.environ, "PYTHONPATH": SRC})
        assert p.returncode == 0 and "HEAVY=[]" in p.stderr, (args, p.stderr)


def test_committed_modules_are_generated_from_the_proto(tmp_path):  # type: ignore[no-untyped-def]
    from grpc_tools import protoc  # the `test` extra (tests/toolcheck.py: no skip)

    src = os.path.join(ROOT, "src")
    assert protoc.main(["protoc", f"-I{src}", f"--python_out={tmp_path}", f"--grpc_python_out={tmp_path}",
                        os.path.join(src, "pyrkt/service/v1alpha/api.proto")]) == 0
    for name in ("api_pb2.py", "api_pb2_grpc.py"):
        with open(tmp_path / "pyrkt/service/v1alpha" / name) as fresh, open(os.path.join(src, "pyrkt/service/v1alpha", name)) as committed:
            assert fresh.read() == committed.read(), f"{name} is stale: run `make proto`"
