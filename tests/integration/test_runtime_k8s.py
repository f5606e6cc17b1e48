"""What runc's users (containerd's CRI plugin, podman, shims, scripts) rely on, as pyrkt-runtime
must do it: the device cgroup, long state roots, the command line's exit codes and output.

Each test is checked against the runtime spec and against Debian's runc on this machine.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any, Callable

import pytest

pytestmark = pytest.mark.root

Bundle = Callable[..., str]
MKNOD = {k: ["CAP_MKNOD"] for k in ("bounding", "effective", "permitted")}
# open a block device the runtime's default set does not allow (loop0, 7:0)
OPEN_LOOP0 = "mknod /tmp/blk b 7 0 && head -c 1 /tmp/blk >/dev/null; echo rc=$?"


def _without_device_rules(path: str) -> str:
    cfg = json.loads(Path(path, "config.json").read_text())
    cfg["linux"].pop("resources", None)
    Path(path, "config.json").write_text(json.dumps(cfg))
    return path


# -- security: the device cgroup ----------------------------------------------------


def test_device_cgroup_is_set_without_resources(rt: Any, bundle: Bundle) -> None:
    """No linux.resources at all: runc still allows only its default devices."""
    b = _without_device_rules(bundle(["sh", "-c", OPEN_LOOP0], copy_rootfs=True, root={"path": "rootfs", "readonly": False}, process={"capabilities": MKNOD}))
    p = rt("run", "--bundle", b, "dev1")
    assert "Operation not permitted" in p.stderr and "rc=1" in p.stdout, (p.stdout, p.stderr)
    # the defaults stay usable
    b = _without_device_rules(bundle(["sh", "-c", "head -c 3 /dev/zero | wc -c; echo x > /dev/null && echo ok"]))
    assert rt("run", "--bundle", b, "dev2", check=True).stdout.split() == ["3", "ok"]


def test_a_listed_device_the_config_denies_stays_denied(rt: Any, bundle: Bundle) -> None:
    """linux.devices creates the node; the cgroup rules alone say whether it may be opened."""
    dev = {"path": "/dev/blk", "type": "b", "major": 7, "minor": 0, "fileMode": 0o600, "uid": 0, "gid": 0}
    rules = [{"allow": False, "access": "rwm"}, {"allow": False, "type": "b", "major": 7, "minor": 0, "access": "rwm"}]
    b = bundle(["sh", "-c", "head -c 1 /dev/blk >/dev/null; echo rc=$?"], linux={"devices": [dev], "resources": {"devices": rules}})
    p = rt("run", "--bundle", b, "dev3")
    assert "Operation not permitted" in p.stderr and "rc=1" in p.stdout, (p.stdout, p.stderr)


# -- a long --root ---------------------------------------------------------------


def test_long_state_root_and_id(rt: Any, bundle: Bundle, tmp_path: Path) -> None:
    """exec.sock under <root>/<64-char id>/ is far beyond AF_UNIX's 107 bytes; runc takes any length."""
    root = tmp_path / ("r" * 60) / ("o" * 60) / ("t" * 60)
    rt = type(rt)(str(root))  # conftest's Runtime, on the long root
    cid = "c" * 64
    try:
        assert len(f"{root}/{cid}/exec.sock") > 200
        rt("create", "--bundle", bundle(["sh", "-c", "echo started; sleep 30"]), cid, check=True)
        assert rt.state(cid)["status"] == "created"
        rt("start", cid, check=True)
        assert rt.state(cid)["status"] == "running"
        assert rt("exec", cid, "echo", "in").stdout == "in\n"
        rt("delete", "--force", cid, check=True)
        p = rt("run", "--bundle", bundle(["echo", "ran"]), cid, check=True)
        assert p.stdout == "ran\n"
        assert os.listdir(root) == []
    finally:
        rt.cleanup()


# -- delete --force, the host's mount namespace ------------------------------------------


