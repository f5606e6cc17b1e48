"""Unit tests (no root): the app grammar, volume/mount/isolator parsers, state table, env precedence, plan()."""

from __future__ import annotations

import pytest

from pyrkt.image.appc import App, ImageManifest, MountPoint
from pyrkt.cli.rkt.podargs import parse, parse_pod_args
from pyrkt.pod.grammar import (GrammarError, Mount, Volume, parse_cpu, parse_duration, parse_env_file, parse_mount,
                               parse_quantity, parse_seccomp, parse_volume)
from pyrkt.image.render import RunnableImage
from pyrkt.pod.prepare import PrepareError, merge_env, plan
from pyrkt.pod.store import STATE_TABLE, TRANSITIONS, state_of


def test_args_and_triple_dash() -> None:
    pod = parse_pod_args(["example.com/worker", "--exec", "/bin/ov", "--", "--loglevel", "verbose", "---",
                          "example.com/syncer", "--exec", "/bin/syncer2", "--", "--interval", "30s"])
    assert [(a.image, a.exec, a.args) for a in pod.apps] == [
        ("example.com/worker", "/bin/ov", ["--loglevel", "verbose"]),
        ("example.com/syncer", "/bin/syncer2", ["--interval", "30s"])]


def test_trailing_triple_dash_is_harmless() -> None:
    pod = parse_pod_args(["img", "--", "a", "---"])
    assert pod.apps[0].args == ["a"] and len(pod.apps) == 1


def test_args_without_triple_dash_run_to_the_end() -> None:
    pod = parse_pod_args(["img", "--", "a", "--net=host", "b"])
    assert pod.apps[0].args == ["a", "--net=host", "b"] and pod.net is None


def test_per_app_flags_apply_to_preceding_image() -> None:
    pod = parse_pod_args(["--net=host", "docker://busybox", "--name=busybox1", "docker://busybox", "--name=busybox2",
                          "--user=1000", "--group=100", "--cpu=750m", "--memory=128M", "--readonly-rootfs"])
    a, b = pod.apps
    assert (a.name, a.user, a.cpu) == ("busybox1", None, None)
    assert (b.name, b.user, b.group, b.cpu, b.memory, b.readonly_rootfs) == ("busybox2", "1000", "100", 750, 128_000_000, True)
    assert pod.net == ["host"]


def test_mount_before_first_image_is_for_all_apps() -> None:
    pod = parse_pod_args(["--volume", "logs,kind=host,source=/srv/logs", "--mount", "volume=logs,target=/var/log", "a", "b",
                          "--mount", "volume=logs,target=/opt/log"])
    assert pod.mounts_all == [Mount("logs", "/var/log")]
    assert pod.apps[0].mounts == [] and pod.apps[1].mounts == [Mount("logs", "/opt/log")]


@pytest.mark.parametrize("argv,msg", [
    (["--exec=/bin/true", "img"], "must follow an image"),
    (["--bogus", "img"], "unknown flag"),
    (["---", "img"], "---"),
    (["--interactive", "a", "b"], "--interactive"),
    ([], "at least one image"),
    (["a", "--name=x", "b", "--name=x"], "same --name"),
    (["a", "--caps-retain=CAP_CHOWN", "--caps-remove=CAP_KILL"], "cannot be used together"),
    (["a", "--stdout=bogus"], "--stdout"),
    (["--ipc=maybe", "a"], "--ipc"),
    (["--hosts-entry=nonsense", "a"], "--hosts-entry"),
    (["a", "--oom-score-adj=5000"], "outside"),
])
def test_grammar_errors(argv: list[str], msg: str) -> None:
    with pytest.raises(GrammarError) as exc:
        parse_pod_args(argv)
    assert msg in str(exc.value) and "\n" not in str(exc.value)


def test_prepare_only_and_run_only_flags() -> None:
    parsed = parse(["--quiet", "a"], "prepare")
    assert parsed is not None and parsed[1].quiet
    with pytest.raises(GrammarError):
        parse_pod_args(["--quiet", "a"], "run")
    with pytest.raises(GrammarError):
        parse_pod_args(["--interactive", "a"], "prepare")


