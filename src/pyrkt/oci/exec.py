"""`exec`: run one more process in a running (or created) container.

The new process joins everything the container's init has: every namespace
(through /proc/<init>/ns/*: user first, mount last), its cgroups (placed by
the parent before the process can run anything), the container's seccomp
filter, its rootfs (setns into the mount namespace, then chdir to the cwd),
its user, capabilities and no_new_privs.

The runtime enters the pid (and time) namespace itself -- setns on those only
affects children -- so the process it forks is already in the container's pid
namespace and is a direct child of the runtime: `exec` in the foreground waits
for it and returns its exit status; with `--detach` it is left to the caller
(conmon and containerd's shim are subreapers and adopt it).
"""

from __future__ import annotations

import os

# the C modules and fastjson: `json`, `signal` and `socket` cost ~10 ms of imports (re, enum,
# selectors), and every `rkt enter` of a worker pod comes through here (issue 14)
import _signal as signal  # type: ignore[import-not-found,unused-ignore]

from pyrkt import fastjson as json
from pyrkt.linux import syscalls as sc
from pyrkt.oci import lifecycle, sync
from pyrkt.oci.config import JOIN_ORDER, ConfigError, Process
from pyrkt.oci.errors import RuntimeFailure, describe
from pyrkt.oci.state import ContainerState, open_container

TYPE_CHECKING = False
if TYPE_CHECKING:
    import socket
    from typing import Any

    from pyrkt.linux.seccomp import BpfProgram

NS_FILES = {
    "user": "user", "ipc": "ipc", "uts": "uts", "network": "net", "pid": "pid",
    "cgroup": "cgroup", "time": "time", "mount": "mnt",
}
NS_FLAGS = {
    "user": sc.CLONE_NEWUSER, "ipc": sc.CLONE_NEWIPC, "uts": sc.CLONE_NEWUTS, "network": sc.CLONE_NEWNET,
    "pid": sc.CLONE_NEWPID, "cgroup": sc.CLONE_NEWCGROUP, "time": sc.CLONE_NEWTIME, "mount": sc.CLONE_NEWNS,
}


class ExecOptions:
    """What `exec` was asked for (runc's flags)."""

    def __init__(
        self,
        args: list[str] | None = None,
        process_file: str | None = None,
        detach: bool = False,
        pid_file: str | None = None,
        tty: bool = False,
        console_socket: str | None = None,
        cwd: str | None = None,
        env: list[str] | None = None,
        user: str | None = None,
        additional_gids: list[str] | None = None,
        caps: list[str] | None = None,
        no_new_privs: bool = False,
        preserve_fds: int = 0,
        apparmor: str | None = None,
        process_label: str | None = None,
        ignore_paused: bool = False,
        cgroup: list[str] | None = None,
    ) -> None:
        self.args = args or []
        self.process_file = process_file
        self.detach = detach
        self.pid_file = pid_file
        self.tty = tty
        self.console_socket = console_socket
        self.cwd = cwd
        self.env = env or []
        self.user = user
        self.additional_gids = additional_gids or []
        self.caps = caps or []
        self.no_new_privs = no_new_privs
        self.preserve_fds = preserve_fds
        self.apparmor = apparmor
        self.process_label = process_label
        self.ignore_paused = ignore_paused
        self.cgroup = cgroup or []


def parse_user(text: str) -> tuple[int, int | None]:
    """`UID[:GID]` as runc's exec --user takes it (numbers only)."""
    uid_s, colon, gid_s = text.partition(":")
    try:
        uid = int(uid_s)
        gid = int(gid_s) if colon else None
    except ValueError:
        raise RuntimeFailure(f"invalid --user {text!r}: use UID[:GID] with numeric ids") from None
    if uid < 0 or (gid is not None and gid < 0):
        raise RuntimeFailure(f"invalid --user {text!r}: ids must not be negative")
    return uid, gid