def test_delete_force_of_a_missing_container_succeeds(rt: Any) -> None:
    """runc: exit 0 (containerd removes every pod's containers with it); without --force, an error."""
    p = rt("delete", "--force", "never-created")
    assert (p.returncode, p.stderr) == (0, "")
    p = rt("delete", "never-created")
    assert p.returncode != 0 and "container does not exist: never-created" in p.stderr
    p = rt("delete", "--force", "../bad")
    assert p.returncode != 0 and "invalid container id" in p.stderr


def _host_mntns(path: str, **changes: Any) -> str:
    cfg = json.loads(Path(path, "config.json").read_text())
    cfg["linux"]["namespaces"] = [ns for ns in cfg["linux"]["namespaces"] if ns["type"] != "mount"]
    cfg["mounts"], cfg["linux"]["maskedPaths"], cfg["linux"]["readonlyPaths"] = [], [], []
    cfg["root"]["readonly"] = False
    cfg.update(changes)
    Path(path, "config.json").write_text(json.dumps(cfg))
    return path


def test_a_config_without_a_mount_namespace_runs_chrooted(rt: Any, bundle: Bundle) -> None:
    def host_root() -> list[str]:  # the host's / mount with its propagation (the whole table moves: other tests run)
        return [line for line in Path("/proc/self/mountinfo").read_text().splitlines() if line.split()[4] == "/"]

    before = host_root()
    b = _host_mntns(bundle(["sh", "-c", "cat /etc/os-release; ls /; sleep 30"]))
    rt("run", "-d", "--bundle", b, "hostmnt", check=True)
    pid = rt.state("hostmnt")["pid"]
    assert os.readlink(f"/proc/{pid}/ns/mnt") == os.readlink("/proc/self/ns/mnt")
    assert os.path.samefile(f"/proc/{pid}/root", os.path.join(b, "rootfs"))
    p = rt("exec", "hostmnt", "cat", "/etc/os-release")
    assert "pyrkt busybox" in p.stdout, p.stderr
    rt("delete", "--force", "hostmnt", check=True)
    assert host_root() == before  # its propagation was not touched (runc makes it rslave)
    # what would have to be mounted is refused in one line; so is --no-pivot, as runc does
    b = _host_mntns(bundle(["true"]), mounts=[{"destination": "/proc", "type": "proc", "source": "proc"}])
    p = rt("run", "--bundle", b, "hostmnt2")
    assert p.returncode != 0 and "mounts needs a mount namespace" in p.stderr and len(p.stderr.splitlines()) == 1
    p = rt("run", "--no-pivot", "--bundle", _host_mntns(bundle(["true"])), "hostmnt3")
    assert p.returncode != 0 and "unable to use no-pivot without a private MNT namespace" in p.stderr
    assert os.listdir(rt.root) == []


# -- security: rootfs and seccomp -------------------------------------------------------


@pytest.mark.parametrize("target", ["proc", "sys"])
def test_proc_or_sys_as_a_symlink_in_the_image_is_refused(rt: Any, bundle: Bundle, target: str, tmp_path: Path) -> None:
    b = bundle(["true"], copy_rootfs=True)
    rootfs = Path(b, "rootfs")
    (rootfs / target).rmdir()
    (tmp_path / "elsewhere").mkdir()
    (rootfs / target).symlink_to(str(tmp_path / "elsewhere"))
    p = rt("run", "--bundle", b, "symproc")
    assert p.returncode != 0 and "must be mounted on ordinary directory" in p.stderr, p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
    assert os.listdir(tmp_path / "elsewhere") == []
    assert os.listdir(rt.root) == []


def test_no_pivot_still_runs_with_its_own_proc(rt: Any, bundle: Bundle) -> None:
    p = rt("run", "--no-pivot", "--bundle", bundle(["sh", "-c", "echo $$; ls /proc | grep -c '^[0-9]'"]), "np", check=True)
    assert p.stdout.split()[0] == "1" and int(p.stdout.split()[1]) <= 3


