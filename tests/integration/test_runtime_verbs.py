"""Spec conformance of the verbs beyond the core: exec, ps, pause/resume, update, events, features,
hooks, and the kernel-dependent config.json fields -- against real containers, as root."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time

import pytest

from clients import RUNTIME, wait_for

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def rootfs(tmp_path_factory: pytest.TempPathFactory) -> str:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    from pyrkt.devtools.busybox import build_rootfs

    return build_rootfs(str(tmp_path_factory.mktemp("verbs") / "rootfs"))


class RT:
    def __init__(self, root: str, base: str, rootfs: str) -> None:
        self.root, self.base, self.rootfs = root, base, rootfs
        self.n = 0

    def __call__(self, *args: str, input: str | None = None, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        # files, not pipes: a created or detached container keeps the stdio it was given,
        # and waiting for EOF on a pipe would wait for the container
        import tempfile

        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            res = subprocess.run([RUNTIME, "--root", self.root, *args], stdout=out, stderr=err, text=True,
                                 input=input, stdin=None if input is not None else subprocess.DEVNULL, timeout=timeout)
            out.seek(0)
            err.seek(0)
            return subprocess.CompletedProcess(res.args, res.returncode, out.read(), err.read())

    def ok(self, *args: str, **kw: object) -> subprocess.CompletedProcess[str]:
        res = self(*args, **kw)  # type: ignore[arg-type]
        assert res.returncode == 0, f"{args}: {res.stderr}"
        return res

    def bundle(self, args: list[str], edit=None) -> str:  # type: ignore[no-untyped-def]
        from pyrkt.devtools.busybox import build_bundle

        self.n += 1
        path = os.path.join(self.base, f"b{self.n}")
        build_bundle(path, args, rootfs=self.rootfs)
        if edit is not None:
            with open(os.path.join(path, "config.json")) as f:
                cfg = json.load(f)
            edit(cfg)
            with open(os.path.join(path, "config.json"), "w") as f:
                json.dump(cfg, f)
        return path

    def running(self, cid: str, edit=None, args: list[str] | None = None) -> dict[str, object]:  # type: ignore[no-untyped-def]
        b = self.bundle(args or ["sleep", "1000"], edit)
        self.ok("run", "-d", "--bundle", b, cid)
        return json.loads(self.ok("state", cid).stdout)


@pytest.fixture
def rt(rootfs: str, tmp_path):  # type: ignore[no-untyped-def]
    r = RT(str(tmp_path / "state"), str(tmp_path), rootfs)
    yield r
    for cid in os.listdir(r.root) if os.path.isdir(r.root) else []:
        r("delete", "--force", cid)


def one_line_error(res: subprocess.CompletedProcess[str], *words: str) -> None:
    assert res.returncode != 0
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    for w in words:
        assert w in lines[0], lines[0]


# -- exec --------------------------------------------------------------------

def test_exec_joins_every_namespace_and_the_cgroup(rt) -> None:  # type: ignore[no-untyped-def]
    st = rt.running("c")
    init = st["pid"]
    out = rt.ok("exec", "c", "sh", "-c", "for n in mnt net uts ipc pid cgroup; do readlink /proc/self/ns/$n; done; echo $$").stdout.split()
    want = [os.readlink(f"/proc/{init}/ns/{n}") for n in ("mnt", "net", "uts", "ipc", "pid", "cgroup")]
    assert out[:6] == want
    assert int(out[6]) > 1  # a pid of the container's pid namespace
    # same cgroups as the init (read from the host side for a detached exec)
    pidfile = os.path.join(rt.base, "exec.pid")
    rt.ok("exec", "--detach", "--pid-file", pidfile, "c", "sleep", "100")
    pid = int(open(pidfile).read())
    with open(f"/proc/{pid}/cgroup") as a, open(f"/proc/{init}/cgroup") as b:
        assert a.read() == b.read()
    assert os.readlink(f"/proc/{pid}/root") == "/" and os.readlink(f"/proc/{pid}/ns/mnt") == want[0]
    assert pid in json.loads(rt.ok("ps", "--format", "json", "c").stdout)


def test_exec_exit_status_env_user_cwd_caps(rt) -> None:  # type: ignore[no-untyped-def]
    rt.running("c")
    assert rt("exec", "c", "sh", "-c", "exit 42").returncode == 42
    out = rt.ok("exec", "-e", "A=1", "--env", "B=two", "-u", "65534:65534", "--additional-gids", "5", "--cwd", "/tmp", "c",
                "sh", "-c", 'echo $A $B; id -u; id -g; id -G; pwd').stdout.split("\n")
    assert out[:5] == ["1 two", "65534", "65534", "65534 5", "/tmp"]
    caps = rt.ok("exec", "--cap", "CAP_SYS_ADMIN", "c", "grep", "CapEff", "/proc/self/status").stdout.split()[1]
    assert int(caps, 16) & (1 << 21)
    caps = rt.ok("exec", "c", "grep", "CapEff", "/proc/self/status").stdout.split()[1]
    assert not int(caps, 16) & (1 << 21)
    assert rt.ok("exec", "--no-new-privs", "c", "grep", "NoNewPrivs", "/proc/self/status").stdout.split()[1] == "1"


def test_exec_process_file(rt) -> None:  # type: ignore[no-untyped-def]
    rt.running("c")
    proc = {"args": ["sh", "-c", "echo from-file $X; pwd"], "env": ["X=y", "PATH=/bin"], "cwd": "/etc", "user": {"uid": 0, "gid": 0}}
    path = os.path.join(rt.base, "process.json")
    with open(path, "w") as f:
        json.dump(proc, f)
    assert rt.ok("exec", "--process", path, "c").stdout == "from-file y\n/etc\n"
    one_line_error(rt("exec", "--process", os.path.join(rt.base, "missing.json"), "c"), "--process")


def test_exec_errors(rt) -> None:  # type: ignore[no-untyped-def]
    one_line_error(rt("exec", "nope", "true"), "does not exist")
    rt.running("c")
    one_line_error(rt("exec", "c", "no-such-command"), "executable file not found in $PATH")
    one_line_error(rt("exec", "c"), "no command")
    one_line_error(rt("exec", "-t", "-d", "c", "sh"), "console socket")
    one_line_error(rt("exec", "-u", "bob", "c", "true"), "--user")
    rt.ok("kill", "c", "KILL")
    wait_for(lambda: json.loads(rt.ok("state", "c").stdout)["status"] == "stopped", 10, "stopped")
    one_line_error(rt("exec", "c", "true"), "stopped")


def test_exec_seccomp_applies(rt) -> None:  # type: ignore[no-untyped-def]
    def edit(cfg: dict) -> None:  # type: ignore[type-arg]
        cfg["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW",
                                   "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}
    rt.running("c", edit)
    res = rt("exec", "c", "mkdir", "/tmp/x")
    assert res.returncode != 0 and "not permitted" in res.stderr


def test_exec_console_socket(rt) -> None:  # type: ignore[no-untyped-def]
    rt.running("c")
    path = os.path.join(rt.base, "console.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    got: dict[str, object] = {}

    def accept() -> None:
        conn, _ = server.accept()
        msg, fds, _, _ = socket.recv_fds(conn, 4096, 4)
        got["msg"], got["fds"] = msg, fds
        conn.close()

    t = threading.Thread(target=accept)
    t.start()
    rt.ok("exec", "-t", "-d", "--console-socket", path, "c", "sh", "-c", "tty; sleep 5")
    t.join(10)
    server.close()
    assert got["msg"] and len(got["fds"]) == 1  # type: ignore[arg-type]
    master = got["fds"][0]  # type: ignore[index]
    data = b""
    deadline = time.monotonic() + 10
    while b"\n" not in data and time.monotonic() < deadline:
        data += os.read(master, 100)
    assert data.startswith(b"/dev/pts/")
    os.close(master)


# -- ps, pause/resume ---------------------------------------------------------

def test_ps(rt) -> None:  # type: ignore[no-untyped-def]
    st = rt.running("c", args=["sh", "-c", "sleep 1000 & sleep 1000; true"])
    wait_for(lambda: len(json.loads(rt.ok("ps", "--format", "json", "c").stdout)) == 3, 10, "3 processes")
    pids = json.loads(rt.ok("ps", "--format", "json", "c").stdout)
    assert st["pid"] in pids
    table = rt.ok("ps", "c").stdout.splitlines()
    assert table[0].split()[:2] == ["UID", "PID"] and len(table) == 4
    assert {int(line.split()[1]) for line in table[1:]} == set(pids)
    assert rt.ok("ps", "c", "-o", "pid,comm").stdout.splitlines()[0].split() == ["PID", "COMMAND"]
    one_line_error(rt("ps", "--format", "yaml", "c"), "format")


def test_pause_resume(rt) -> None:  # type: ignore[no-untyped-def]
    st = rt.running("c", args=["sh", "-c", "while :; do echo x > /dev/null; done"])
    rt.ok("pause", "c")
    assert json.loads(rt.ok("state", "c").stdout)["status"] == "paused"
    with open(f"/proc/{st['pid']}/stat") as f:
        before = f.read().split(")")[1].split()[11:13]  # utime, stime
    time.sleep(0.3)
    with open(f"/proc/{st['pid']}/stat") as f:
        assert f.read().split(")")[1].split()[11:13] == before  # frozen: no CPU time
    one_line_error(rt("pause", "c"), "paused")
    one_line_error(rt("exec", "c", "true"), "paused")
    rt.ok("resume", "c")
    assert json.loads(rt.ok("state", "c").stdout)["status"] == "running"
    one_line_error(rt("resume", "c"), "not paused")
    rt.ok("kill", "c", "KILL")


def test_pause_created_refused_and_kill_all(rt) -> None:  # type: ignore[no-untyped-def]
    b = rt.bundle(["sh", "-c", "sleep 1000 & sleep 1000; true"])
    rt.ok("create", "--bundle", b, "c")
    one_line_error(rt("pause", "c"), "not running")
    rt.ok("start", "c")
    wait_for(lambda: len(json.loads(rt.ok("ps", "--format", "json", "c").stdout)) == 3, 10, "3 processes")
    pids = json.loads(rt.ok("ps", "--format", "json", "c").stdout)
    rt.ok("kill", "--all", "c", "KILL")
    wait_for(lambda: not any(os.path.exists(f"/proc/{p}/stat") and open(f"/proc/{p}/stat").read().split(")")[1].split()[0] != "Z" for p in pids), 10, "all dead")


# -- update, events -----------------------------------------------------------

def _cgroup(st_root: str, cid: str) -> dict[str, str]:
    with open(os.path.join(st_root, cid, "state.json")) as f:
        return json.load(f)["cgroup_paths"]


def _read(path: str) -> str:
    with open(path) as f:
        return f.read().strip()


def test_update(rt) -> None:  # type: ignore[no-untyped-def]
    rt.running("c")
    paths = _cgroup(rt.root, "c")
    rt.ok("update", "--memory", "64M", "--pids-limit", "77", "c")
    if "memory" in paths:
        assert _read(os.path.join(paths["memory"], "memory.limit_in_bytes")) == str(64 << 20)
        assert _read(os.path.join(paths["pids"], "pids.max")) == "77"
    else:
        assert _read(os.path.join(paths[""], "memory.max")) == str(64 << 20)
        assert _read(os.path.join(paths[""], "pids.max")) == "77"
    rt.ok("update", "--resources", "-", "c", input=json.dumps({"pids": {"limit": 33}}))
    key = "pids" if "pids" in paths else ""
    assert _read(os.path.join(paths[key], "pids.max")) == "33"
    one_line_error(rt("update", "--memory", "lots", "c"), "lots")
    one_line_error(rt("update", "--resources", "-", "c", input="{"), "malformed")


def test_events_stats(rt) -> None:  # type: ignore[no-untyped-def]
    rt.running("c")
    line = rt.ok("events", "--stats", "c").stdout.strip().splitlines()
    assert len(line) == 1
    doc = json.loads(line[0])
    assert doc["type"] == "stats" and doc["id"] == "c"
    assert doc["data"]["memory"]["usage"]["usage"] > 0 and doc["data"]["pids"]["current"] >= 1
    # the streaming form prints a line per interval and ends when the container stops
    proc = subprocess.Popen([RUNTIME, "--root", rt.root, "events", "--interval", "100ms", "c"], stdout=subprocess.PIPE, text=True)
    try:
        first = json.loads(proc.stdout.readline())  # type: ignore[union-attr]
        assert first["type"] == "stats"
        rt.ok("kill", "c", "KILL")
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    one_line_error(rt("events", "--interval", "soon", "c"), "duration")


def test_features() -> None:
    doc = json.loads(subprocess.run([RUNTIME, "features"], capture_output=True, text=True, check=True).stdout)
    assert doc["ociVersionMin"] == "1.0.0" and doc["ociVersionMax"].startswith("1.")
    assert set(doc["hooks"]) == {"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"}
    linux = doc["linux"]
    assert {"pid", "mount", "user", "network"} <= set(linux["namespaces"]) and ("time" in linux["namespaces"]) is os.path.exists("/proc/self/ns/time")
    assert "CAP_SYS_ADMIN" in linux["capabilities"]
    from pyrkt.linux.mounts import parse_options

    assert [o for o in doc["mountOptions"] if parse_options([o]).data] == []  # each one is understood, none passed through as data
    assert linux["seccomp"]["enabled"] and "SCMP_ACT_ERRNO" in linux["seccomp"]["actions"]
    assert linux["selinux"]["enabled"] is os.path.exists("/sys/fs/selinux/enforce")
    assert linux["intelRdt"]["enabled"] is False and linux["mountExtensions"]["idmap"]["enabled"] is True
    one_line_error(subprocess.run([RUNTIME, "features", "extra"], capture_output=True, text=True), "no arguments")


# -- hooks --------------------------------------------------------------------

def _hook(base: str, name: str, extra: str = "") -> dict[str, object]:
    return {"path": "/bin/sh", "args": ["sh", "-c", f'cat > {base}/{name}.json; echo "$X" > {base}/{name}.env; echo {name} >> {base}/order{extra}'],
            "env": [f"X=env-{name}"]}


def test_hooks_order_state_and_env(rt) -> None:  # type: ignore[no-untyped-def]
    base = rt.base

    def edit(cfg: dict) -> None:  # type: ignore[type-arg]
        cfg["hooks"] = {k: [_hook(base, k)] for k in ("prestart", "createRuntime", "createContainer", "poststart", "poststop")}
        cfg["hooks"]["startContainer"] = [{"path": "/bin/sh", "args": ["sh", "-c", "readlink /proc/1/ns/mnt > /dev/shm/start"]}]
        cfg["annotations"] = {"org.example": "v"}
    b = rt.bundle(["sh", "-c", "cat /dev/shm/start; readlink /proc/self/ns/mnt; sleep 1000"], edit)
    rt.ok("create", "--bundle", b, "h")
    pid = json.loads(rt.ok("state", "h").stdout)["pid"]
    assert open(f"{base}/order").read().split() == ["prestart", "createRuntime", "createContainer"]
    for k in ("prestart", "createRuntime", "createContainer"):
        st = json.load(open(f"{base}/{k}.json"))
        assert st["id"] == "h" and st["pid"] == pid and st["bundle"] == b and st["status"] == "creating"
        assert st["annotations"] == {"org.example": "v"}
        assert open(f"{base}/{k}.env").read() == f"env-{k}\n"
    rt.ok("start", "h")
    assert open(f"{base}/order").read().split()[-1] == "poststart"
    assert json.load(open(f"{base}/poststart.json"))["status"] == "running"
    rt.ok("kill", "h", "KILL")
    wait_for(lambda: json.loads(rt.ok("state", "h").stdout)["status"] == "stopped", 10, "stopped")
    assert not os.path.exists(f"{base}/poststop.json")
    rt.ok("delete", "h")
    assert json.load(open(f"{base}/poststop.json"))["status"] == "stopped"
    assert open(f"{base}/order").read().split() == ["prestart", "createRuntime", "createContainer", "poststart", "poststop"]


def test_hooks_run_in_the_right_namespaces(rt) -> None:  # type: ignore[no-untyped-def]
    out = os.path.join(rt.base, "ns")

    def edit(cfg: dict) -> None:  # type: ignore[type-arg]
        cfg["hooks"] = {
            "createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", f"readlink /proc/self/ns/mnt > {out}.runtime"]}],
            "createContainer": [{"path": "/bin/sh", "args": ["sh", "-c", f"readlink /proc/self/ns/mnt > {out}.container"]}],
        }
    b = rt.bundle(["sleep", "1000"], edit)
    rt.ok("create", "--bundle", b, "n")
    pid = json.loads(rt.ok("state", "n").stdout)["pid"]
    assert open(f"{out}.runtime").read().strip() == os.readlink("/proc/self/ns/mnt")
    assert open(f"{out}.container").read().strip() == os.readlink(f"/proc/{pid}/ns/mnt")


def test_failing_hooks(rt) -> None:  # type: ignore[no-untyped-def]
    fail = {"path": "/bin/sh", "args": ["sh", "-c", "echo hook said no >&2; exit 3"]}
    for kind in ("prestart", "createRuntime", "createContainer"):
        mark = os.path.join(rt.base, f"poststop-{kind}")
        poststop = {"path": "/bin/sh", "args": ["sh", "-c", f"cat > {mark}"]}
        b = rt.bundle(["true"], lambda cfg, kind=kind, p=poststop: cfg.update(hooks={kind: [fail], "poststop": [p]}))
        one_line_error(rt("create", "--bundle", b, f"f-{kind}"), kind, "hook said no")
        assert not os.path.exists(os.path.join(rt.root, f"f-{kind}"))  # nothing left behind
        assert json.load(open(mark))["status"] == "stopped"  # the lifecycle went on to destroy and poststop
    b = rt.bundle(["true"], lambda cfg: cfg.update(hooks={"prestart": [{"path": "/bin/sleep", "args": ["sleep", "30"], "timeout": 1}]}))
    started = time.monotonic()
    one_line_error(rt("create", "--bundle", b, "slow"), "timed out")
    assert time.monotonic() - started < 10
    b = rt.bundle(["sleep", "1000"], lambda cfg: cfg.update(hooks={"startContainer": [fail]}))
    rt.ok("create", "--bundle", b, "sc")
    one_line_error(rt("start", "sc"), "startContainer", "hook said no")
    wait_for(lambda: json.loads(rt.ok("state", "sc").stdout)["status"] == "stopped", 10, "stopped after a failed startContainer")
    # poststart and poststop failures are warnings only
    b = rt.bundle(["sleep", "1000"], lambda cfg: cfg.update(hooks={"poststart": [fail], "poststop": [fail]}))
    rt.ok("create", "--bundle", b, "ps")
    res = rt.ok("start", "ps")
    assert "warning" in res.stderr and "hook said no" in res.stderr
    assert json.loads(rt.ok("state", "ps").stdout)["status"] == "running"
    res = rt.ok("delete", "--force", "ps")
    assert "warning" in res.stderr
    one_line_error(rt("create", "--bundle", rt.bundle(["true"], lambda cfg: cfg.update(hooks={"prestart": [{"path": "rel"}]})), "bad"), "absolute")


# -- kernel-dependent fields ---------------------------------------------------

@pytest.mark.parametrize("field,edit,words", [
    ("apparmorProfile", lambda c: c["process"].update(apparmorProfile="docker-default"), ["apparmorProfile", "AppArmor"]),
    ("selinuxLabel", lambda c: c["process"].update(selinuxLabel="system_u:system_r:container_t:s0"), ["selinuxLabel", "SELinux"]),
    ("mountLabel", lambda c: c["linux"].update(mountLabel="system_u:object_r:container_file_t:s0"), ["mountLabel"]),
    ("intelRdt", lambda c: c["linux"].update(intelRdt={"closID": "x"}), ["intelRdt"]),
    ("timeOffsets", lambda c: c["linux"].update(timeOffsets={"realtime": {"secs": 5}}), ["timeOffsets"]),
    ("personality.flags", lambda c: c["linux"].update(personality={"domain": "LINUX", "flags": ["x"]}), ["personality"]),
    ("idmap-tmpfs", lambda c: c["mounts"].append({"destination": "/mnt", "type": "tmpfs", "source": "tmpfs", "options": [],
                                                  "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}],
                                                  "gidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]}), ["bind mounts only"]),
])
def test_unavailable_features_are_refused(rt, field, edit, words) -> None:  # type: ignore[no-untyped-def]
    if field == "timeOffsets":
        edit = lambda c, e=edit: (c["linux"]["namespaces"].append({"type": "time"}), e(c))  # noqa: E731
    if field == "apparmorProfile" and os.path.exists("/sys/module/apparmor/parameters/enabled"):
        pytest.skip("AppArmor is enabled here")
    if field in ("selinuxLabel", "mountLabel") and os.path.exists("/sys/fs/selinux/enforce"):
        pytest.skip("SELinux is enabled here")
    res = rt("run", "--bundle", rt.bundle(["true"], edit), "x")
    one_line_error(res, *words)
    assert not os.path.exists(os.path.join(rt.root, "x"))


def test_personality_linux32(rt) -> None:  # type: ignore[no-untyped-def]
    b = rt.bundle(["uname", "-m"], lambda c: c["linux"].update(personality={"domain": "LINUX32"}))
    res = rt.ok("run", "--bundle", b, "p")
    assert res.stdout.strip() in ("i686", "armv8l", "armv7l")


def test_time_namespace_offsets(rt) -> None:  # type: ignore[no-untyped-def]
    if not os.path.exists("/proc/self/ns/time"):
        pytest.skip("no time namespaces in this kernel")

    def edit(c: dict) -> None:  # type: ignore[type-arg]
        c["linux"]["namespaces"].append({"type": "time"})
        c["linux"]["timeOffsets"] = {"boottime": {"secs": 1000000, "nanosecs": 0}, "monotonic": {"secs": 5000}}
    st = rt.running("t", edit)
    with open("/proc/uptime") as f:
        host = float(f.read().split()[0])
    assert os.readlink(f"/proc/{st['pid']}/ns/time") != os.readlink("/proc/self/ns/time")
    inside = float(rt.ok("exec", "t", "cat", "/proc/uptime").stdout.split()[0])  # exec joins it too
    assert 1000000 - 5 < inside - host < 1000000 + 5


def test_idmapped_bind_mount(rt) -> None:  # type: ignore[no-untyped-def]
    src = os.path.join(rt.base, "idsrc")
    os.makedirs(src)
    os.chmod(src, 0o777)
    with open(os.path.join(src, "f"), "w") as f:
        f.write("x")
    os.chown(os.path.join(src, "f"), 0, 0)

    def edit(c: dict) -> None:  # type: ignore[type-arg]
        c["root"]["readonly"] = False
        c["mounts"].append({"destination": "/mnt", "type": "bind", "source": src, "options": ["bind", "rw"],
                            "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 10}],
                            "gidMappings": [{"containerID": 0, "hostID": 1000, "size": 10}]})
        c["process"]["user"] = {"uid": 1001, "gid": 1001}
    res = rt.ok("run", "--bundle", rt.bundle(["sh", "-c", "stat -c %u:%g /mnt/f; touch /mnt/made-by-1001"], edit), "i")
    assert res.stdout.strip() == "1000:1000"  # on-disk 0 seen as 1000 through the mapping
    st = os.stat(os.path.join(src, "made-by-1001"))
    assert (st.st_uid, st.st_gid) == (1, 1)  # and 1001 writes as on-disk 1
    assert os.stat(os.path.join(src, "f")).st_uid == 0  # the source itself is unchanged


def test_exec_preserve_fds_and_json_log(rt) -> None:  # type: ignore[no-untyped-def]
    rt.running("c")
    r, w = os.pipe()
    try:
        res = subprocess.run([RUNTIME, "--root", rt.root, "exec", "--preserve-fds", "1", "c", "sh", "-c", "echo via-fd3 >&3"],
                             preexec_fn=lambda: os.dup2(w, 3), pass_fds=(3,), capture_output=True, text=True, timeout=30)
        assert res.returncode == 0, res.stderr
        os.close(w)
        assert os.read(r, 100) == b"via-fd3\n"
    finally:
        os.close(r)
    # without --preserve-fds the descriptor is closed in the container
    assert rt("exec", "c", "sh", "-c", "echo x >&3").returncode != 0
    # containerd reads the last {"level":"error","msg":...} line of --log
    log = os.path.join(rt.base, "log.json")
    res = subprocess.run([RUNTIME, "--root", rt.root, "--log", log, "--log-format", "json", "exec", "c", "no-such-command"],
                         capture_output=True, text=True, timeout=30)
    assert res.returncode != 0
    last = json.loads(open(log).read().strip().splitlines()[-1])
    assert last["level"] == "error" and "executable file not found in $PATH" in last["msg"]


def test_events_reports_oom_kills(rt) -> None:  # type: ignore[no-untyped-def]
    def edit(c: dict) -> None:  # type: ignore[type-arg]
        c["linux"]["resources"] = {"memory": {"limit": 20_000_000}}
    # the shell waits until `events` runs, then needs ~80 MB in a pipe it collects
    rt.running("m", edit, args=["sh", "-c", "while [ ! -e /dev/shm/go ]; do sleep 0.05; done; x=$(head -c 80000000 /dev/zero | tr '\\0' a); sleep 100"])
    proc = subprocess.Popen([RUNTIME, "--root", rt.root, "events", "--interval", "60s", "m"], stdout=subprocess.PIPE, text=True)
    try:
        assert json.loads(proc.stdout.readline())["type"] == "stats"  # type: ignore[union-attr]
        rt.ok("exec", "m", "touch", "/dev/shm/go")
        import select

        assert select.select([proc.stdout], [], [], 20)[0], "no event within 20s of the OOM"
        line = proc.stdout.readline()  # type: ignore[union-attr]
        assert json.loads(line) == {"type": "oom", "id": "m"}
    finally:
        proc.kill()
        proc.wait()