def build_process(state: ContainerState, opts: ExecOptions) -> Process:
    """The process to run: `--process FILE`, or the container's process with the flags applied."""
    raw: Any
    if opts.process_file:
        try:
            with open(str(opts.process_file), "rb") as f:
                raw = json.loads(f.read())
        except OSError as exc:
            raise RuntimeFailure(f"--process {opts.process_file}: {exc.strerror}") from None
        except ValueError as exc:
            raise RuntimeFailure(f"--process {opts.process_file}: malformed JSON: {exc}") from None
        if not isinstance(raw, dict):
            raise RuntimeFailure(f"--process {opts.process_file}: the document must be a JSON object")
        if raw.get("capabilities") is None:
            # runc: a process without capabilities gets the container's; absent there too, none at all
            base_proc: Any = state.config.get("process") or {}
            base_caps = base_proc.get("capabilities")
            raw["capabilities"] = json.loads(json.dumps(base_caps)) if isinstance(base_caps, dict) else {}
    else:
        if not opts.args:
            raise RuntimeFailure("exec: no command given: use exec <container-id> <command> [args...] or --process FILE")
        base = state.config.get("process") or {}
        raw = json.loads(json.dumps(base))  # a deep copy
        raw["args"] = list(opts.args)
        raw["terminal"] = bool(opts.tty)
        raw.pop("consoleSize", None)
    if opts.tty:
        raw["terminal"] = True
    if opts.env:
        raw["env"] = list(raw.get("env") or []) + list(opts.env)
    if opts.cwd:
        raw["cwd"] = opts.cwd
    user = dict(raw.get("user") or {})
    if opts.user:
        uid, gid = parse_user(str(opts.user))
        user["uid"] = uid
        if gid is not None:
            user["gid"] = gid
    if opts.additional_gids:
        try:
            user["additionalGids"] = [int(g) for g in opts.additional_gids]
        except ValueError:
            raise RuntimeFailure(f"invalid --additional-gids {opts.additional_gids!r}: use numeric group ids") from None
    raw["user"] = user
    if opts.caps:
        caps = dict(raw.get("capabilities") or {})
        # not inheritable: a --cap in the inheritable set would survive every later execve
        # (runc's CVE-2022-29162); ambient then needs it inheritable, so it is raised only if the config has it
        for key in ("bounding", "effective", "permitted", "ambient"):
            have = list(caps.get(key) or [])
            for c in opts.caps:
                name = str(c).upper()
                name = name if name.startswith("CAP_") else "CAP_" + name
                if name not in have:
                    have.append(name)
            caps[key] = have
        raw["capabilities"] = caps
    if opts.no_new_privs:
        raw["noNewPrivileges"] = True
    if opts.apparmor:
        raw["apparmorProfile"] = opts.apparmor
    if opts.process_label:
        raw["selinuxLabel"] = opts.process_label
    try:
        proc = Process(raw)
    except ConfigError as exc:
        raise RuntimeFailure(str(exc).replace("config.json: ", "exec: ")) from None
    if proc.capabilities is not None:
        from pyrkt.linux.capabilities import CapabilityError, CapabilitySets, last_cap

        try:
            CapabilitySets(proc.capabilities, last_cap())
        except CapabilityError as exc:
            raise RuntimeFailure(f"exec: process.capabilities: {exc}") from None
    from pyrkt.oci.security import SecurityError, check_process

    try:
        check_process(proc.apparmor_profile, proc.selinux_label)
    except SecurityError as exc:
        raise RuntimeFailure(str(exc)) from None
    return proc


def _lists_mount_ns(state: ContainerState) -> bool:
    linux: Any = state.config.get("linux") or {}
    return any(isinstance(ns, dict) and ns.get("type") == "mount" for ns in (linux.get("namespaces") or []))


_parent_joined_user = False  # rootless exec: _spawn joined the user namespace before forking


def _namespaces_to_join(state: ContainerState) -> list[tuple[str, int]]:
    """(type, fd) for every namespace of the init that differs from ours, in join order."""
    linux: Any = state.config.get("linux") or {}
    listed = {ns.get("type") for ns in (linux.get("namespaces") or []) if isinstance(ns, dict)}
    out = []
    for nstype in JOIN_ORDER:
        if nstype not in listed:
            continue
        name = NS_FILES[nstype]
        target = f"/proc/{state.pid}/ns/{name}"
        try:
            if os.readlink(target) == os.readlink(f"/proc/self/ns/{name}"):
                continue
            out.append((nstype, os.open(target, os.O_RDONLY | os.O_CLOEXEC)))
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise RuntimeFailure(f"opening {target}: {exc.strerror}") from None
    return out