def test_no_pivot_detaches_the_hosts_proc_and_sys() -> None:
    """The step --no-pivot takes before MS_MOVE, in a private mount namespace of this test's own:
    afterwards no full proc or sysfs is left in it (outside the container's rootfs)."""
    import sys

    code = ("import os; from pyrkt.oci.rootfs import _hide_host_proc_and_sys as h; h('/nonexistent-rootfs'); "
            "print(os.path.exists('/proc/self'), os.path.exists('/sys/kernel'))")
    p = subprocess.run(["unshare", "-m", "--propagation", "private", sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert p.stdout.split() == ["False", "False"], p.stderr
    assert os.path.exists("/proc/self") and os.path.exists("/sys/kernel")  # the host's are untouched


def test_start_container_hooks_run_under_the_seccomp_filter(rt: Any, bundle: Bundle) -> None:
    seccomp = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}
    hook = {"path": "/bin/sh", "args": ["sh", "-c", "mkdir /dev/shm/by-hook 2>/dev/null; echo rc=$? > /dev/shm/hook-rc"]}
    b = bundle(["cat", "/dev/shm/hook-rc"], process={"noNewPrivileges": True}, linux={"seccomp": seccomp}, hooks={"startContainer": [hook]})
    p = rt("run", "--bundle", b, "hookseccomp", check=True)
    assert p.stdout.strip() == "rc=1"


def test_stdio_and_terminal_belong_to_a_non_root_user(rt: Any, bundle: Bundle, tmp_path: Path) -> None:
    """runc fchowns the process's stdio (pipes, files, its terminal) to its uid (the group is kept);
    /dev/null stays root's."""
    user = {"uid": 1000, "gid": 1000}
    script = "stat -L -c '%u:%g' /proc/self/fd/1 /proc/self/fd/2; stat -L -c '%u:%g' /proc/self/fd/0"
    p = rt("run", "--bundle", bundle(["sh", "-c", script], process={"user": user}), "stdio", check=True)
    assert p.stdout.split() == ["1000:0", "1000:0", "0:0"]  # stdin is /dev/null here
    # exec, with a terminal: the pty's slave is the user's
    import pty

    rt("run", "-d", "--bundle", bundle(["sleep", "30"]), "stdio2", check=True)
    pid, master = pty.fork()
    if pid == 0:
        os.execv(rt.binary, [rt.binary, "--root", rt.root, "exec", "-t", "-u", "1000:1000", "stdio2", "stat", "-L", "-c", "owner=%u", "/proc/self/fd/0"])
    out = b""
    while True:
        try:
            chunk = os.read(master, 1024)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.waitpid(pid, 0)
    os.close(master)
    assert b"owner=1000" in out, out


def test_syscalls_newer_than_the_profile_get_enosys() -> None:
    """A profile naming syscalls up to N: above N, ENOSYS (glibc's cue to fall back, as runc
    arranges); an older syscall the profile leaves out still gets the default errno. The filter
    pyrkt-runtime compiles is loaded in a child of this test and tried with raw syscalls."""
    import ctypes
    import errno as errnos

    from pyrkt.linux.seccomp import _libseccomp, compile_program

    lib = _libseccomp()
    resolve = lib.seccomp_syscall_resolve_num_arch
    resolve.restype = ctypes.c_void_p
    names = []
    for nr in range(0, 400):
        ptr = resolve(lib.seccomp_arch_native(), nr)
        if ptr:
            name = ctypes.string_at(ptr).decode()
            if name != "getppid":
                names.append(name)
    profile = {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": names, "action": "SCMP_ACT_ALLOW"}]}
    program = compile_program(profile)
    clone3 = 435  # x86_64 and arm64 alike
    pid = os.fork()
    if pid == 0:
        try:
            program.load()
            libc = ctypes.CDLL(None, use_errno=True)
            libc.syscall(clone3, None, 0)
            new = ctypes.get_errno()
            getppid = lib.seccomp_syscall_resolve_name(b"getppid")
            libc.syscall(getppid)
            old = ctypes.get_errno()
            os._exit(0 if (new, old) == (errnos.ENOSYS, errnos.EPERM) else 10 + new)
        except BaseException:
            os._exit(99)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, os.waitstatus_to_exitcode(status)


# -- the command line as shims and scripts parse it ---------------------------------------


def test_command_line_as_runc(rt: Any, bundle: Bundle, tmp_path: Path) -> None:
    rt("run", "-d", "--bundle", bundle(["sleep", "30"]), "cli", check=True)
    # compact JSON, as runc writes it (containerd and scripts match on the text)
    line = rt("events", "--stats", "cli", check=True).stdout
    assert line.startswith('{"type":"stats","id":"cli","data":{'), line
    assert rt("list", "--format", "json", check=True).stdout.startswith('[{"ociVersion":')
    # signal 0: is it alive
    assert rt("kill", "cli", "0").returncode == 0
    # exec's own failures exit 255; the process's status passes through
    assert rt("exec", "cli", "/nonexistent").returncode == 255
    assert rt("exec", "cli", "sh", "-c", "exit 3").returncode == 3
    assert rt("exec", "nope", "true").returncode == 255
    # a sub-cgroup may not climb out of the container's
    for spec in ("..", "pids:../..", "/../x"):
        p = rt("exec", "--cgroup", spec, "cli", "true")
        assert p.returncode == 255 and "is not a sub cgroup path" in p.stderr, (spec, p.stderr)
    rt("kill", "cli", "KILL", check=True)
    for _ in range(200):
        if rt.state("cli")["status"] == "stopped":
            break
        import time

        time.sleep(0.05)
    # ps of a stopped container: the header, exit 0
    p = rt("ps", "cli")
    assert p.returncode == 0 and p.stdout.split("\n")[0].split()[:2] == ["UID", "PID"] and len(p.stdout.strip().splitlines()) == 1
    assert rt("ps", "--format", "json", "cli", check=True).stdout.strip() == "[]"
    # -h on every verb
    for verb in ("create", "start", "state", "kill", "delete", "run", "list", "spec", "exec", "ps", "pause", "resume", "update", "events", "features"):
        p = rt(verb, "-h")
        assert p.returncode == 0 and "usage" in p.stdout.lower(), verb


def test_log_file_and_debug(rt: Any, bundle: Bundle, tmp_path: Path) -> None:
    """--log FILE exists after every command, failing or not (a shim opens it); --debug says what ran."""
    log = tmp_path / "runtime.log"
    rt("--log", str(log), "--log-format", "json", "run", "--bundle", bundle(["true"]), "lg", check=True)
    assert log.exists()
    log.unlink()
    rt("--log", str(log), "list", check=True)
    assert log.exists() and log.read_text() == ""
    rt("--log", str(log), "--log-format", "json", "--debug", "list", check=True)
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert [e["level"] for e in entries] == ["debug", "debug"] and "list" in entries[0]["msg"]
    p = rt("--debug", "list", check=True)
    assert "level=debug" in p.stderr


# -- behaviour ------------------------------------------------------------------------------


def test_create_container_hooks_run_in_the_rootfs(rt: Any, bundle: Bundle, tmp_path: Path) -> None:
    out = tmp_path / "hook-cwd"
    hook = {"path": "/bin/sh", "args": ["sh", "-c", f"pwd > {out}; ls > {out}.ls"]}
    b = bundle(["true"], hooks={"createContainer": [hook]})
    rt("run", "--bundle", b, "hookcwd", check=True)
    assert os.path.samefile(out.read_text().strip(), os.path.join(b, "rootfs"))
    assert "bin" in Path(f"{out}.ls").read_text().split()


def test_null_and_empty_optional_fields_as_runc(rt: Any, bundle: Bundle, tmp_path: Path) -> None:
    """From the audit: null hook lists are no hooks; an empty hostname leaves the uts
    namespace's inherited name (runc sets none)."""
    hooks = dict.fromkeys(("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"))
    p = rt("run", "--bundle", bundle(["hostname"], hooks=hooks, hostname=""), "nulls", check=True)
    assert p.stdout.strip() == os.uname().nodename
    # `spec` writes runc's default: no cgroup namespace
    rt("spec", "--bundle", str(tmp_path), check=True)
    namespaces = [ns["type"] for ns in json.loads((tmp_path / "config.json").read_text())["linux"]["namespaces"]]
    assert namespaces == ["pid", "network", "ipc", "uts", "mount"]


def _v1_dir(controller: str) -> Path | None:
    d = Path("/sys/fs/cgroup", controller)
    return d if d.is_dir() and not Path("/sys/fs/cgroup/cgroup.controllers").exists() else None


def test_a_frozen_cgroup_is_refused_at_once_and_a_busy_one_warned(rt: Any, bundle: Bundle) -> None:
    import uuid

    name = f"pyrkt-k8s-test-{uuid.uuid4().hex[:8]}"
    v1 = _v1_dir("freezer")
    frozen = (v1 / name) if v1 else Path("/sys/fs/cgroup", name)
    frozen.mkdir()
    try:
        (frozen / ("freezer.state" if v1 else "cgroup.freeze")).write_text("FROZEN" if v1 else "1")
        p = rt("run", "-d", "--bundle", bundle(["true"], linux={"cgroupsPath": f"/{name}"}), "frz", timeout=20)
        assert p.returncode != 0 and "unexpectedly frozen" in p.stderr, p.stderr
        assert os.listdir(rt.root) == [] and frozen.is_dir()  # not ours: left as it was
        leaked = [c for c in os.listdir("/sys/fs/cgroup") if c != "freezer" and Path("/sys/fs/cgroup", c, name).exists()]
        assert leaked == []  # refused before any cgroup was made
    finally:
        (frozen / ("freezer.state" if v1 else "cgroup.freeze")).write_text("THAWED" if v1 else "0")
        frozen.rmdir()
    # a cgroup with a process in it already: runs, with a warning
    busy_name = name + "-busy"
    pids = (_v1_dir("pids") or Path("/sys/fs/cgroup")) / busy_name
    pids.mkdir()
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        (pids / "cgroup.procs").write_text(str(sleeper.pid))
        p = rt("run", "--bundle", bundle(["true"], linux={"cgroupsPath": f"/{busy_name}"}), "busy")
        assert p.returncode == 0 and "is not empty" in p.stderr, p.stderr
    finally:
        sleeper.kill()
        sleeper.wait()
        for _ in range(100):
            try:
                if pids.exists():
                    pids.rmdir()
                break
            except OSError:
                import time

                time.sleep(0.05)


def test_a_read_only_dev(rt: Any, bundle: Bundle) -> None:
    """A tmpfs /dev with "ro": made read-only after /dev/pts, /dev/shm and the devices are in (runc)."""
    from pyrkt.oci.specgen import default_spec

    mounts = default_spec()["mounts"]
    assert isinstance(mounts, list)
    for m in mounts:
        if m["destination"] == "/dev":
            m["options"] = [*m["options"], "ro"]
    script = "grep ' /dev ' /proc/self/mounts | cut -d' ' -f4 | cut -d, -f1; ls /dev/null /dev/pts/ptmx >/dev/null && echo devices; touch /dev/x 2>&1 | grep -o Read-only"
    p = rt("run", "--bundle", bundle(["sh", "-c", script], mounts=mounts), "rodev", check=True)
    assert p.stdout.split() == ["ro", "devices", "Read-only"]


def test_rro_makes_a_bind_and_its_submounts_read_only(rt: Any, bundle: Bundle, tmp_path: Path) -> None:
    """`rro` (mount_setattr with AT_RECURSIVE): a plain `ro` leaves the submounts of an rbind writable."""
    from pyrkt.oci.specgen import default_spec

    host = tmp_path / "tree"
    (host / "sub").mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(host / "sub")], check=True)
    try:
        mounts = default_spec()["mounts"]
        assert isinstance(mounts, list)
        script = "touch /mnt/ro/sub/x 2>&1 | grep -o Read-only; touch /mnt/rro/sub/y 2>&1 | grep -o Read-only; touch /mnt/rro/z 2>&1 | grep -o Read-only"
        extra = [{"destination": "/mnt/ro", "type": "bind", "source": str(host), "options": ["rbind", "ro"]},
                 {"destination": "/mnt/rro", "type": "bind", "source": str(host), "options": ["rbind", "rro"]}]
        p = rt("run", "--bundle", bundle(["sh", "-c", script], mounts=mounts + extra), "rro", check=True)
        assert p.stdout.split() == ["Read-only", "Read-only"]  # /mnt/ro/sub/x was written; the rro tree refuses both
        assert (host / "sub" / "x").exists() and not (host / "sub" / "y").exists()
    finally:
        subprocess.run(["umount", "-l", str(host / "sub")], check=False)


