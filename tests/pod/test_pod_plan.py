"""Unit tests (no root): the pod plan's values, runtime.json's form, and what a damaged or older file gives."""

from __future__ import annotations

import copy
import json

import pytest

from pyrkt.image.appc import App, ImageManifest, MountPoint, Port
from pyrkt.image.render import RunnableImage
from pyrkt.cli.rkt.podargs import parse_pod_args
from pyrkt.pod.plan import AppPlan, PlanError, PodPlan, RunOverrides, seccomp_from_oci
from pyrkt.pod.prepare import plan
from pyrkt.pod.seccomp_groups import ARCHITECTURES, SeccompPlan
from pyrkt.pod.userns import UserRange
from pyrkt.records import replace

# runtime.json as pyrkt wrote it before the plan was a typed value (an older pod, prepared and
# waiting for run-prepared): the same keys must still be read
OLD_RUNTIME = {
    "net": ["default"], "ipc": "auto", "hostname": "rkt-1234", "interactive": False, "no_overlay": False,
    "private_users": {"shift": 1_000_000, "count": 65536}, "hosts": None, "resolv": "nameserver 1.1.1.1\n",
    "volumes": [{"name": "data", "kind": "empty", "mode": "0755", "uid": 0, "gid": 0}],
    "apps": [{
        "name": "busybox", "image_id": "sha512-" + "a" * 64, "image_name": "example.com/busybox",
        "lowerdirs": ["/l0", "/l1"], "args": ["/bin/sh", "-c", "true"], "env": ["PATH=/bin", "AC_APP_NAME=busybox"],
        "cwd": "/", "uid": 0, "gid": 0, "gids": [], "readonly": False, "caps": ["CAP_CHOWN"],
        "seccomp": {"defaultAction": "SCMP_ACT_KILL_PROCESS", "architectures": list(ARCHITECTURES),
                    "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"}]},
        "resources": {"cpu": {"quota": 50000, "period": 100000}}, "oom_score_adj": None,
        "mounts": [{"volume": "data", "kind": "empty", "source": "volumes/data", "destination": "/data",
                    "readOnly": False, "recursive": True}],
        # no no_new_privileges / stdin / stdout / stderr: files older than those keys
    }],
    "ports": [{"name": "http", "protocol": "tcp", "containerPort": 80, "hostPort": 8080, "hostIP": ""}],
    "local_config": "/etc/rkt", "system_config": "/usr/lib/rkt",
}


def _img(name: str, **app: object) -> RunnableImage:
    manifest = ImageManifest(name, app=App(exec=("/bin/run",), **app))  # type: ignore[arg-type]
    return RunnableImage("sha512-" + "b" * 64, name, manifest, manifest.app, ("/nonexistent",))


def test_an_older_runtime_json_is_read() -> None:
    p = PodPlan.from_json(copy.deepcopy(OLD_RUNTIME))
    assert p.net == ("default",) and p.private_users == UserRange(1_000_000, 65536) and p.volumes[0].name == "data"
    app = p.apps[0]
    assert app.lowerdirs == ("/l0", "/l1") and app.stdin == "null" and app.stdout == "log" and not app.no_new_privileges
    assert app.resources.cpu_quota == 50000 and app.resources.memory_limit is None
    assert app.seccomp == SeccompPlan("retain", ("read", "write"))
    assert p.ports[0].host_port == 8080 and p.ports[0].host_ip == ""
    assert app.mounts[0].destination == "/data" and app.mounts[0].recursive


def test_to_json_is_the_form_runtime_json_always_had() -> None:
    """What the older reader (and the other readers of runtime.json: userns, enter, export) expect, key for key."""
    out = json.loads(json.dumps(PodPlan.from_json(copy.deepcopy(OLD_RUNTIME)).to_json()))
    expected = copy.deepcopy(OLD_RUNTIME)
    expected["apps"][0].update(no_new_privileges=False, stdin="null", stdout="log", stderr="log")  # type: ignore[index]
    assert out == expected