def execute(root: str, container_id: str, opts: ExecOptions) -> int:
    sd, state, status = open_container(root, container_id, shared=True)
    try:
        if not (opts.ignore_paused and status == lifecycle.PAUSED):
            lifecycle.check("exec", status, container_id)
        assert state is not None
        proc = build_process(state, opts)
        if proc.terminal and opts.detach and not opts.console_socket:
            raise RuntimeFailure("cannot allocate tty if pyrkt-runtime will detach without setting console socket")
        if not proc.terminal and opts.console_socket:
            raise RuntimeFailure("cannot use console socket if pyrkt-runtime will not allocate tty")
        joins = _namespaces_to_join(state)
    finally:
        sd.close()
    return _spawn(state, proc, opts, joins)


def _spawn(state: ContainerState, proc: Process, opts: ExecOptions, joins: list[tuple[str, int]]) -> int:
    # every module the child needs, imported before it enters the container's mount namespace
    from pyrkt.linux import capabilities
    from pyrkt.oci import process as pr
    from pyrkt.oci import security

    if proc.terminal:
        from pyrkt.oci.console import setup_console  # noqa: F401
    linux: Any = state.config.get("linux") or {}
    seccomp_filter: BpfProgram | None = None
    if linux.get("seccomp"):
        from pyrkt.linux.seccomp import SeccompError
        from pyrkt.linux.seccomp_cache import cached_program

        # compiled here, once (or read from the cache create filled); the forked
        # child loads it with the bare system call
        try:
            seccomp_filter = cached_program(linux["seccomp"])
        except SeccompError as exc:
            raise RuntimeFailure(f"config.json: linux.seccomp: {exc}") from None
        if seccomp_filter.flags & sc.SECCOMP_FILTER_FLAG_NEW_LISTENER:
            from pyrkt.oci import seccomp_notify  # noqa: F401  (the child hands its listener over from inside the container)
    try:
        personality = security.personality_value(linux.get("personality"))
    except security.SecurityError as exc:
        raise RuntimeFailure(str(exc)) from None
    import resource  # noqa: F401  (set_rlimits)

    console_sock: socket.socket | None = None
    local_master_pair: tuple[socket.socket, socket.socket] | None = None
    if proc.terminal:
        import socket

        if opts.console_socket:
            console_sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                console_sock.connect(str(opts.console_socket))
            except OSError as exc:
                raise RuntimeFailure(f"connecting to console socket {opts.console_socket}: {exc.strerror}") from None
        else:
            local_master_pair = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            console_sock = local_master_pair[1]

    # pid and time namespaces: entered here, they apply to the child we fork
    child_joins = []
    global _parent_joined_user
    if any(nstype == "user" for nstype, _ in joins) and any(nstype in ("pid", "time") for nstype, _ in joins):
        from pyrkt.oci.rootless import is_rootless

        if is_rootless():
            # an unprivileged caller may join the pid namespace only from inside
            # the user namespace that owns it (runc's nsexec: user first)
            fd = next(fd for nstype, fd in joins if nstype == "user")
            try:
                sc.setns(fd, NS_FLAGS["user"])
            except OSError as exc:
                raise RuntimeFailure(f"joining the container's user namespace: {os.strerror(exc.errno or 0)}") from None
            os.close(fd)
            joins = [(t, f) for t, f in joins if t != "user"]
            _parent_joined_user = True
    for nstype, fd in joins:
        if nstype in ("pid", "time"):
            try:
                sc.setns(fd, NS_FLAGS[nstype])
            except OSError as exc:
                raise RuntimeFailure(f"joining the container's {nstype} namespace: {os.strerror(exc.errno or 0)}") from None
            os.close(fd)
        else:
            child_joins.append((nstype, fd))

    parent_sock, child_sock = sync.pair()
    preserve = int(opts.preserve_fds or 0)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            parent_sock.close()
            _child(state, proc, child_sock, child_joins, console_sock, seccomp_filter, personality, preserve, capabilities, pr, security)
        except BaseException as exc:
            try:
                sync.send(child_sock, "error", msg=describe(exc))
            except BaseException:
                pass
            code = 127 if "executable file not found" in describe(exc) else 1
        os._exit(code)

    child_sock.close()
    for _, fd in child_joins:
        os.close(fd)
    try:
        if state.cgroup_paths and not opts.cgroup:
            _join_cgroups(state.cgroup_paths, pid)
        elif state.cgroup_paths:
            from pyrkt.linux.cgroups import CgroupError, CgroupManager

            try:
                mgr = CgroupManager.from_paths(state.cgroup_paths)
                if opts.cgroup:
                    mgr = _sub_cgroup(mgr, state.cgroup_paths, list(opts.cgroup))
                mgr.add(pid)
            except CgroupError as exc:
                raise RuntimeFailure(f"joining the container's cgroup: {exc}") from None
        if proc.oom_score_adj is not None:
            try:
                pr.set_oom_score_adj(pid, proc.oom_score_adj)
            except pr.ProcessSetupError as exc:
                raise RuntimeFailure(str(exc)) from None
        sync.send(parent_sock, "go")
        master = -1
        if local_master_pair is not None:
            local_master_pair[1].close()
            from pyrkt.oci.console import receive_master

            try:
                master = receive_master(local_master_pair[0])
            except Exception:
                master = -1  # the child failed before the terminal: its error follows
            local_master_pair[0].close()
        elif console_sock is not None:
            console_sock.close()
        try:
            msg = sync.recv(parent_sock)
            if msg.get("type") == "seccomp":  # SCMP_ACT_NOTIFY: the listener goes to the agent now
                from pyrkt.oci import seccomp_notify

                seccomp_notify.parent_side(parent_sock, pid, msg, state.config, state.id, state.bundle, "running", state.pid, wait_next=False)
                msg = sync.recv(parent_sock)
        except (OSError, sync.SyncError):
            msg = {}  # closed on execve: the process is running
        if msg.get("type") == "error":
            _reap(pid)
            raise RuntimeFailure(f"exec failed: {msg.get('msg')}" if "executable file" not in str(msg.get("msg")) else str(msg.get("msg")))
        parent_sock.close()
    except BaseException:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        _reap(pid)
        raise
    if opts.pid_file:
        from pyrkt.oci.operations import _write_atomic

        _write_atomic(str(opts.pid_file), str(pid).encode())
    if opts.detach:
        return 0
    return _wait(pid, master)


