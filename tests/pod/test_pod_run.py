"""`rkt run` as root with real pods, mirroring rkt's functional tests and the seed's examples."""

from __future__ import annotations

import json
import os
import time

import pytest

from podfixtures import spawn_rkt

pytestmark = pytest.mark.root

BB = "example.com/busybox"
H = "--net=host"


def sh(script: str) -> list[str]:
    return ["--exec", "/bin/sh", "--", "-c", script]


def test_run_default_exec(rkt):  # type: ignore[no-untyped-def]
    r = rkt("run", H, BB)
    assert (r.code, r.out) == (0, "hello from busybox\n"), r.err


def test_run_by_image_id_and_docker_image(rkt):  # type: ignore[no-untyped-def]
    listing = rkt("image", "list", "--full", "--no-legend").out
    image_id = next(line.split()[0] for line in listing.splitlines() if "busybox" in line)
    r = rkt("run", H, image_id[:20])
    assert r.out == "hello from busybox\n", r.err
    oci = next(line.split()[0] for line in listing.splitlines() if "example.com" not in line)
    r = rkt("run", H, oci)
    assert r.code == 0 and r.out == "docker hi\n", (oci, r.err, listing)


def test_exec_override(rkt):  # type: ignore[no-untyped-def]
    r = rkt("run", H, BB, "--exec", "/bin/echo", "--", "a b", "c")
    assert r.out == "a b c\n", r.err


def test_args_with_triple_dash(rkt):  # type: ignore[no-untyped-def]
    # rkt run example.com/worker --exec /bin/ov -- --loglevel verbose --- example.com/syncer --exec /bin/syncer2 -- --interval 30s
    r = rkt("run", H, BB, "--exec", "/bin/echo", "--", "--loglevel", "verbose", "---",
            "example.com/env-printer", "--exec", "/bin/echo", "--", "--interval", "30s")
    assert r.code == 0, r.err
    assert sorted(r.out.splitlines()) == ["--interval 30s", "--loglevel verbose"]


def test_two_apps_with_name(rkt):  # type: ignore[no-untyped-def]
    r = rkt("run", "--uuid-file-save", str(os.path.join(rkt.dir, "uuid")), H, BB, "--name=busybox1", *sh("echo one; hostname"), "---",
            BB, "--name=busybox2", *sh("echo two; hostname"))
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert "one" in lines and "two" in lines
    hostnames = {line for line in lines if line.startswith("rkt-")}
    assert len(hostnames) == 1  # one UTS namespace shared by the pod
    uuid = open(os.path.join(rkt.dir, "uuid")).read()
    assert hostnames == {f"rkt-{uuid}"}
    st = rkt("status", uuid)
    assert "app-busybox1=0" in st.out and "app-busybox2=0" in st.out


def test_same_image_twice_needs_name(rkt):  # type: ignore[no-untyped-def]
    r = rkt("run", H, BB, BB)
    assert r.code == 254 and "--name" in r.err and len(r.err.splitlines()) == 1


@pytest.mark.parametrize("with_environment", [False, True])
def test_env_precedence_seed_examples(rkt, with_environment):  # type: ignore[no-untyped-def]
    args = ["run", H, "--inherit-env", "--set-env=FOO=bar", "--set-env=EXAMPLE_OVERRIDE=over", "example.com/env-printer"]
    if with_environment:
        args.append("--environment=EXAMPLE_OVERRIDE=ride")
    r = rkt(*args, env={"EXAMPLE_ENV": "hello", "EXAMPLE_OVERRIDE": "under"})
    want = "ride" if with_environment else "over"
    assert r.out == f"EXAMPLE_ENV=hello\nFOO=bar\nEXAMPLE_OVERRIDE={want}\n", r.err