def test_volume_parser() -> None:
    assert parse_volume("data,kind=host,source=/srv/data,readOnly=false") == Volume("data", "host", "/srv/data", False)
    assert parse_volume("data,kind=empty,mode=0700,uid=1,gid=2") == Volume("data", "empty", "", None, None, "0700", 1, 2)
    assert parse_volume("work,kind=host,source=/x,recursive=true").recursive is True


@pytest.mark.parametrize("text,msg", [
    (",kind=empty", "empty name"), ("data", "missing kind"), ("data,kind=nfs", "kind must be"),
    ("data,kind=host", "needs source"), ("data,kind=host,source=rel", "absolute"),
    ("data,kind=empty,mode=999", "octal"), ("data,kind=empty,uid=x", "uid"), ("data,kind=host,source=/x,mode=0700", "unknown parameter"),
    ("Bad_Name,kind=empty", "not a valid name"), ("data,kind=host,source=/x,readOnly=maybe", "boolean"),
    ("data,kind=empty,kind=host", "twice"),
])
def test_volume_errors(text: str, msg: str) -> None:
    with pytest.raises(GrammarError) as exc:
        parse_volume(text)
    assert msg in str(exc.value)


def test_mount_parser() -> None:
    assert parse_mount("volume=logs,target=/var/log") == Mount("logs", "/var/log")
    for bad, msg in (("target=/x", "missing volume"), ("volume=x", "missing target"), ("volume=x,target=rel", "absolute"),
                     ("volume=x,target=/y,extra=1", "unknown parameter"), ("volume", "KEY=VALUE")):
        with pytest.raises(GrammarError, match=msg):
            parse_mount(bad)


def test_quantities() -> None:
    assert parse_quantity("128M", "m") == 128_000_000 and parse_quantity("1Gi", "m") == 2**30 and parse_quantity("100", "m") == 100
    assert parse_cpu("750m") == 750 and parse_cpu("2") == 2000 and parse_cpu("0.5") == 500
    for bad in ("12X", "-1", ""):
        with pytest.raises(GrammarError):
            parse_quantity(bad, "m")
    with pytest.raises(GrammarError):
        parse_cpu("0m")


def test_seccomp_parser() -> None:
    s = parse_seccomp("mode=retain,errno=EPERM,chmod,chown")
    assert (s.mode, s.errno, s.syscalls) == ("retain", "EPERM", ("chmod", "chown"))
    for bad in ("chmod", "mode=keep,chmod", "mode=remove", "mode=remove,errno=EWHAT,chmod", "mode=remove,@docker/nope", "mode=remove,Chmod"):
        with pytest.raises(GrammarError):
            parse_seccomp(bad)


def test_env_file_comments() -> None:
    assert parse_env_file("# c\n; c\n\nA=1\nB=x=y\n", "f") == [("A", "1"), ("B", "x=y")]
    with pytest.raises(GrammarError, match="f:2"):
        parse_env_file("A=1\nnovalue\n", "f")


def test_durations() -> None:
    assert parse_duration("30m", "x") == 1800 and parse_duration("1h30m", "x") == 5400 and parse_duration("0", "x") == 0
    assert parse_duration("100ms", "x") == pytest.approx(0.1)
    with pytest.raises(GrammarError):
        parse_duration("soon", "x")


def test_state_table_is_rkts() -> None:
    assert state_of("prepare", True) == "preparing" and state_of("prepare", False) == "aborted prepare"
    assert state_of("run", True) == "running" and state_of("run", False) == "exited"
    assert state_of("exited-garbage", False) == "exited garbage" and state_of("garbage", True) == "deleting"
    assert set(STATE_TABLE.values()) == {"embryo", "preparing", "aborted prepare", "prepared", "running", "exited",
                                         "exited garbage", "deleting", "garbage"}
    assert ("run", "prepared") not in TRANSITIONS and ("exited-garbage", "run") not in TRANSITIONS


def test_env_precedence() -> None:
    env = merge_env({"EXAMPLE_ENV": "hello", "EXAMPLE_OVERRIDE": "under"}, (("EXAMPLE_OVERRIDE", "image"), ("I", "1")),
                    [("F", "file"), ("I", "file")], [("FOO", "bar"), ("EXAMPLE_OVERRIDE", "over")], [("EXAMPLE_OVERRIDE", "ride")])
    assert env == {"EXAMPLE_ENV": "hello", "EXAMPLE_OVERRIDE": "ride", "I": "file", "F": "file", "FOO": "bar"}