def test_weight_device_falls_back_to_bfq(tmp_path: Path) -> None:
    """A kernel with BFQ only has blkio.bfq.weight_device and no blkio.weight_device (runc writes
    the former). This machine has neither, so the hierarchy is a directory of this test's own."""
    from pyrkt.linux.cgroups import CgroupManager

    (tmp_path / "blkio.bfq.weight_device").write_text("")
    mgr = CgroupManager("v1", {"blkio": str(tmp_path)})
    mgr.apply({"blockIO": {"weightDevice": [{"major": 8, "minor": 0, "weight": 300}]}})
    assert (tmp_path / "blkio.bfq.weight_device").read_text() == "8:0 300"
    assert not (tmp_path / "blkio.weight_device").exists()


def test_empty_cpuset_ancestors_are_filled(rt: Any, bundle: Bundle) -> None:
    """An ancestor cgroup the runtime did not create, with empty cpuset.cpus/mems (a fresh v1
    cpuset directory is so): runc fills it from its parent instead of failing with ENOSPC."""
    import uuid

    cpuset = _v1_dir("cpuset")
    if cpuset is None:
        pytest.skip("no v1 cpuset hierarchy")
    name = f"pyrkt-k8s-test-{uuid.uuid4().hex[:8]}"
    (cpuset / name).mkdir()
    try:
        assert (cpuset / name / "cpuset.cpus").read_text().strip() == ""
        rt("run", "--bundle", bundle(["true"], linux={"cgroupsPath": f"/{name}/c1"}), "cpus", check=True)
        assert (cpuset / name / "cpuset.cpus").read_text().strip() == (cpuset / "cpuset.cpus").read_text().strip()
    finally:
        for d in sorted((p for p in (cpuset / name).glob("**/") if p.is_dir()), key=lambda p: -len(str(p))):
            d.rmdir()
        for ctrl in os.listdir("/sys/fs/cgroup"):
            leftover = Path("/sys/fs/cgroup", ctrl, name)
            if leftover.is_dir():
                for d in sorted((p for p in leftover.glob("**/") if p.is_dir()), key=lambda p: -len(str(p))):
                    d.rmdir()