def test_env(rkt, tmp_path):  # type: ignore[no-untyped-def]
    """TestEnv: image env, --set-env-file (comments), --set-env, --environment, no parent env without --inherit-env."""
    envfile = tmp_path / "env"
    envfile.write_text("# comment\n; also comment\n\nFILE_VAR=file\nFOO=from-file\n")
    r = rkt("run", H, f"--set-env-file={envfile}", "--set-env=FOO=bar", "example.com/env-printer", "--exec", "/bin/env",
            env={"EXAMPLE_ENV": "hello"})
    env = dict(line.split("=", 1) for line in r.out.splitlines())
    assert env["FILE_VAR"] == "file" and env["FOO"] == "bar" and env["FROM_IMAGE"] == "1" and env["EXAMPLE_OVERRIDE"] == "image"
    assert "EXAMPLE_ENV" not in env and env["PATH"]


@pytest.mark.parametrize("user,group,want", [
    ("1000", "100", "uid=1000(user) gid=100(users)"),
    ("user", "staff", "uid=1000(user) gid=50(staff)"),
    ("/owned-by-user", "/owned-by-user", "uid=1000(user) gid=50(staff)"),
])
def test_app_user_group(rkt, user, group, want):  # type: ignore[no-untyped-def]
    """TestAppUserGroup and the seed's --user=1000 --group=100 --exec id."""
    r = rkt("run", H, BB, f"--user={user}", f"--group={group}", "--exec", "id")
    assert r.code == 0, r.err
    assert r.out.startswith(want)


def test_unknown_user_is_an_error(rkt):  # type: ignore[no-untyped-def]
    r = rkt("run", H, BB, "--user=nobody-here", "--exec", "id")
    assert r.code == 254 and "nobody-here" in r.err and len(r.err.splitlines()) == 1


def test_exit_code_simple(rkt):  # type: ignore[no-untyped-def]
    for code in (0, 1, 2, 42):
        r = rkt("run", H, BB, *sh(f"exit {code}"))
        assert r.code == code


def test_exit_code_with_several_apps(rkt):  # type: ignore[no-untyped-def]
    r = rkt("run", "--uuid-file-save", f"{rkt.dir}/u", H, BB, "--name=a", *sh("exit 0"), "---", BB, "--name=b", *sh("sleep 0.2; exit 5"), "---",
            BB, "--name=c", *sh("exit 7"))
    assert r.code == 5, r.err
    st = rkt("status", open(f"{rkt.dir}/u").read())
    assert ["app-a=0", "app-b=5", "app-c=7"] == [l for l in st.out.splitlines() if l.startswith("app-")]


def test_mapreduce_volume_mount_points(rkt, tmp_path):  # type: ignore[no-untyped-def]
    work = tmp_path / "work"
    work.mkdir()
    (work / "in").write_text("input data\n")
    r = rkt("run", H, f"--volume=work,kind=host,source={work}", "example.com/reduce-worker", "example.com/worker-backup")
    assert r.code == 0, r.err
    assert r.out.count("input data") == 2 and "readonly" in r.out and "writable" not in r.out
    assert (work / "out").read_text() == "work\n"


def test_mapreduce_volume_with_mount_flags(rkt, tmp_path):  # type: ignore[no-untyped-def]
    work = tmp_path / "work"
    work.mkdir()
    (work / "in").write_text("input data\n")
    r = rkt("run", H, f"--volume=work,kind=host,source={work}",
            BB, "--name=reduce", "--mount", "volume=work,target=/var/lib/work", *sh("echo w > /var/lib/work/out2; cat /var/lib/work/in"), "---",
            BB, "--name=backup", "--mount", "volume=work,target=/backup", *sh("sleep 0.3; cat /backup/out2; touch /backup/x && echo writable"))
    assert r.code == 0, r.err
    assert "input data" in r.out and "w" in r.out.splitlines() and "writable" in r.out


