"""The runtime core, end to end: real containers from a busybox bundle, as root.

Each test checks from inside the container what a user would check, and the
spec's MUST clauses for create/start/state/kill/delete.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Callable

import pytest

pytestmark = pytest.mark.root

Bundle = Callable[..., str]


@pytest.fixture(autouse=True)
def seccomp_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The runtimes started here keep compiled seccomp programs in the test's tmp
    dir, never in the host's /run/pyrkt/seccomp (inherited through the environment)."""
    path = tmp_path / "seccomp-cache"
    monkeypatch.setenv("PYRKT_SECCOMP_CACHE", str(path))
    return path


def run_out(rt: Any, bundle: str, cid: str = "c1", **kw: Any) -> subprocess.CompletedProcess[str]:
    return rt("run", "--bundle", bundle, cid, **kw)


def wait_status(rt: Any, cid: str, status: str, timeout: float = 10) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        st = rt.state(cid)
        if st["status"] == status or time.monotonic() > deadline:
            return st
        time.sleep(0.02)


# -- run: output, exit codes, the basics seen from inside --------------------------


def test_run_prints_and_exits_with_the_container_status(rt: Any, bundle: Bundle) -> None:
    p = run_out(rt, bundle(["sh", "-c", "echo hello; echo oops >&2; exit 3"]))
    assert p.returncode == 3
    assert p.stdout == "hello\n"
    assert p.stderr == "oops\n"
    assert os.listdir(rt.root) == []  # run removes the container after it exits


def test_killed_by_signal_exits_128_plus(rt: Any, bundle: Bundle) -> None:
    p = run_out(rt, bundle(["sh", "-c", "kill -TERM $$; sleep 5"]))
    # pid 1 ignores signals it has no handler for, so TERM from itself is ignored: sleep ends
    assert p.returncode == 0
    p = run_out(rt, bundle(["sh", "-c", "sleep 5 & kill -KILL $!; wait $!; echo $?"]))
    assert p.stdout.strip() == "137"


def test_hostname_pid1_and_namespaces(rt: Any, bundle: Bundle) -> None:
    p = run_out(rt, bundle(["sh", "-c", "hostname; echo $$; for n in net uts ipc; do readlink /proc/self/ns/$n; done"], hostname="box1"), check=True)
    lines = p.stdout.split()
    assert lines[0] == "box1"
    assert lines[1] == "1"
    for ns_line, ns in zip(lines[2:], ("net", "uts", "ipc")):
        assert ns_line != os.readlink(f"/proc/self/ns/{ns}")


def test_domainname(rt: Any, bundle: Bundle) -> None:
    p = run_out(rt, bundle(["cat", "/proc/sys/kernel/domainname"], domainname="example.org"), check=True)
    assert p.stdout.strip() == "example.org"


def test_env_cwd_and_cwd_created(rt: Any, bundle: Bundle) -> None:
    b = bundle(["sh", "-c", "pwd; echo $FOO; echo $PATH"], process={"env": ["PATH=/bin", "FOO=bar baz"], "cwd": "/work/dir"}, root={"path": "rootfs", "readonly": False}, copy_rootfs=True)
    p = run_out(rt, b, check=True)
    assert p.stdout.splitlines() == ["/work/dir", "bar baz", "/bin"]


def test_stdio_passes_through(rt: Any, bundle: Bundle) -> None:
    p = rt("run", "--bundle", bundle(["sh", "-c", "tr a-z A-Z"]), "c1", input=b"hello stdin\n")
    assert p.returncode == 0
    assert p.stdout == "HELLO STDIN\n"


# -- mounts and filesystem ------------------------------------------------------


def mounts_inside(rt: Any, bundle: Bundle, **changes: Any) -> dict[str, tuple[str, set[str]]]:
    p = run_out(rt, bundle(["cat", "/proc/self/mounts"], **changes), check=True)
    table: dict[str, tuple[str, set[str]]] = {}
    for line in p.stdout.splitlines():
        _src, mp, fstype, opts = line.split()[:4]
        table[mp] = (fstype, set(opts.split(",")))
    return table


def test_default_mounts_and_flags(rt: Any, bundle: Bundle) -> None:
    m = mounts_inside(rt, bundle)
    assert m["/"][1] >= {"ro"}
    assert m["/proc"][0] == "proc"
    assert m["/dev"][0] == "tmpfs" and "nosuid" in m["/dev"][1]
    assert m["/dev/pts"][0] == "devpts" and {"nosuid", "noexec"} <= m["/dev/pts"][1]
    assert m["/dev/shm"][0] == "tmpfs" and {"nosuid", "noexec", "nodev"} <= m["/dev/shm"][1]
    assert m["/dev/mqueue"][0] == "mqueue"
    assert m["/sys"][0] == "sysfs" and "ro" in m["/sys"][1]
    assert "ro" in m["/sys/fs/cgroup"][1]
    assert m["/proc/sys"][1] >= {"ro"}