def _join_cgroups(paths: dict[str, str], pid: int) -> None:
    """`CgroupManager.from_paths(paths).add(pid)` without importing the manager (~1 ms, on every
    `rkt enter` of a worker pod): the leaf's add_pid over each distinct directory."""
    from pyrkt.linux.cgroups.base import CgroupError, add_pid

    try:
        add_pid(list(dict.fromkeys(paths.values())), pid)
    except CgroupError as exc:
        raise RuntimeFailure(f"joining the container's cgroup: {exc}") from None


def _sub_cgroup(mgr, paths: dict[str, str], specs: list[str]):  # type: ignore[no-untyped-def]
    """`exec --cgroup [controller[,controller]:]path`: a sub-cgroup of the container's."""
    from pyrkt.linux.cgroups import CgroupManager

    dirs = dict(paths)
    for spec in specs:
        ctrls, colon, sub = spec.rpartition(":")
        if not colon:
            ctrls, sub = "", spec
        cleaned = os.path.normpath(sub.lstrip("/") or ".")
        if cleaned == ".." or cleaned.startswith("../"):
            raise RuntimeFailure(f"exec --cgroup {spec!r}: {sub} is not a sub cgroup path")
        sub = "" if cleaned == "." else cleaned
        keys = ctrls.split(",") if ctrls else list(dirs)
        for key in keys:
            if key not in paths:
                raise RuntimeFailure(f"exec --cgroup {spec!r}: the container has no {key!r} cgroup")
            target = os.path.join(paths[key], sub)
            if not os.path.isdir(target):
                raise RuntimeFailure(f"exec --cgroup {spec!r}: {target} does not exist")
            dirs[key] = target
    return CgroupManager.from_paths(dirs)


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def _child(state: ContainerState, proc: Process, sock: Any, joins: list[tuple[str, int]], console_sock: Any, seccomp_filter: BpfProgram | None,
           personality: int | None, preserve: int, capabilities: Any, pr: Any, security: Any) -> None:
    if not _parent_joined_user:
        # Until its execve this process is the runtime: the host's interpreter as /proc/PID/exe,
        # the host's environment, fds of the state dir. It is in the container's pid namespace
        # already, so a container process with the same uid and capabilities could ptrace it or
        # open /proc/PID/{exe,environ,fd} (the class of runc's CVE-2016-9962 / CVE-2019-5736).
        # Not dumpable, only CAP_SYS_PTRACE over the host's user namespace may; execve resets it.
        # (A rootless exec that joined the container's user namespace first keeps it: the
        # runtime is the user's own there, and its pidfd_getfd of a seccomp listener needs it.)
        sc.prctl(sc.PR_SET_DUMPABLE, 0)
    msg = sync.recv(sock)
    if msg.get("type") != "go":
        raise sync.SyncError("unexpected message")
    in_userns = _parent_joined_user
    if in_userns:
        os.setresgid(0, 0, 0)
        os.setresuid(0, 0, 0)
    for nstype, fd in joins:
        try:
            sc.setns(fd, NS_FLAGS[nstype])
        except OSError as exc:
            raise OSError(exc.errno, f"joining the container's {nstype} namespace: {os.strerror(exc.errno or 0)}") from None
        os.close(fd)
        if nstype == "user":
            in_userns = True
            os.setresgid(0, 0, 0)
            os.setresuid(0, 0, 0)
    if console_sock is not None:
        from pyrkt.oci.console import setup_console

        setup_console(console_sock, proc.console_size)
        console_sock.close()
    if not _lists_mount_ns(state):
        os.chroot(f"/proc/{state.pid}/root")  # a container in the host's mount namespace is chrooted: so is its exec
    pr.enter_process_context(proc)
    security.apply_personality(personality)
    security.apply_process(proc.apparmor_profile, proc.selinux_label)
    last = capabilities.last_cap()
    caps = capabilities.CapabilitySets(proc.capabilities, last)  # absent: the empty sets
    if seccomp_filter is not None and not proc.no_new_privileges:
        _load(seccomp_filter, sock)
        seccomp_filter = None
    pr.switch_user(proc, caps, last, in_userns)
    if proc.no_new_privileges:
        sc.prctl(sc.PR_SET_NO_NEW_PRIVS, 1)
    path = pr.lookup_executable(proc)
    pr.pass_fds(preserve)
    env = pr.env_map(proc.env)
    pr.restore_signals()
    if seccomp_filter is not None:
        _load(seccomp_filter, sock)
    try:
        os.execve(path, proc.args, env)
    except OSError as exc:
        raise pr.ProcessSetupError(pr.exec_failure(exc, proc.args[0])) from None


def _load(seccomp_filter: BpfProgram, sock: Any) -> None:
    """Load the container's filter; a listener (SCMP_ACT_NOTIFY) goes to the agent before we go on, as from runc's exec."""
    listener = seccomp_filter.load()
    if listener >= 0:
        from pyrkt.oci.seccomp_notify import hand_over

        hand_over(sock, listener)


FORWARDED = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGCONT", "SIGWINCH")


def _wait(pid: int, master: int) -> int:
    def forward(signum: int, _frame: object) -> None:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    for name in FORWARDED:
        if master >= 0 and name == "SIGWINCH":
            continue
        signal.signal(getattr(signal, name), forward)
    if master >= 0:
        from pyrkt.oci.tty_proxy import proxy

        proxy(master, pid)
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code