def test_bind_source_only_the_hosts_root_can_reach_under_a_user_namespace(rt: Any, bundle: Bundle, shared_rootfs: str, tmp_path: Path) -> None:
    """pytest's tmp dirs are 0700 root: the mapped root (host uid 300000) cannot walk to the
    source; create opens it before the user namespace, as runc does, and the bind works."""
    from pyrkt.oci.specgen import default_spec

    share = tmp_path / "share"
    share.mkdir()
    (share / "f").write_text("from host\n")
    os.chmod(share, 0o755)
    os.chmod(share / "f", 0o644)
    assert (os.stat(tmp_path).st_mode & 0o077) == 0
    ns = [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount", "user")]
    linux = {"namespaces": ns, "uidMappings": [{"containerID": 0, "hostID": 300000, "size": 65536}],
             "gidMappings": [{"containerID": 0, "hostID": 300000, "size": 65536}]}
    mounts = default_spec()["mounts"]
    assert isinstance(mounts, list)
    os.makedirs(os.path.join(shared_rootfs, "mnt", "k8s-share"), exist_ok=True)  # the mapped root cannot mkdir there
    mounts = mounts + [{"destination": "/mnt/k8s-share", "type": "bind", "source": str(share), "options": ["rbind", "ro"]}]
    p = rt("run", "--bundle", bundle(["cat", "/mnt/k8s-share/f"], rootfs=shared_rootfs, linux=linux, mounts=mounts), "usrc")
    assert (p.returncode, p.stdout) == (0, "from host\n"), p.stderr