NO_CGROUPNS = [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")]


@pytest.mark.parametrize("cgroupns", [True, False], ids=["cgroupns", "host-cgroupns"])
def test_cgroup_mount_shows_the_containers_own_cgroups(rt: Any, bundle: Bundle, cgroupns: bool) -> None:
    # with or without a cgroup namespace, on v1 (each hierarchy) and v2, the
    # container's own cgroup is the root of /sys/fs/cgroup: its limit is there,
    # and its cgroup.procs lists the container's processes only
    v1 = not Path("/sys/fs/cgroup/cgroup.controllers").exists()
    top = "/sys/fs/cgroup/pids" if v1 else "/sys/fs/cgroup"
    script = f"cat {top}/pids.max; cat {top}/cgroup.procs; cat /proc/self/cgroup"
    changes: dict[str, Any] = {"linux": {"resources": {"pids": {"limit": 42}}}}
    if not cgroupns:
        changes["linux"]["namespaces"] = NO_CGROUPNS
    p = run_out(rt, bundle(["sh", "-c", script], **changes), check=True)
    lines = p.stdout.split()
    assert lines[0] == "42"
    procs = [int(x) for x in lines[1:] if x.isdigit()]
    assert procs and all(pid < 10 for pid in procs), p.stdout  # pids of the container's own pid namespace
    own = [line for line in lines if ":pids:" in line or line.startswith("0::")]
    if cgroupns:
        assert own and all(line.endswith(":/") for line in own), p.stdout


def test_readonly_root_refuses_writes_and_rw_root_allows(rt: Any, bundle: Bundle) -> None:
    p = run_out(rt, bundle(["touch", "/newfile"]))
    assert p.returncode != 0
    assert "Read-only file system" in p.stderr
    b = bundle(["sh", "-c", "touch /newfile && echo ok"], root={"path": "rootfs", "readonly": False}, copy_rootfs=True)
    assert run_out(rt, b).stdout == "ok\n"


def test_bind_mounts_with_options(rt: Any, bundle: Bundle, tmp_path: Path) -> None:
    host = tmp_path / "share"
    host.mkdir()
    (host / "data.txt").write_text("from host\n")
    (host / "tool").write_text("#!/bin/sh\necho ran\n")
    (host / "tool").chmod(0o755)
    extra = [
        {"destination": "/mnt/ro", "type": "bind", "source": str(host), "options": ["rbind", "ro"]},
        {"destination": "/mnt/noexec", "type": "bind", "source": str(host), "options": ["bind", "noexec", "nosuid", "nodev"]},
        {"destination": "/etc/data.txt", "type": "bind", "source": str(host / "data.txt"), "options": ["bind"]},
        {"destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m", "mode=1777"]},
    ]
    from pyrkt.oci.specgen import default_spec

    mounts = default_spec()["mounts"] + extra
    script = "cat /etc/data.txt; touch /mnt/ro/x 2>&1 | grep -o Read-only; /mnt/noexec/tool 2>&1 | grep -o 'Permission denied'; /mnt/ro/tool; echo s > /scratch/f && cat /scratch/f"
    p = run_out(rt, bundle(["sh", "-c", script], mounts=mounts), check=True)
    assert p.stdout.splitlines() == ["from host", "Read-only", "Permission denied", "ran", "s"]
    assert not (host / "x").exists()


def test_bind_mount_of_missing_source_is_one_line(rt: Any, bundle: Bundle) -> None:
    from pyrkt.oci.specgen import default_spec

    mounts = default_spec()["mounts"] + [{"destination": "/x", "type": "bind", "source": "/nonexistent/src", "options": ["bind"]}]
    p = run_out(rt, bundle(["true"], mounts=mounts))
    assert p.returncode != 0
    assert "/nonexistent/src" in p.stderr and "No such file" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
    assert os.listdir(rt.root) == []