def _img(name: str, **app: object) -> RunnableImage:
    manifest = ImageManifest(name, app=App(exec=("/bin/run",), **app))  # type: ignore[arg-type]
    return RunnableImage("sha512-" + "a" * 64, name, manifest, manifest.app, ("/nonexistent",))


def test_plan_volumes_and_implicit_empty() -> None:
    spec = parse_pod_args(["--volume=work,kind=host,source=/opt/work", "w", "b", "--mount", "volume=work,target=/extra"])
    images = [_img("example.com/reduce-worker", mount_points=(MountPoint("work", "/var/lib/work"), MountPoint("cache", "/cache"))),
              _img("example.com/worker-backup", mount_points=(MountPoint("work", "/backup", True),))]
    manifest, pod_plan = plan(spec, images, "u", check_paths=False)
    runtime = pod_plan.to_json()
    assert [a["name"] for a in manifest["apps"]] == ["reduce-worker", "worker-backup"]
    assert [v["name"] for v in manifest["volumes"]] == ["work", "cache"]  # cache: implicit empty volume
    m0 = {m["destination"]: m for m in runtime["apps"][0]["mounts"]}
    m1 = {m["destination"]: m for m in runtime["apps"][1]["mounts"]}
    assert m0["/var/lib/work"]["source"] == "/opt/work" and not m0["/var/lib/work"]["readOnly"]
    assert m0["/cache"]["kind"] == "empty"
    assert m1["/backup"]["readOnly"] and m1["/extra"]["source"] == "/opt/work"
    assert runtime["hostname"] == "rkt-u"


def test_plan_errors() -> None:
    with pytest.raises(PrepareError, match="no --volume named"):
        plan(parse_pod_args(["a", "--mount", "volume=nope,target=/x"]), [_img("example.com/a")], "u", check_paths=False)
    with pytest.raises(PrepareError, match="duplicate app name"):
        plan(parse_pod_args(["a", "b"]), [_img("example.com/a"), _img("other.org/a")], "u", check_paths=False)
    with pytest.raises(PrepareError, match="does not exist"):
        plan(parse_pod_args(["--volume=v,kind=host,source=/no/such/path", "a"]), [_img("example.com/a")], "u")


def test_plan_isolators_to_resources() -> None:
    spec = parse_pod_args(["a", "--cpu=500m", "--memory=1Gi", "--cpu-shares=512", "--caps-retain=CAP_NET_ADMIN",
                           "--seccomp=mode=remove,errno=EACCES,mkdir"])
    _, pod_plan = plan(spec, [_img("example.com/a")], "u", check_paths=False)
    app = pod_plan.to_json()["apps"][0]
    assert app["resources"] == {"cpu": {"quota": 50000, "period": 100000, "shares": 512}, "memory": {"limit": 2**30}}
    assert app["caps"] == ["CAP_NET_ADMIN"]
    assert app["seccomp"]["defaultAction"] == "SCMP_ACT_ALLOW" and app["seccomp"]["syscalls"][0]["names"] == ["mkdir"]
    assert app["seccomp"]["syscalls"][0]["errnoRet"] == 13


def test_plan_hosts_and_dns() -> None:
    spec = parse_pod_args(["--hosts-entry=10.0.0.1=db", "--dns=1.1.1.1", "--dns-search=a.b", "a"])
    _, pod_plan = plan(spec, [_img("example.com/a")], "u", check_paths=False)
    runtime = pod_plan.to_json()
    assert "10.0.0.1\tdb\n" in runtime["hosts"] and "nameserver 1.1.1.1" in runtime["resolv"] and "search a.b" in runtime["resolv"]


def test_list_tabwriter_and_humanize() -> None:
    from pyrkt.cli.rkt._podcli import humanize
    from pyrkt.cli.rkt.list import tabwrite

    assert tabwrite([["UUID", "APP", "X"], ["12345678", "busybox", "y"]]) == "UUID\t\tAPP\tX\n12345678\tbusybox\ty\n"
    assert humanize(100.0, now=100.5) == "just now" and humanize(0, now=90) == "1 minute ago" and humanize(0, now=7200) == "2 hours ago"