def test_plan_round_trip_through_json() -> None:
    spec = parse_pod_args(["--volume=work,kind=host,source=/opt/work", "--hostname=h", "--dns=9.9.9.9",
                           "--port=http:8080", "--port=dns:127.0.0.1:5353",
                           "w", "--cpu=250m", "--memory=64Mi", "--cpu-shares=100", "--caps-remove=CAP_KILL", "--user=12",
                           "--group=34", "--seccomp=mode=remove,errno=EPERM,mkdir,@rkt/default-whitelist",
                           "--mount", "volume=work,target=/extra", "--oom-score-adj=5", "--stdin=stream",
                           "b", "--seccomp=mode=retain,reboot"])
    images = [_img("example.com/w", mount_points=(MountPoint("cache", "/cache", True),), ports=(Port("http", "tcp", 80),)),
              _img("example.com/b", ports=(Port("dns", "udp", 53),))]
    _, p = plan(spec, images, "u", check_paths=False)
    p = replace(p, private_users=UserRange(2_000_000))
    text = json.dumps(p.to_json())
    assert PodPlan.from_json(json.loads(text)) == p
    assert p.apps[0].seccomp.errno == "EPERM" and p.apps[1].seccomp.mode == "retain"
    assert [(q.name, q.protocol, q.container_port, q.host_port, q.host_ip) for q in p.ports] == \
        [("http", "tcp", 80, 8080, ""), ("dns", "udp", 53, 5353, "127.0.0.1")]


def test_insecure_seccomp_is_no_filter_both_ways() -> None:
    spec = parse_pod_args(["a"])
    spec.insecure_seccomp = True
    _, p = plan(spec, [_img("example.com/a")], "u", check_paths=False)
    assert p.apps[0].seccomp.mode == "none" and not p.apps[0].no_new_privileges
    assert p.apps[0].to_json()["seccomp"] is None
    assert AppPlan.from_json(p.apps[0].to_json(), "apps[0]") == p.apps[0]
    assert seccomp_from_oci(None, "s") == SeccompPlan("none")


@pytest.mark.parametrize(("path", "value", "message"), [
    (("apps", 0, "uid"), "0", r"apps\[0\]\.uid: not an integer"),
    (("apps", 0, "lowerdirs"), "/l0", r"apps\[0\]\.lowerdirs: not a list"),
    (("apps", 0, "args"), [1], r"apps\[0\]\.args: not a list of strings"),
    (("apps", 0, "mounts", 0, "destination"), None, r"apps\[0\]\.mounts\[0\]\.destination: not a string"),
    (("apps", 0, "seccomp", "syscalls"), [], r"apps\[0\]\.seccomp\.syscalls: not one rule"),
    (("apps", 0, "resources", "cpu"), 5, r"apps\[0\]\.resources\.cpu: not an object"),
    (("apps", 0), "busybox", r"apps\[0\]: not an object"),
    (("hostname",), 7, r"runtime\.hostname: not a string"),
    (("private_users",), 5, "private_users: not a range"),
    (("ports", 0, "hostPort"), "80", r"ports\[0\]\.hostPort: not an integer"),
    (("volumes", 0), {"kind": "empty"}, r"volumes\[0\]: not a volume"),
    (("net",), [1], r"runtime\.net: not a list of strings"),
])
def test_a_damaged_field_is_named(path: tuple[object, ...], value: object, message: str) -> None:
    doc = copy.deepcopy(OLD_RUNTIME)
    node: object = doc
    for key in path[:-1]:
        node = node[key]  # type: ignore[index]
    node[path[-1]] = value  # type: ignore[index]
    with pytest.raises(PlanError, match=message):
        PodPlan.from_json(doc)


def test_run_prepared_overrides() -> None:
    p = PodPlan.from_json(copy.deepcopy(OLD_RUNTIME))
    assert RunOverrides().apply(p) == p
    q = RunOverrides(net=("host",), hostname="x", local_config="/l", mds_register=True, interactive=True).apply(p)
    assert (q.net, q.hostname, q.local_config, q.system_config, q.mds_register, q.interactive, q.resolv) == \
        (("host",), "x", "/l", "/usr/lib/rkt", True, True, p.resolv)
    assert q.apps == p.apps


def test_plans_are_frozen() -> None:
    p = PodPlan.from_json(copy.deepcopy(OLD_RUNTIME))
    with pytest.raises(Exception, match="cannot assign"):
        p.hostname = "x"  # type: ignore[misc]