def test_mount_before_first_image_applies_to_all(rkt, tmp_path):  # type: ignore[no-untyped-def]
    logs = tmp_path / "logs"
    logs.mkdir()
    r = rkt("run", H, f"--volume=logs,kind=host,source={logs}", "--mount", "volume=logs,target=/var/log",
            BB, "--name=a", *sh("touch /var/log/a"), "---", BB, "--name=b", *sh("touch /var/log/b"))
    assert r.code == 0, r.err
    assert sorted(os.listdir(logs)) == ["a", "b"]


def test_host_volume_read_only(rkt, tmp_path):  # type: ignore[no-untyped-def]
    r = rkt("run", H, f"--volume=data,kind=host,source={tmp_path},readOnly=true", BB, "--mount", "volume=data,target=/data",
            *sh("touch /data/x 2>/dev/null && echo rw || echo ro"))
    assert r.out == "ro\n", r.err


def test_empty_volume_mode_uid_gid(rkt):  # type: ignore[no-untyped-def]
    r = rkt("run", H, "--volume", "data,kind=empty,mode=0700,uid=1000,gid=100", "example.com/data")
    assert r.out == "700 1000 100\n", r.err
    r = rkt("run", H, "example.com/data")  # implicit empty volume for the image's mount point
    assert r.out == "755 0 0\n", r.err


