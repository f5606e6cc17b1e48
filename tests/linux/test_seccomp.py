"""linux.seccomp: filters loaded for real into forked children; bad profiles refused."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys

import pytest

from pyrkt.linux.seccomp import SeccompError, compile_filter, compile_program


def in_child(fn) -> int:
    """Run ``fn`` in a forked child; return the raw wait status.

    ``fn`` returns the child's exit code; any exception exits 99.
    """
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        code = 99
        try:
            if os.geteuid() != 0:
                # without CAP_SYS_ADMIN the kernel wants no_new_privs first
                import ctypes

                ctypes.CDLL(None).prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS
            code = fn()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return status


def errno_of(call) -> int:
    try:
        call()
    except OSError as e:
        return e.errno
    return 0


def run_filter(profile: dict, action) -> int:
    f = compile_filter(profile)

    def child() -> int:
        f.load()
        return action()

    status = in_child(child)
    assert os.WIFEXITED(status), f"child died by signal {os.WTERMSIG(status) if os.WIFSIGNALED(status) else status}"
    return os.WEXITSTATUS(status)


ALLOW = "SCMP_ACT_ALLOW"


def test_errno_custom_and_default(tmp_path):
    deny = {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}
    target = str(tmp_path / "d")
    assert run_filter({"defaultAction": ALLOW, "syscalls": [{**deny, "errnoRet": errno.ENOSPC}]}, lambda: errno_of(lambda: os.mkdir(target))) == errno.ENOSPC
    assert run_filter({"defaultAction": ALLOW, "syscalls": [deny]}, lambda: errno_of(lambda: os.mkdir(target))) == errno.EPERM
    assert not os.path.exists(target)
    # the parent (no filter) is unaffected
    os.mkdir(target)


def test_argument_conditions():
    # lseek(fd, offset, whence): the rules look at the offset (index 1)
    rule = {"names": ["lseek"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EACCES}
    eq = {**rule, "args": [{"index": 1, "value": 0o077, "op": "SCMP_CMP_EQ"}]}
    fd = os.open("/dev/null", os.O_RDONLY)

    def seek(off: int) -> int:
        return errno_of(lambda: os.lseek(fd, off, os.SEEK_SET))

    def probe() -> int:
        return (seek(0o022) == 0) + 2 * (seek(0o077) == errno.EACCES)

    try:
        assert run_filter({"defaultAction": ALLOW, "syscalls": [eq]}, probe) == 3
        # masked: (offset & 0o070) == 0o070 denies 0o077 but not 0o022
        masked = {**rule, "args": [{"index": 1, "value": 0o070, "valueTwo": 0o070, "op": "SCMP_CMP_MASKED_EQ"}]}
        assert run_filter({"defaultAction": ALLOW, "syscalls": [masked]}, probe) == 3
        gt = {**rule, "args": [{"index": 1, "value": 0o050, "op": "SCMP_CMP_GT"}]}
        assert run_filter({"defaultAction": ALLOW, "syscalls": [gt]}, probe) == 3
        # two conditions on the same index are OR-ed (runc): both values denied
        two = {**rule, "args": [{"index": 1, "value": 0o077, "op": "SCMP_CMP_EQ"}, {"index": 1, "value": 0o022, "op": "SCMP_CMP_EQ"}]}

        def probe2() -> int:
            return (seek(0o022) == errno.EACCES) + 2 * (seek(0o077) == errno.EACCES) + 4 * (seek(0o002) == 0)

        assert run_filter({"defaultAction": ALLOW, "syscalls": [two]}, probe2) == 7
    finally:
        os.close(fd)
    # conditions on different indexes are AND-ed: kill(pid, 0) with pid == getpid() AND sig == 0
    me = {"names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EDOM}

    def probe3() -> int:
        # the rule is built in the child, so it can name the child's own pid
        f = compile_filter({"defaultAction": ALLOW, "syscalls": [{**me, "args": [
            {"index": 0, "value": os.getpid(), "op": "SCMP_CMP_EQ"},
            {"index": 1, "value": 0, "op": "SCMP_CMP_EQ"}]}]})
        f.load()
        a = errno_of(lambda: os.kill(os.getpid(), 0)) == errno.EDOM
        b = errno_of(lambda: os.kill(os.getppid(), 0)) == 0
        return a + 2 * b

    status = in_child(probe3)
    assert os.WEXITSTATUS(status) == 3


def test_default_errno_with_allow_list(tmp_path):
    allowed = ["exit_group", "exit", "getpid", "brk", "mmap", "munmap", "mremap", "rt_sigprocmask", "rt_sigaction",
               "rt_sigreturn", "futex", "write", "madvise", "gettid", "close"]
    profile = {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": errno.EXDEV,
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [{"names": allowed, "action": ALLOW}],
    }
    me = os.getpid()

    def probe() -> int:
        ok_pid = os.getpid() != me and os.getpid() > 0
        denied = errno_of(lambda: os.mkdir(str(tmp_path / "x")))
        return 100 + denied if ok_pid else 1

    assert run_filter(profile, probe) == 100 + errno.EXDEV
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("action", ["SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP"])
def test_kill_and_trap_deliver_sigsys(action):
    f = compile_filter({"defaultAction": ALLOW, "syscalls": [{"names": ["getppid"], "action": action}]})

    def child() -> int:
        f.load()
        os.getppid()
        return 0

    status = in_child(child)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGSYS


def test_log_action_and_flags_load():
    profile = {
        "defaultAction": ALLOW,
        "flags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
        "syscalls": [
            {"names": ["getppid"], "action": "SCMP_ACT_LOG"},
            {"names": ["getpid"], "action": ALLOW},  # same as default: skipped, as runc does
            {"names": ["ptrace"], "action": "SCMP_ACT_TRACE", "errnoRet": errno.ENOSYS},
        ],
    }
    assert run_filter(profile, lambda: 7 if os.getppid() > 0 else 1) == 7


def test_unknown_syscalls_are_skipped():
    f = compile_filter({"defaultAction": ALLOW, "syscalls": [{"names": ["no_such_syscall_x", "getppid"], "action": "SCMP_ACT_ERRNO"}]})
    assert f.skipped == ["no_such_syscall_x"]
    assert len(f.export_bpf()) % 8 == 0 and f.export_bpf()


def test_exported_program_loads_with_the_bare_syscall(tmp_path):
    """A filter from compile_filter, exported, loaded in a child by
    syscalls.seccomp_set_mode_filter (no libseccomp call): denied syscalls
    fail with the profile's errno, others work, the parent is unaffected."""
    from pyrkt.linux import syscalls as sc

    profile = {"defaultAction": ALLOW, "syscalls": [
        {"names": ["getppid", "uname"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.ENOSYS},
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"},
    ]}
    code = compile_filter(profile).export_bpf()
    target = str(tmp_path / "d")

    def child() -> int:
        sc.seccomp_set_mode_filter(code, 0)
        ok = os.getppid() == -errno.ENOSYS  # getppid(2) cannot fail: libc hands back -errno
        ok = ok and errno_of(os.uname) == errno.ENOSYS
        ok = ok and errno_of(lambda: os.mkdir(target)) == errno.EPERM
        ok = ok and os.getpid() > 0 and errno_of(lambda: os.stat("/")) == 0
        return 0 if ok else 1

    status = in_child(child)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    assert os.getppid() > 0 and not os.path.exists(target)
    with pytest.raises(OSError, match=r"seccomp\(SECCOMP_SET_MODE_FILTER\)") as exc:
        sc.seccomp_set_mode_filter(code[:-1])  # not whole instructions: refused before the kernel
    assert exc.value.errno == errno.EINVAL


def test_compile_program_carries_the_kernel_flags():
    """OCI flags become seccomp(2)'s filter flags (TSYNC 1, LOG 2, SPEC_ALLOW 4),
    and the program loads with them; the kernel's errno is reported."""
    from pyrkt.linux.seccomp import compile_program

    assert compile_program({"defaultAction": ALLOW}).flags == 0
    flagged = compile_program({"defaultAction": ALLOW, "flags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG",
                                                                  "SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
                               "syscalls": [{"names": ["uname"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EXDEV}]})
    assert flagged.flags == 7 and len(flagged.code) % 8 == 0

    def child() -> int:
        flagged.load()
        return 0 if errno_of(os.uname) == errno.EXDEV else 1

    status = in_child(child)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0

    from pyrkt.linux.seccomp import BpfProgram

    bogus = BpfProgram(flagged.code, 1 << 30)  # a flag no kernel knows

    def child2() -> int:
        try:
            bogus.load()
        except SeccompError as e:
            return 0 if "seccomp(SECCOMP_SET_MODE_FILTER): Invalid argument" in str(e) else 2
        return 1

    status = in_child(child2)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (drops to nobody)")
def test_program_load_without_privilege_needs_no_new_privs():
    """Like SeccompFilter.load: the bare loader never sets no_new_privs, and
    without it (and without CAP_SYS_ADMIN) says what is missing."""
    import ctypes

    from pyrkt.linux.seccomp import compile_program

    prog = compile_program({"defaultAction": ALLOW, "syscalls": [{"names": ["uname"], "action": "SCMP_ACT_ERRNO"}]})

    def child() -> int:
        libc = ctypes.CDLL(None, use_errno=True)
        os.setresuid(65534, 65534, 65534)
        try:
            prog.load()
        except SeccompError as e:
            if "Permission denied" not in str(e) or "no_new_privs" not in str(e):
                return 3
        else:
            return 2
        if libc.prctl(39, 0, 0, 0, 0) != 0:  # PR_GET_NO_NEW_PRIVS
            return 4
        libc.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS
        prog.load()
        return 0 if errno_of(os.uname) == errno.EPERM else 5

    status = in_child(child)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


@pytest.mark.parametrize(
    "profile,msg",
    [
        ({}, "defaultAction is required"),
        ({"defaultAction": "SCMP_ACT_NOPE"}, "not a seccomp action"),
        ({"defaultAction": "SCMP_ACT_NOTIFY", "listenerPath": "/run/x.sock"}, "SCMP_ACT_NOTIFY cannot be used as default action"),
        ({"defaultAction": ALLOW, "listenerPath": 5}, "listenerPath must be a string"),
        ({"defaultAction": ALLOW, "listenerPath": "/run/x.sock", "listenerMetadata": ["x"]}, "listenerMetadata must be a string"),
        ({"defaultAction": ALLOW, "defaultErrnoRet": 1}, "does not take an errno"),
        ({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": -1}, "defaultAction errnoRet"),
        ({"defaultAction": ALLOW, "architectures": ["SCMP_ARCH_Z80"]}, "unknown architecture 'SCMP_ARCH_Z80'"),
        ({"defaultAction": ALLOW, "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]}, "WAIT_KILLABLE_RECV is not supported"),
        ({"defaultAction": ALLOW, "flags": ["BOGUS"]}, "unknown flag 'BOGUS'"),
        ({"defaultAction": ALLOW, "syscalls": [{"names": [], "action": "SCMP_ACT_ERRNO"}]}, r"syscalls\[0\].names"),
        ({"defaultAction": ALLOW, "syscalls": [{"names": ["read"]}]}, r"syscalls\[0\].action is required"),
        ({"defaultAction": ALLOW, "syscalls": [{"names": ["read"], "action": "SCMP_ACT_NOTIFY"}]}, "listenerPath is not set"),
        ({"defaultAction": ALLOW, "listenerPath": "", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_NOTIFY"}]}, "listenerPath is not set"),
        ({"defaultAction": ALLOW, "listenerPath": "/x", "syscalls": [{"names": ["mkdir", "write"], "action": "SCMP_ACT_NOTIFY"}]},
         "SCMP_ACT_NOTIFY cannot be used for the write syscall"),
        ({"defaultAction": ALLOW, "listenerPath": "/x", "flags": ["SECCOMP_FILTER_FLAG_TSYNC"], "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]},
         "TSYNC cannot be used with SCMP_ACT_NOTIFY"),
        ({"defaultAction": ALLOW, "syscalls": [{"names": ["read"], "action": "SCMP_ACT_KILL", "errnoRet": 1}]}, "does not take an errno"),
        ({"defaultAction": ALLOW, "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}, r"args\[0\].index"),
        ({"defaultAction": ALLOW, "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_LIKE"}]}]}, r"args\[0\].op 'SCMP_CMP_LIKE'"),
        ({"defaultAction": ALLOW, "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": -1, "op": "SCMP_CMP_EQ"}]}]}, r"args\[0\].value"),
        ({"defaultAction": ALLOW, "bogus": 1}, "unknown field"),
        ({"defaultAction": ALLOW, "syscalls": [
            {"names": ["lseek"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 1, "value": 5, "op": "SCMP_CMP_EQ"}]},
            {"names": ["lseek"], "action": "SCMP_ACT_KILL", "args": [{"index": 1, "value": 5, "op": "SCMP_CMP_EQ"}]}]},
         r"syscalls\[1\]: adding rule for lseek failed: File exists"),
        ("nope", "must be an object"),
    ],
)
def test_invalid_profiles(profile, msg):
    with pytest.raises(SeccompError, match=msg):
        compile_filter(profile)


def test_import_is_lazy():
    """Importing the module neither imports ctypes nor maps libseccomp."""
    code = (
        "import sys\n"
        "before = set(sys.modules)\n"
        "import pyrkt.linux.seccomp, pyrkt.linux.cgroups\n"
        "new = set(sys.modules) - before\n"
        "bad = {m for m in new if not m.startswith('pyrkt') and m not in ('errno', '__future__')}\n"
        "maps = open('/proc/self/maps').read()\n"
        "print('ok' if not bad and 'libseccomp' not in maps else f'bad {bad}')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "ok"


def test_podman_default_profile_runs_a_program():
    """containers-common's default profile (as podman would hand it over for a
    container with default capabilities) compiles, loads, and still lets
    /bin/true exec and exit 0."""
    import json
    import platform

    path = "/usr/share/containers/seccomp.json"
    from toolcheck import need_file

    need_file(path)
    with open(path) as f:
        src = json.load(f)
    native = {"x86_64": "SCMP_ARCH_X86_64", "aarch64": "SCMP_ARCH_AARCH64"}.get(platform.machine())
    goarch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine())
    arches = next((a["subArchitectures"] + [a["architecture"]] for a in src.get("archMap") or [] if a["architecture"] == native), [])
    rules = []
    for r in src["syscalls"]:
        inc, exc = r.get("includes") or {}, r.get("excludes") or {}
        # a container without extra capabilities, on this architecture
        if inc.get("caps") or (inc.get("arches") and goarch not in inc["arches"]) or goarch in (exc.get("arches") or []):
            continue
        rule = {"names": r["names"], "action": r["action"]}
        if r.get("args"):
            rule["args"] = r["args"]
        if r.get("errnoRet") is not None:
            rule["errnoRet"] = r["errnoRet"]
        rules.append(rule)
    profile = {"defaultAction": src["defaultAction"], "architectures": arches, "syscalls": rules}
    if src.get("defaultErrnoRet") is not None:
        profile["defaultErrnoRet"] = src["defaultErrnoRet"]
    f = compile_filter(profile)

    def child() -> int:
        f.load()
        os.execv("/bin/true", ["true"])
        return 98

    status = in_child(child)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (drops to nobody)")
def test_load_without_privilege_needs_no_new_privs():
    """The filter never sets no_new_privs itself (the runtime decides, as runc
    does); without CAP_SYS_ADMIN and without it, loading fails clearly."""
    import ctypes

    f = compile_filter({"defaultAction": ALLOW, "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO"}]})

    def child() -> int:
        libc = ctypes.CDLL(None, use_errno=True)
        PR_GET_NO_NEW_PRIVS, PR_SET_NO_NEW_PRIVS = 39, 38
        os.setresuid(65534, 65534, 65534)  # drops every capability
        try:
            f.load()
        except SeccompError as e:
            if "no_new_privs" not in str(e):
                return 3
        else:
            return 2
        if libc.prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 0:
            return 4  # libseccomp must not have set it
        libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
        f.load()
        return 0 if errno_of(lambda: os.getppid()) == 0 and libc.getppid() == -1 else 5

    status = in_child(child)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def test_features():
    from pyrkt.linux.seccomp import features

    f = features()
    assert f["enabled"] is True
    assert {"SCMP_ACT_ERRNO", "SCMP_ACT_NOTIFY"} <= set(f["actions"])  # as runc's features lists them
    assert "SCMP_CMP_MASKED_EQ" in f["operators"]
    assert {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_AARCH64"} <= set(f["archs"])
    assert set(f["supportedFlags"]) <= set(f["knownFlags"])
    assert "SECCOMP_FILTER_FLAG_TSYNC" in f["supportedFlags"]


def test_a_notify_rule_asks_for_a_listener():
    """SCMP_ACT_NOTIFY compiles to SECCOMP_RET_USER_NOTIF, loaded with NEW_LISTENER (8); a listenerPath alone adds nothing."""
    from pyrkt.linux.seccomp import NEW_LISTENER

    notify = compile_program({"defaultAction": ALLOW, "listenerPath": "/run/agent.sock", "listenerMetadata": "m",
                              "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]})
    assert notify.flags == NEW_LISTENER == 8
    ret_user_notif = (0x7FC00000).to_bytes(4, "little")
    assert any(notify.code[i + 4:i + 8] == ret_user_notif for i in range(0, len(notify.code), 8))
    assert compile_program({"defaultAction": ALLOW, "listenerPath": "/run/agent.sock", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}).flags == 0


def test_a_notify_filter_gives_its_loader_the_listener():
    """Loaded for real in a child: load() returns the fd (close-on-exec), and a notified
    syscall of a grandchild waits for, and returns, the answer given through it."""
    import fcntl
    import select
    import struct

    prog = compile_program({"defaultAction": ALLOW, "listenerPath": "/x", "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"}]})

    def child() -> int:
        import ctypes

        ctypes.CDLL(None).prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS
        fd = prog.load()
        if fd < 0 or not fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC:
            return 3
        if os.fork() == 0:
            os._exit(0 if os.getppid() == 4242 else 4)  # getppid(2) returns what the listener answers
        if not select.select([fd], [], [], 10)[0]:
            return 5
        buf = bytearray(80)
        fcntl.ioctl(fd, 0xC0502100, buf)  # SECCOMP_IOCTL_NOTIF_RECV: struct seccomp_notif
        notif_id = struct.unpack_from("=Q", buf)[0]
        fcntl.ioctl(fd, 0xC0182101, bytearray(struct.pack("=QqiI", notif_id, 4242, 0, 0)))  # NOTIF_SEND: id, val, error, flags
        _, status = os.wait()
        return os.waitstatus_to_exitcode(status)

    status = in_child(child)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