def test_symlink_in_image_cannot_redirect_a_mount(rt: Any, bundle: Bundle, tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep").write_text("host data\n")
    b = bundle(["sh", "-c", "ls /evil; grep -c ' /evil ' /proc/self/mounts; true"], copy_rootfs=True)
    rootfs = Path(b) / "rootfs"
    (rootfs / "evil").symlink_to(str(victim))  # absolute symlink pointing at a host path
    (rootfs / "up").symlink_to("../../../../../../../..")
    from pyrkt.oci.specgen import default_spec

    mounts = default_spec()["mounts"] + [
        {"destination": "/evil", "type": "tmpfs", "source": "tmpfs", "options": []},
        {"destination": "/up/tmp/escaped", "type": "tmpfs", "source": "tmpfs", "options": []},
    ]
    spec = json.loads((Path(b) / "config.json").read_text())
    spec["mounts"] = mounts
    (Path(b) / "config.json").write_text(json.dumps(spec))
    p = run_out(rt, b)
    assert p.returncode == 0, p.stderr
    # the host directory is untouched and was never mounted over
    assert (victim / "keep").read_text() == "host data\n"
    assert str(victim) not in Path("/proc/self/mounts").read_text()
    assert not Path("/tmp/escaped").exists()
    # inside, the mount landed under the rootfs at the symlink's rooted target
    assert (rootfs / str(victim).lstrip("/")).is_dir()


def test_masked_and_readonly_paths(rt: Any, bundle: Bundle) -> None:
    # /proc/keys and /proc/timer_list are masked by runc's spec and exist on this kernel
    assert Path("/proc/keys").exists() and Path("/proc/timer_list").exists()
    script = "cat /proc/keys | wc -c; cat /proc/timer_list | wc -c; ls /sys/firmware | wc -l; (echo 1 > /proc/sys/kernel/shmmni) 2>&1 | grep -o Read-only; grep ' /proc/fs ' /proc/self/mounts | cut -d' ' -f4 | cut -c1-3"
    p = run_out(rt, bundle(["sh", "-c", script]), check=True)
    assert p.stdout.split() == ["0", "0", "0", "Read-only", "ro,"]
    assert len(Path("/proc/timer_list").read_bytes()) > 0


def test_dev_has_default_devices_and_links(rt: Any, bundle: Bundle) -> None:
    script = "for d in null zero full random urandom tty; do stat -c '%n %t,%T %a' /dev/$d; done; for l in ptmx fd stdin stdout stderr; do readlink /dev/$l; done; head -c 4 /dev/zero | wc -c"
    p = run_out(rt, bundle(["sh", "-c", script]), check=True)
    lines = p.stdout.splitlines()
    assert lines[:6] == ["/dev/null 1,3 666", "/dev/zero 1,5 666", "/dev/full 1,7 666", "/dev/random 1,8 666", "/dev/urandom 1,9 666", "/dev/tty 5,0 666"]
    assert lines[6:11] == ["pts/ptmx", "/proc/self/fd", "/proc/self/fd/0", "/proc/self/fd/1", "/proc/self/fd/2"]
    assert lines[11] == "4"


def test_linux_devices(rt: Any, bundle: Bundle) -> None:
    dev = {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o620, "uid": 0, "gid": 5}
    allow = {"allow": True, "type": "c", "major": 10, "minor": 229, "access": "rwm"}
    b = bundle(["stat", "-c", "%n %F %t,%T %a %g", "/dev/fuse"], linux={"devices": [dev], "resources": {"devices": [{"allow": False, "access": "rwm"}, allow]}})
    p = run_out(rt, b, check=True)
    assert p.stdout.strip() == "/dev/fuse character special file a,e5 620 5"


# -- process: user, capabilities, rlimits ---------------------------------------


def test_user_and_groups(rt: Any, bundle: Bundle) -> None:
    b = bundle(["sh", "-c", "id -u; id -g; id -G; umask"], process={"user": {"uid": 1000, "gid": 1001, "additionalGids": [10, 20], "umask": 0o027}})
    p = run_out(rt, b, check=True)
    lines = p.stdout.split("\n")
    assert lines[0] == "1000"
    assert lines[1] == "1001"
    assert set(lines[2].split()) == {"1001", "10", "20"}
    assert lines[3] == "0027"


def caps_of(text: str) -> dict[str, int]:
    return {line.split(":")[0]: int(line.split()[1], 16) for line in text.splitlines() if line.startswith("Cap")}


def test_capabilities_all_five_sets(rt: Any, bundle: Bundle) -> None:
    caps = {
        "bounding": ["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_CHOWN", "CAP_SETPCAP"],
        "effective": ["CAP_KILL", "CAP_CHOWN"],
        "permitted": ["CAP_KILL", "CAP_CHOWN", "CAP_NET_BIND_SERVICE"],
        "inheritable": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
        "ambient": ["CAP_NET_BIND_SERVICE"],
    }
    p = run_out(rt, bundle(["grep", "^Cap", "/proc/self/status"], process={"capabilities": caps}), check=True)
    got = caps_of(p.stdout)
    # after execve of a file without file capabilities, as root: P' = (P & I) | bounding... the
    # kernel recomputes for uid 0: permitted = inheritable | bounding; check bounding and ambient exactly
    assert got["CapBnd"] == (1 << 5) | (1 << 10) | (1 << 0) | (1 << 8)
    assert got["CapInh"] == (1 << 5) | (1 << 10)
    assert got["CapAmb"] == (1 << 10)


def test_capabilities_as_non_root_user(rt: Any, bundle: Bundle) -> None:
    caps = {k: ["CAP_NET_BIND_SERVICE"] for k in ("bounding", "effective", "permitted", "inheritable", "ambient")}
    b = bundle(["grep", "^Cap", "/proc/self/status"], process={"user": {"uid": 1000, "gid": 1000}, "capabilities": caps})
    got = caps_of(run_out(rt, b, check=True).stdout)
    bit = 1 << 10
    assert got == {"CapInh": bit, "CapPrm": bit, "CapEff": bit, "CapBnd": bit, "CapAmb": bit}


def test_unknown_capability_is_refused(rt: Any, bundle: Bundle) -> None:
    p = run_out(rt, bundle(["true"], process={"capabilities": {"bounding": ["CAP_BOGUS"]}}))
    assert p.returncode != 0
    assert "unknown capability 'CAP_BOGUS'" in p.stderr


def test_no_new_privileges(rt: Any, bundle: Bundle) -> None:
    p = run_out(rt, bundle(["grep", "NoNewPrivs", "/proc/self/status"], process={"noNewPrivileges": True}), check=True)
    assert p.stdout.split() == ["NoNewPrivs:", "1"]
    p = run_out(rt, bundle(["grep", "NoNewPrivs", "/proc/self/status"], process={"noNewPrivileges": False}), check=True)
    assert p.stdout.split() == ["NoNewPrivs:", "0"]


@pytest.mark.parametrize("nnp", [False, True], ids=["loaded-early", "loaded-last"])
def test_seccomp_errno_inside_the_container(rt: Any, bundle: Bundle, nnp: bool, seccomp_cache: Path) -> None:
    """linux.seccomp, compiled by the runtime and loaded by the init with the bare seccomp(2):
    a denied syscall fails with the profile's errno, one filter is installed, and the
    runtime did not turn no_new_privs on. Without noNewPrivileges the filter is loaded
    before the capabilities are dropped (runc's default set has no CAP_SYS_ADMIN, so a
    late load would fail); with it, last before execve. The first run compiles the
    profile and caches the program, the second loads the cached one: same result."""
    seccomp = {"defaultAction": "SCMP_ACT_ALLOW",
               "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 28}]}  # ENOSPC
    script = "mkdir /tmp/x 2>&1; grep -E '^(Seccomp|Seccomp_filters|NoNewPrivs):' /proc/self/status"
    b = bundle(["sh", "-c", script], process={"noNewPrivileges": nnp}, linux={"seccomp": seccomp})
    for attempt in ("cold", "warm"):
        if attempt == "warm":
            cached = os.listdir(seccomp_cache)
            assert len(cached) == 1 and cached[0].endswith(".bpf"), cached
        p = run_out(rt, b, check=True)
        lines = p.stdout.splitlines()
        assert "No space left on device" in lines[0], (attempt, p.stdout)
        fields = dict(line.split(":\t") for line in lines[1:])
        assert fields["Seccomp"] == "2" and fields["NoNewPrivs"] == ("1" if nnp else "0"), attempt
        if "Seccomp_filters" in fields:  # Linux 5.9+
            assert fields["Seccomp_filters"] == "1", attempt
    assert os.listdir(seccomp_cache) == cached  # the warm run wrote nothing new


def test_a_bad_seccomp_profile_fails_the_same_way_twice(rt: Any, bundle: Bundle, seccomp_cache: Path) -> None:
    """A profile that does not compile is refused with the same message each time and
    never reaches the cache."""
    seccomp = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOPE"}]}
    b = bundle(["true"], linux={"seccomp": seccomp})
    errors = [run_out(rt, b).stderr for _ in range(2)]
    assert errors[0] == errors[1] and "linux.seccomp: syscalls[0].action 'SCMP_ACT_NOPE' is not a seccomp action" in errors[0]
    assert not seccomp_cache.exists() or os.listdir(seccomp_cache) == []


def test_rlimits(rt: Any, bundle: Bundle) -> None:
    rl = [{"type": "RLIMIT_NOFILE", "soft": 512, "hard": 600}, {"type": "RLIMIT_NPROC", "soft": 77, "hard": 77}]
    p = run_out(rt, bundle(["sh", "-c", "ulimit -n; ulimit -Hn; ulimit -u"], process={"rlimits": rl}), check=True)
    assert p.stdout.split() == ["512", "600", "77"]


def test_raising_a_hard_rlimit_fails_clearly(rt: Any, bundle: Bundle) -> None:
    import resource

    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        pytest.skip("the hard limit is already unlimited")
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard + 1))
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        pytest.skip("this machine has CAP_SYS_RESOURCE: raising works")
    except (ValueError, OSError):
        pass
    rl = [{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": hard * 4}]
    p = run_out(rt, bundle(["true"], process={"rlimits": rl}))
    assert p.returncode != 0
    assert "RLIMIT_NOFILE" in p.stderr and "CAP_SYS_RESOURCE" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
    assert "Traceback" not in p.stderr
    assert os.listdir(rt.root) == []


def test_oom_score_adj(rt: Any, bundle: Bundle) -> None:
    p = run_out(rt, bundle(["cat", "/proc/self/oom_score_adj"], process={"oomScoreAdj": 500}), check=True)
    assert p.stdout.strip() == "500"


# -- namespaces: joining by path, user namespaces, sysctl ------------------------


def test_join_namespaces_by_path(rt: Any, bundle: Bundle) -> None:
    rt("run", "-d", "--bundle", bundle(["sleep", "30"], hostname="holder"), "holder", check=True)
    pid = rt.state("holder")["pid"]
    namespaces = [
        {"type": "pid", "path": f"/proc/{pid}/ns/pid"},
        {"type": "network", "path": f"/proc/{pid}/ns/net"},
        {"type": "ipc", "path": f"/proc/{pid}/ns/ipc"},
        {"type": "uts", "path": f"/proc/{pid}/ns/uts"},
        {"type": "mount"},
    ]
    b = bundle(["sh", "-c", "hostname; for n in net uts ipc pid; do readlink /proc/self/ns/$n; done; ps -o pid,comm | grep -c sleep"], linux={"namespaces": namespaces})
    spec = json.loads(Path(b, "config.json").read_text())
    spec.pop("hostname")
    Path(b, "config.json").write_text(json.dumps(spec))
    p = run_out(rt, b, cid="joiner", check=True)
    lines = p.stdout.split()
    assert lines[0] == "holder"
    assert lines[1:5] == [os.readlink(f"/proc/{pid}/ns/{n}") for n in ("net", "uts", "ipc", "pid")]
    assert lines[5] == "1"  # sees the holder's sleep: same pid namespace


def test_user_namespace_mappings(rt: Any, bundle: Bundle, shared_rootfs: str) -> None:
    ns = [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount", "user")]
    linux = {
        "namespaces": ns,
        "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
        "gidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
    }
    b = bundle(["sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map; id -u; sleep 30"], rootfs=shared_rootfs, linux=linux)
    rt("create", "--bundle", b, "u1", check=True)
    pid = rt.state("u1")["pid"]
    rt("start", "u1", check=True)
    time.sleep(0.3)
    status = Path(f"/proc/{pid}/status").read_text()
    uid_line = next(line for line in status.splitlines() if line.startswith("Uid:"))
    assert uid_line.split()[1:] == ["100000"] * 4
    assert os.readlink(f"/proc/{pid}/ns/user") != os.readlink("/proc/self/ns/user")
    rt("kill", "u1", "KILL", check=True)


def test_user_namespace_output(rt: Any, bundle: Bundle, shared_rootfs: str) -> None:
    ns = [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount", "user")]
    linux = {
        "namespaces": ns,
        "uidMappings": [{"containerID": 0, "hostID": 200000, "size": 1000}],
        "gidMappings": [{"containerID": 0, "hostID": 200000, "size": 1000}],
    }
    p = run_out(rt, bundle(["sh", "-c", "cat /proc/self/uid_map; id -u; ls /dev/null"], rootfs=shared_rootfs, linux=linux), check=True)
    lines = p.stdout.splitlines()
    assert lines[0].split() == ["0", "200000", "1000"]
    assert lines[1] == "0"
    assert lines[2] == "/dev/null"


def test_sysctl_in_own_namespaces(rt: Any, bundle: Bundle) -> None:
    b = bundle(["sh", "-c", "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmni"], linux={"sysctl": {"net.ipv4.ip_forward": "1", "kernel.shmmni": "1234"}})
    assert run_out(rt, b, check=True).stdout.split() == ["1", "1234"]
    assert Path("/proc/sys/kernel/shmmni").read_text().strip() != "1234"


def test_sysctl_outside_namespaces_is_refused(rt: Any, bundle: Bundle) -> None:
    p = run_out(rt, bundle(["true"], linux={"sysctl": {"vm.swappiness": "10"}}))
    assert p.returncode != 0
    assert "vm.swappiness" in p.stderr


def test_rootfs_propagation_and_no_pivot(rt: Any, bundle: Bundle) -> None:
    p = run_out(rt, bundle(["sh", "-c", "echo $$; ls /"], linux={"rootfsPropagation": "private"}), check=True)
    assert p.stdout.split()[0] == "1"
    p = rt("run", "--no-pivot", "--bundle", bundle(["sh", "-c", "ls / | grep -cx bin"]), "np")
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "1"


def test_preserve_fds(rt: Any, bundle: Bundle, tmp_path: Path) -> None:
    out = tmp_path / "fd3.txt"
    b = bundle(["sh", "-c", "echo via fd3 >&3; [ -e /proc/$$/fd/4 ] && echo leaked || echo closed"])
    shell = f"exec 3>{out} 4>/dev/null; exec {rt.binary} --root {rt.root} run --preserve-fds 1 --bundle {b} pf"
    proc = subprocess.run(["sh", "-c", shell], capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert out.read_text() == "via fd3\n"
    # fd 4 was not preserved: the container does not see it
    assert proc.stdout.strip() == "closed"


# -- lifecycle: create, state, start, kill, delete ------------------------------


def test_lifecycle_end_to_end(rt: Any, bundle: Bundle, tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    b = bundle(["sh", "-c", "echo started > /dev/shm/x; sleep 60"], annotations={"org.example/k": "v"})
    rt("create", "--bundle", b, "--pid-file", str(pidfile), "life", check=True)
    st = rt.state("life")
    assert st["status"] == "created"
    assert st["id"] == "life"
    assert st["bundle"] == os.path.abspath(b)
    assert st["annotations"] == {"org.example/k": "v"}
    assert st["ociVersion"].startswith("1.")
    pid = st["pid"]
    assert int(pidfile.read_text()) == pid
    assert Path(f"/proc/{pid}").exists()
    # created: the user's program has not run yet
    assert Path(f"/proc/{pid}/exe").resolve().name.startswith("python")
    rt("start", "life", check=True)
    assert rt.state("life")["status"] == "running"
    assert Path(f"/proc/{pid}/exe").resolve().name == "busybox"
    listed = json.loads(rt("list", "--format", "json", check=True).stdout)
    assert [c["id"] for c in listed] == ["life"] and listed[0]["status"] == "running"
    table = rt("list", check=True).stdout.splitlines()
    assert table[0].split() == ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
    assert table[1].split()[:3] == ["life", str(pid), "running"]
    rt("kill", "life", "TERM", check=True)  # pid 1 without a handler ignores TERM
    time.sleep(0.2)
    assert rt.state("life")["status"] == "running"
    rt("kill", "life", "9", check=True)
    st = wait_status(rt, "life", "stopped")
    assert st["status"] == "stopped"
    p = rt("kill", "life", "KILL")
    assert p.returncode != 0 and "container not running" in p.stderr
    p = rt("start", "life")
    assert p.returncode != 0 and "cannot start a container that has stopped" in p.stderr
    rt("delete", "life", check=True)
    p = rt("state", "life")
    assert p.returncode != 0 and "does not exist" in p.stderr
    assert not Path(rt.root, "life").exists()


def test_state_pid_is_the_init_and_a_child_of_the_caller(rt: Any, bundle: Bundle) -> None:
    code = (
        "import subprocess, sys, os, json\n"
        f"rt = {rt.binary!r}; root = {rt.root!r}\n"
        f"subprocess.run([rt, '--root', root, 'create', '--bundle', {bundle(['sleep', '30'])!r}, 'kid'], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
        "st = json.loads(subprocess.run([rt, '--root', root, 'state', 'kid'], capture_output=True, check=True).stdout)\n"
        "import ctypes\n"
        "ppid = int(open(f\"/proc/{st['pid']}/stat\").read().rsplit(')', 1)[1].split()[1])\n"
        "print(ppid)\n"
    )
    # a subreaper stands in for conmon/containerd-shim: the init is reparented to it
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    pid = os.fork()
    if pid == 0:
        try:
            libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
            out = subprocess.run(["/usr/bin/python3", "-c", code], capture_output=True, text=True, timeout=30)
            os._exit(0 if out.stdout.strip() == str(os.getpid()) else 1)
        finally:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    rt("delete", "--force", "kid")
    assert os.waitstatus_to_exitcode(status) == 0


def test_delete_refuses_running_without_force(rt: Any, bundle: Bundle) -> None:
    rt("run", "-d", "--bundle", bundle(["sleep", "60"]), "busy", check=True)
    pid = rt.state("busy")["pid"]
    memory = next(line.split(":", 2)[2] for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines() if line.split(":")[1] == "memory")
    cgroup = Path("/sys/fs/cgroup/memory" + memory)
    assert (cgroup / "cgroup.procs").read_text().split() == [str(pid)]
    p = rt("delete", "busy")
    assert p.returncode != 0
    assert "cannot delete container busy that is not stopped: running" in p.stderr
    rt("delete", "--force", "busy", check=True)
    assert not Path(f"/proc/{pid}/stat").exists() or Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    assert not Path(rt.root, "busy").exists()
    assert not cgroup.exists()


def test_delete_of_created_container(rt: Any, bundle: Bundle) -> None:
    rt("create", "--bundle", bundle(["sleep", "60"]), "cr", check=True)
    pid = rt.state("cr")["pid"]
    rt("delete", "cr", check=True)
    time.sleep(0.05)
    assert not Path(f"/proc/{pid}/stat").exists() or Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"


def test_delete_of_a_torn_state_file(rt: Any, bundle: Bundle) -> None:
    # state.json is not fsynced: after a crash of the machine it may be empty
    rt("run", "-d", "--bundle", bundle(["true"]), "torn", check=True)
    time.sleep(0.1)
    state_file = Path(rt.root, "torn", "state.json")
    state_file.write_text("")
    res = rt("state", "torn")
    assert res.returncode != 0 and "corrupt state file" in res.stderr
    rt("delete", "torn", check=True)
    assert not Path(rt.root, "torn").exists()


@pytest.mark.parametrize("record", ["kept", "removed", "torn"])
def test_start_and_delete_with_or_without_the_quick_record(rt: Any, bundle: Bundle, record: str) -> None:
    # start/delete read the `quick` file when they can, state.json otherwise
    # (a container created by an older version, or a torn file): same results
    rt("create", "--bundle", bundle(["sh", "-c", "echo started"]), "qr", check=True)
    quick = Path(rt.root, "qr", "quick")
    assert quick.read_text().split("\n")[0].split()[0] == str(rt.state("qr")["pid"])
    if record == "removed":
        quick.unlink()
    elif record == "torn":
        quick.write_text(quick.read_text()[:5])
    rt("start", "qr", check=True)
    assert wait_status(rt, "qr", "stopped")["status"] == "stopped"
    assert_one_line_error(rt("start", "qr"), "cannot start a container that has stopped")
    rt("delete", "qr", check=True)
    assert not Path(rt.root, "qr").exists()
    assert_one_line_error(rt("delete", "qr"), "container does not exist: qr")


def test_kill_all_reaches_every_process(rt: Any, bundle: Bundle) -> None:
    rt("run", "-d", "--bundle", bundle(["sh", "-c", "trap '' TERM; sleep 60 & sleep 60 & wait"]), "many", check=True)
    time.sleep(0.3)
    from pyrkt.oci.cgroup import procs_of
    from pyrkt.oci.state import StateDir

    sd = StateDir(rt.root, "many")
    sd.open(lock=False)
    st = sd.read()
    sd.close()
    assert st is not None
    pids = procs_of(st.cgroup_paths)
    assert len(pids) == 3
    rt("kill", "--all", "many", "KILL", check=True)
    assert wait_status(rt, "many", "stopped")["status"] == "stopped"


def test_run_detached_and_list_quiet(rt: Any, bundle: Bundle) -> None:
    rt("run", "--detach", "--bundle", bundle(["sleep", "60"]), "d1", check=True)
    assert rt.state("d1")["status"] == "running"
    assert rt("list", "-q", check=True).stdout.split() == ["d1"]


def test_run_forwards_signals(rt: Any, bundle: Bundle) -> None:
    proc = subprocess.Popen(
        [rt.binary, "--root", rt.root, "run", "--bundle", bundle(["sh", "-c", "trap 'echo got TERM; exit 7' TERM; while :; do sleep 0.1; done"]), "sig"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not Path(rt.root, "sig", "state.json").exists():
        time.sleep(0.02)
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    out, _err = proc.communicate(timeout=10)
    assert proc.returncode == 7
    assert "got TERM" in out


def test_concurrent_creates_of_one_id_one_wins(rt: Any, bundle: Bundle) -> None:
    b = bundle(["sleep", "30"])
    results: list[subprocess.CompletedProcess[str]] = []

    def create() -> None:
        results.append(rt("create", "--bundle", b, "race"))

    threads = [threading.Thread(target=create) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ok = [r for r in results if r.returncode == 0]
    assert len(ok) == 1
    for r in results:
        if r.returncode != 0:
            assert "container with id exists: race" in r.stderr
    assert rt.state("race")["status"] == "created"


# -- bad input: one line, non-zero, nothing left behind --------------------------


def assert_one_line_error(p: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert p.returncode != 0
    assert "Traceback" not in p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    assert fragment in lines[0], lines[0]


@pytest.mark.parametrize(
    "setup,fragment",
    [
        ("missing-bundle", "no such directory"),
        ("missing-config", "config.json: no such file"),
        ("malformed-config", "malformed JSON"),
        ("bad-version", "unsupported ociVersion '2.0.0'"),
    ],
)
def test_bad_bundles(rt: Any, bundle: Bundle, tmp_path: Path, setup: str, fragment: str) -> None:
    b = Path(bundle(["true"]))
    if setup == "missing-bundle":
        b = tmp_path / "nope"
    elif setup == "missing-config":
        (b / "config.json").unlink()
    elif setup == "malformed-config":
        (b / "config.json").write_text("{\"ociVersion\": ")
    elif setup == "bad-version":
        spec = json.loads((b / "config.json").read_text())
        spec["ociVersion"] = "2.0.0"
        (b / "config.json").write_text(json.dumps(spec))
    assert_one_line_error(rt("create", "--bundle", str(b), "bad"), fragment)
    assert not Path(rt.root, "bad").exists()


@pytest.mark.parametrize("cid", ["../x", "a/b", "", "..", "/"])
def test_ids_that_escape_the_state_dir(rt: Any, bundle: Bundle, cid: str) -> None:
    assert_one_line_error(rt("create", "--bundle", bundle(["true"]), cid), "container id")
    if os.path.isdir(rt.root):
        assert os.listdir(rt.root) == []
    assert not Path(rt.root).parent.joinpath("x").exists()


def test_existing_id(rt: Any, bundle: Bundle) -> None:
    rt("create", "--bundle", bundle(["sleep", "30"]), "dup", check=True)
    assert_one_line_error(rt("create", "--bundle", bundle(["true"]), "dup"), "container with id exists: dup")
    assert rt.state("dup")["status"] == "created"


@pytest.mark.parametrize("verb", ["start", "kill", "delete", "state"])
def test_unknown_id(rt: Any, verb: str) -> None:
    assert_one_line_error(rt(verb, "ghost"), "container does not exist: ghost")


def test_start_of_running_container(rt: Any, bundle: Bundle) -> None:
    rt("run", "-d", "--bundle", bundle(["sleep", "30"]), "twice", check=True)
    assert_one_line_error(rt("start", "twice"), "cannot start an already running container")


@pytest.mark.parametrize("namespaces", [None, NO_CGROUPNS], ids=["cgroupns", "host-cgroupns"])
def test_executable_not_found(rt: Any, bundle: Bundle, namespaces: Any) -> None:
    # without a cgroup namespace the init reports this before the parent's `go`
    changes = {"linux": {"namespaces": namespaces}} if namespaces else {}
    p = rt("create", "--bundle", bundle(["no-such-program"], **changes), "nf")
    assert_one_line_error(p, 'exec: "no-such-program": executable file not found in $PATH')
    assert not Path(rt.root, "nf").exists()
    p = rt("run", "--bundle", bundle(["/bin/nope"], **changes), "nf2")
    assert_one_line_error(p, "no such file or directory")


def test_permission_denied(rt: Any, bundle: Bundle) -> None:
    p = rt("create", "--bundle", bundle(["/etc/passwd"]), "pd")
    assert_one_line_error(p, "permission denied")
    assert not Path(rt.root, "pd").exists()


def test_unknown_verb_and_flag(rt: Any) -> None:
    assert_one_line_error(rt("frobnicate"), "no such command: frobnicate")
    assert_one_line_error(rt("create", "--bogus", "x"), "flag provided but not defined: -bogus")
    # runc verbs pyrkt-runtime lacks say so, rather than looking like a typo
    assert_one_line_error(rt("checkpoint", "x"), "checkpoint: not supported: pyrkt-runtime does not drive CRIU")
    assert_one_line_error(rt("restore", "x"), "restore: not supported")


def test_terminal_without_console_socket(rt: Any, bundle: Bundle) -> None:
    p = rt("create", "--bundle", bundle(["sh"], process={"terminal": True}), "tty")
    assert_one_line_error(p, "cannot allocate tty")


def test_errors_go_to_the_json_log(rt: Any, tmp_path: Path) -> None:
    log = tmp_path / "log.json"
    p = rt("--log", str(log), "--log-format", "json", "start", "ghost")
    assert p.returncode != 0
    entry = json.loads(log.read_text().splitlines()[-1])
    assert entry["level"] == "error"
    assert entry["msg"] == "container does not exist: ghost"


# -- runc gives the same result on the same bundle --------------------------------


def test_same_result_as_runc(rt: Any, runc: Any, bundle: Bundle) -> None:
    script = "id; hostname; grep ^Cap /proc/self/status; ulimit -n; cat /proc/self/oom_score_adj; ls /dev | sort; pwd; echo $$"
    b = bundle(["sh", "-c", script], hostname="same", copy_rootfs=True)  # runc refuses a symlinked rootfs
    ours = rt("run", "--bundle", b, "cmp")
    theirs = runc("run", "--bundle", b, "cmp")
    assert theirs.returncode == 0, theirs.stderr
    assert ours.returncode == 0, ours.stderr
    # runc 1.1 also creates /dev/core only where /proc/kcore exists; both list the same /dev
    assert ours.stdout == theirs.stdout


def test_spec_matches_runc_shape(tmp_path: Path, rt: Any) -> None:
    rt("spec", "--bundle", str(tmp_path), check=True)
    ours = json.loads((tmp_path / "config.json").read_text())
    assert_one_line_error(rt("spec", "--bundle", str(tmp_path)), "exists")
    assert ours["process"]["args"] == ["sh"]
    assert ours["root"] == {"path": "rootfs", "readonly": True}
    assert [m["destination"] for m in ours["mounts"]] == ["/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/sys/fs/cgroup"]
    rootless = tmp_path / "rl"
    rootless.mkdir()
    rt("spec", "--rootless", "--bundle", str(rootless), check=True)
    rl = json.loads((rootless / "config.json").read_text())
    assert {"type": "user"} in rl["linux"]["namespaces"]
    assert rl["linux"]["uidMappings"][0]["hostID"] == os.getuid()