def test_isolators_visible_in_cgroup(rkt):  # type: ignore[no-untyped-def]
    script = ("if [ -e /sys/fs/cgroup/memory.max ]; then cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/cpu.max; "
              "else cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us; fi")
    r = rkt("run", H, BB, "--cpu=750m", "--memory=128M", *sh(script))
    assert r.code == 0, r.err
    mem, quota, period = r.out.split()
    assert (int(mem) // 4096, quota, period) == (128000000 // 4096, "75000", "100000")
    # the app is in a cgroup namespace rooted at its own cgroup: no host path shows through
    r = rkt("run", H, BB, *sh("cat /proc/self/cgroup"))
    assert r.code == 0, r.err
    assert {line.split(":", 2)[2] for line in r.out.split()} == {"/"}, r.out


def test_readonly_rootfs(rkt):  # type: ignore[no-untyped-def]
    r = rkt("run", H, BB, "--readonly-rootfs=true", *sh("touch /x 2>/dev/null && echo rw || echo ro; touch /tmp/y 2>/dev/null && echo tmp-rw || echo tmp-ro"))
    assert r.out.splitlines()[0] == "ro", r.err
    r = rkt("run", H, BB, *sh("touch /x && echo rw"))
    assert r.out == "rw\n"


def test_working_dir_and_docker_workdir(rkt):  # type: ignore[no-untyped-def]
    r = rkt("run", H, BB, "--working-dir=/etc", "--exec", "/bin/sh", "--", "-c", "echo $PWD")
    assert r.out == "/etc\n", r.err


def test_caps_retain_and_remove(rkt):  # type: ignore[no-untyped-def]
    r = rkt("run", H, BB, "--caps-retain=CAP_CHOWN", *sh("grep CapBnd /proc/self/status"))
    assert r.out.split()[1] == "0000000000000001", r.err
    r = rkt("run", H, BB, "--caps-remove=CAP_CHOWN", *sh("grep CapBnd /proc/self/status"))
    assert int(r.out.split()[1], 16) & 1 == 0 and int(r.out.split()[1], 16) != 0


def test_seccomp_remove_set(rkt):  # type: ignore[no-untyped-def]
    r = rkt("run", H, BB, "--seccomp", "mode=remove,errno=EPERM,mkdir,mkdirat", *sh("mkdir /newdir 2>&1; echo rc=$?"))
    assert "rc=1" in r.out, r.err


def test_hostname(rkt):  # type: ignore[no-untyped-def]
    r = rkt("run", "--net=none", "--hostname=custom-host", BB, "--exec", "/bin/hostname")
    assert r.out == "custom-host\n", r.err


def test_etc_hosts(rkt):  # type: ignore[no-untyped-def]
    r = rkt("run", "--net=none", "--hosts-entry=10.2.1.42=db", BB, "--exec", "/bin/cat", "--", "/etc/hosts")
    assert "10.2.1.42\tdb" in r.out and "localhost" in r.out, r.err
    r = rkt("run", "--net=none", "--hosts-entry=host", BB, "--exec", "/bin/cat", "--", "/etc/hosts")
    assert r.out == open("/etc/hosts").read()


def test_dns(rkt):  # type: ignore[no-untyped-def]
    r = rkt("run", "--net=none", "--dns=8.8.8.8", "--dns-search=example.com", "--dns-opt=ndots:2", "--dns-domain=corp",
            BB, "--exec", "/bin/cat", "--", "/etc/resolv.conf")
    assert "nameserver 8.8.8.8" in r.out and "search example.com" in r.out and "options ndots:2" in r.out and "domain corp" in r.out


def test_net_none_has_only_loopback(rkt):  # type: ignore[no-untyped-def]
    r = rkt("run", "--net=none", BB, *sh("cat /proc/net/dev | grep : | cut -d: -f1"))
    assert r.out.split() == ["lo"], r.err


def test_no_overlay(rkt):  # type: ignore[no-untyped-def]
    r = rkt("run", H, "--no-overlay=true", BB, *sh("touch /newfile && echo ok"))
    assert r.out == "ok\n", r.err


def test_pod_manifest(rkt):  # type: ignore[no-untyped-def]
    """TestPodManifest: the manifest holds the apps, image, exec, env, annotations, labels, volumes."""
    r = rkt("prepare", "--volume=data,kind=empty,mode=0700", "--set-env=FOO=bar", BB, "--name=app1",
            "--user-annotation=foo=bar", "--user-label=hello=world", "--exec", "/bin/echo", "--", "x")
    assert r.code == 0, r.err
    uuid = r.out.strip()
    from podfixtures import pod_json

    pm = pod_json(rkt.dir, uuid)
    assert pm["acKind"] == "PodManifest"
    app = pm["apps"][0]
    assert app["name"] == "app1" and app["image"]["name"] == BB and app["image"]["id"].startswith("sha512-")
    assert app["app"]["exec"] == ["/bin/echo", "x"]
    assert {"name": "FOO", "value": "bar"} in app["app"]["environment"]
    assert app["app"]["userAnnotations"] == {"foo": "bar"} and app["app"]["userLabels"] == {"hello": "world"}
    assert pm["volumes"] == [{"name": "data", "kind": "empty", "mode": "0700", "uid": 0, "gid": 0}]
    # --pod-manifest runs the same pod again
    path = os.path.join(rkt.dir, "pm.json")
    with open(path, "w") as f:
        json.dump(pm, f)
    r = rkt("run", H, f"--pod-manifest={path}")
    assert r.out == "x\n", r.err


def test_prepare_run_prepared(rkt):  # type: ignore[no-untyped-def]
    r = rkt("prepare", "--quiet", H, BB)
    uuid = r.out.strip()
    assert r.code == 0 and len(uuid) == 36, r.err
    assert "prepared" in rkt("list").out
    r = rkt("run-prepared", uuid[:8])
    assert r.out == "hello from busybox\n", r.err
    r = rkt("run-prepared", uuid)
    assert r.code == 254 and "not prepared" in r.err


def test_rkt_list_and_status(rkt):  # type: ignore[no-untyped-def]
    """TestRktList: columns, 8-char uuids, --full tab-separated, json; status lines."""
    rkt("run", "--uuid-file-save", f"{rkt.dir}/u", H, BB)
    uuid = open(f"{rkt.dir}/u").read()
    out = rkt("list").out.splitlines()
    assert out[0].split("\t") == [c for c in out[0].split("\t")] and out[0].replace("\t", " ").split() == \
        ["UUID", "APP", "IMAGE", "NAME", "STATE", "CREATED", "STARTED", "NETWORKS"]
    row = [c for c in out[1].split("\t") if c]
    assert row[:4] == [uuid[:8], "busybox", "example.com/busybox:1.0", "exited"] and (row[4].endswith("ago") or row[4] == "just now")
    full = rkt("list", "--full", "--no-legend").out.splitlines()
    cells = [c for c in full[0].split("\t") if c]
    assert cells[0] == uuid and cells[3].startswith("sha512-") and len(cells[3]) > 70 and cells[4] == "exited"
    data = json.loads(rkt("list", "--format=json").out)
    assert data[0]["name"] == uuid and data[0]["state"] == "exited" and data[0]["app_names"] == ["busybox"]
    st = rkt("status", uuid[:6]).out.splitlines()
    assert st[0] == "state=exited" and st[1].startswith("created=20") and "exited=true" in st and "app-busybox=0" in st
    logs = rkt("status", "--logs", uuid).out
    assert "hello from busybox" in logs


def test_enter_and_stop(rkt):  # type: ignore[no-untyped-def]
    """TestRktStop and enter into a running pod (its rootfs, env, namespaces)."""
    p = spawn_rkt(rkt.dir, "run", "--uuid-file-save", f"{rkt.dir}/u", H, "--set-env=MARK=inside", BB, *sh("echo started > /tmp/started; sleep 60"))
    try:
        st = rkt("status", "--wait-ready=10s", "--uuid-file", f"{rkt.dir}/u") if _wait_file(f"{rkt.dir}/u") else None
        assert st is not None and "state=running" in st.out
        uuid = open(f"{rkt.dir}/u").read()
        _wait_true(lambda: rkt("enter", uuid, "/bin/cat", "/tmp/started").out == "started\n")
        r = rkt("enter", uuid, "/bin/sh", "-c", "echo $MARK; cat /proc/1/cmdline | head -c 100 >/dev/null; echo ok")
        assert r.out == "inside\nok\n", r.err
        r = rkt("stop", uuid[:10])
        assert r.out == f'"{uuid}"\n', r.err
        code = p.wait(timeout=20)
        assert code == 143
        assert "state=exited" in rkt("status", uuid).out
        r = rkt("enter", uuid, "/bin/true")
        assert r.code == 254 and "not running" in r.err
    finally:
        p.kill()
        p.wait()


def test_stop_force(rkt):  # type: ignore[no-untyped-def]
    p = spawn_rkt(rkt.dir, "run", "--uuid-file-save", f"{rkt.dir}/u", H, BB, *sh("trap '' TERM; sleep 60"))
    try:
        assert _wait_file(f"{rkt.dir}/u")
        rkt("status", "--wait-ready=10s", "--uuid-file", f"{rkt.dir}/u")
        t = time.monotonic()
        r = rkt("stop", "--force", "--uuid-file", f"{rkt.dir}/u")
        assert r.code == 0, r.err
        assert p.wait(timeout=10) == 137 and time.monotonic() - t < 5
    finally:
        p.kill()
        p.wait()


def test_sigterm_to_rkt_run_stops_pod(rkt):  # type: ignore[no-untyped-def]
    p = spawn_rkt(rkt.dir, "run", "--uuid-file-save", f"{rkt.dir}/u", H, BB, *sh("sleep 60"))
    try:
        assert _wait_file(f"{rkt.dir}/u")
        rkt("status", "--wait-ready=10s", "--uuid-file", f"{rkt.dir}/u")
        p.terminate()
        assert p.wait(timeout=15) == 143
        uuid = open(f"{rkt.dir}/u").read()
        assert "state=exited" in rkt("status", uuid).out
    finally:
        p.kill()
        p.wait()


def test_two_rkt_runs_at_once(rkt):  # type: ignore[no-untyped-def]
    procs = [spawn_rkt(rkt.dir, "run", H, BB, *sh(f"sleep 0.5; echo pod{i}")) for i in range(2)]
    outs = [p.communicate(timeout=30) for p in procs]
    assert [o[0] for o in outs] == ["pod0\n", "pod1\n"], outs
    assert rkt("list", "--no-legend").out.count("exited") == 2


def test_gc_grace_period(rkt):  # type: ignore[no-untyped-def]
    """TestGC: exited pods are marked first and removed after the grace period; prepared pods expire."""
    rkt("run", "--uuid-file-save", f"{rkt.dir}/u", H, BB)
    uuid = open(f"{rkt.dir}/u").read()
    r = rkt("gc")
    assert f"Moving pod '{uuid}' to garbage" in r.out, r.out
    assert "exited garbage" in rkt("status", uuid).out
    r = rkt("gc", "--grace-period=1h")
    assert "Garbage collecting" not in r.out and os.path.isdir(f"{rkt.dir}/pods/exited-garbage/{uuid}")
    r = rkt("gc", "--grace-period=0s")
    assert f"Garbage collecting pod '{uuid}'" in r.out and not os.path.exists(f"{rkt.dir}/pods/exited-garbage/{uuid}")
    prepared = rkt("prepare", H, BB).out.strip()
    rkt("gc", "--grace-period=0s")
    assert "prepared" in rkt("status", prepared).out
    r = rkt("gc", "--grace-period=0s", "--expire-prepared=0s")
    assert "Moving expired prepared pod" in r.out and rkt("status", prepared).code == 254


def test_gc_mark_only_and_busy_mount(rkt):  # type: ignore[no-untyped-def]
    rkt("run", "--uuid-file-save", f"{rkt.dir}/u", H, BB)
    uuid = open(f"{rkt.dir}/u").read()
    rkt("gc", "--mark-only")
    pod_dir = f"{rkt.dir}/pods/exited-garbage/{uuid}"
    assert os.path.isdir(pod_dir)
    # a leftover mount in the pod (as after a crashed run) is unmounted lazily
    os.system(f"mount -t tmpfs none {pod_dir}/apps/busybox/rootfs")
    r = rkt("gc", "--grace-period=0s")
    assert not os.path.exists(pod_dir), r.out + r.err


def test_rm(rkt):  # type: ignore[no-untyped-def]
    """TestRm: rm removes an exited pod at once; a running pod cannot be removed."""
    rkt("run", "--uuid-file-save", f"{rkt.dir}/u", H, BB)
    uuid = open(f"{rkt.dir}/u").read()
    r = rkt("rm", uuid[:8])
    assert r.code == 0 and r.out == f'"{uuid}"\n', r.err
    assert rkt("status", uuid).code == 254


def test_export(rkt, tmp_path):  # type: ignore[no-untyped-def]
    rkt("run", "--uuid-file-save", f"{rkt.dir}/u", H, BB, *sh("echo exported > /marker"))
    uuid = open(f"{rkt.dir}/u").read()
    out = str(tmp_path / "out.aci")
    r = rkt("export", uuid, out)
    assert r.code == 0, r.err
    import tarfile

    with tarfile.open(out) as t:
        assert t.extractfile("rootfs/marker").read() == b"exported\n"  # type: ignore[union-attr]
        assert json.loads(t.extractfile("manifest").read())["acKind"] == "ImageManifest"  # type: ignore[union-attr]


BAD = [
    (["run", H, "example.com/nonexistent", "--pull-policy=never"], "not in the store"),
    (["run", H, "--no-such-flag", BB], "unknown flag"),
    (["run", H, "--exec=/bin/true", BB], "must follow an image"),
    (["run", H, "---", BB], "---"),
    (["run", H, "--volume=,kind=empty", BB], "empty name"),
    (["run", H, BB, "--mount", "volume=nothere,target=/x"], "no --volume named"),
    (["run", H, "--volume=v,kind=host,source=/no/such/dir", BB], "does not exist"),
    (["run", H, "--interactive", BB, BB], "--interactive"),
    (["run", "--net=nosuchnet-pyrkt", BB], "network nosuchnet-pyrkt not found"),
    (["status", "ffffffff"], "no matches"),
]


@pytest.mark.parametrize("args,msg", BAD)
def test_bad_input(rkt, args, msg):  # type: ignore[no-untyped-def]
    r = rkt(*args)
    assert r.code == 254, (r.out, r.err)
    assert msg in r.err and len(r.err.strip().splitlines()) == 1, r.err
    # nothing left behind but what gc removes
    rkt("gc", "--grace-period=0s")
    pods = [d for d in os.listdir(f"{rkt.dir}/pods") for _ in os.listdir(f"{rkt.dir}/pods/{d}")] if os.path.isdir(f"{rkt.dir}/pods") else []
    assert pods == []


def _wait_file(path: str, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path) and open(path).read():
            return True
        time.sleep(0.05)
    return False


def _wait_true(fn, timeout: float = 10) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if fn():
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def test_enter_needs_app_with_several_apps_and_status_wait(rkt):  # type: ignore[no-untyped-def]
    p = spawn_rkt(rkt.dir, "run", "--uuid-file-save", f"{rkt.dir}/u", H, BB, "--name=a", *sh("sleep 2"), "---",
                  BB, "--name=b", *sh("echo b-file > /b; sleep 2"))
    try:
        assert _wait_file(f"{rkt.dir}/u")
        uuid = open(f"{rkt.dir}/u").read()
        rkt("status", "--wait-ready=10s", uuid)
        r = rkt("enter", uuid, "/bin/true")
        assert r.code == 254 and "--app" in r.err
        _wait_true(lambda: rkt("enter", "--app=b", uuid, "/bin/cat", "/b").out == "b-file\n")
        assert rkt("enter", "--app=a", uuid, "/bin/cat", "/b").code != 0  # each app has its own rootfs
        st = rkt("status", "--wait=20s", uuid)
        assert "state=exited" in st.out and "app-a=0" in st.out and "app-b=0" in st.out
    finally:
        p.kill()
        p.wait()


def test_failed_start_leaves_only_gc_work(rkt):  # type: ignore[no-untyped-def]
    r = rkt("run", H, BB, "--exec", "/no/such/binary")
    assert r.code == 254 and len(r.err.strip().splitlines()) == 1, r.err
    r = rkt("gc", "--grace-period=0s")
    assert "Garbage collecting" in r.out
    assert os.listdir(f"{rkt.dir}/pods/run") == [] and os.listdir(f"{rkt.dir}/pods/exited-garbage") == []


def test_docker_registry_two_apps_same_image(rkt, tmp_path):  # type: ignore[no-untyped-def]
    """The seed's `rkt --insecure-options=image run docker://busybox --name=busybox1 docker://busybox --name=busybox2`,
    from a loopback registry (the image tests' helper), fetched by `rkt run` itself."""
    import sys

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "image"))
    from imagefixtures import start_registry, stop

    from podfixtures import _entries
    from imagebuild import tar_bytes, write_oci_layout

    reg = start_registry(str(tmp_path / "registry"))
    try:
        layout = str(tmp_path / "layout")
        write_oci_layout(layout, [tar_bytes(_entries())], {"Cmd": ["/bin/sh", "-c", "echo from-registry"]}, tag="latest")
        reg.push_layout(layout, "latest", "library/busybox")
        ref = f"docker://{reg.host}/library/busybox"
        r = rkt("--insecure-options=image,http", "run", H, ref, "--name=busybox1", ref, "--name=busybox2", timeout=120)
        assert r.code == 0, r.err
        assert r.out == "from-registry\nfrom-registry\n"
        r = rkt("--insecure-options=image,http", "run", H, ref, "--exec", "/bin/date")
        assert r.code == 0 and r.out.strip(), r.err
    finally:
        stop(reg.proc)
