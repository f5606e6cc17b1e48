"""The container's init: runs in the cloned child, from namespaces to execve.

Order (each step needs the previous one):
 0. arm the parent-death signal (see arm_parent_death)
 1. wait for `go` (the parent has written the id maps and placed us in cgroups)
 2. become root of a new user namespace; join namespaces given by path;
    unshare the remaining new ones (cgroup last, now that we are placed)
 3. new session keyring; rootfs (mounts, /dev) and pivot_root
 4. hostname, sysctl, masked and read-only paths, read-only root
 5. terminal (if asked), rlimits, cwd, user and capabilities, no_new_privs
 6. look up the executable; once create says state.json is written, clear
    the parent-death signal armed at step 0; report `ready`, block on the
    exec socket
 7. on `start`: seccomp, execve (a filter with a listener, SCMP_ACT_NOTIFY: in
    `create`, before `ready`, its fd handed to the agent: pyrkt.oci.seccomp_notify)
Any failure is sent to the parent as one line and the child exits.

Steps 2-6 do not depend on `go` when there is no user namespace (no id maps
to wait for), no hook (their messages share the channel) and no cgroup
namespace to join by path: then they run before it, and `go` is awaited just
before `ready` -- or, with a new cgroup namespace, after step 4, to unshare
it once placed (and while still privileged). The parent's first cgroup.procs
write waits for an RCU grace period (6-15 ms here): the init's set-up is done
in that time instead of after it. The cgroup mount binds the container's own
cgroup directories, which exist before the clone.
"""

from __future__ import annotations

import _socket
import os

from pyrkt.linux import syscalls as sc
from pyrkt.oci import sync
from pyrkt.oci.config import JOIN_ORDER, Config
from pyrkt.oci.errors import describe

TYPE_CHECKING = False
if TYPE_CHECKING:
    from _socket import socket  # socket.socket is a subclass

    from pyrkt.linux.cgroups import CgroupManager
    from pyrkt.linux.seccomp import BpfProgram


class InitContext:
    """What the parent hands to the child across clone()."""

    __slots__ = (
        "cfg", "bundle", "sync_sock", "exec_sock", "console_sock", "no_pivot", "no_new_keyring",
        "preserve_fds", "clone_flags", "container_id", "cgroups", "seccomp",
    )

    def __init__(
        self,
        cfg: Config,
        bundle: str,
        container_id: str,
        sync_sock: socket,
        exec_sock: socket,
        console_sock: socket | None,
        no_pivot: bool,
        no_new_keyring: bool,
        preserve_fds: int,
        clone_flags: int,
        cgroups: CgroupManager | None = None,
        seccomp: BpfProgram | None = None,
    ) -> None:
        self.cfg = cfg
        self.bundle = bundle
        self.container_id = container_id
        self.sync_sock = sync_sock
        self.exec_sock = exec_sock
        self.console_sock = console_sock
        self.no_pivot = no_pivot
        self.no_new_keyring = no_new_keyring
        self.preserve_fds = preserve_fds
        self.clone_flags = clone_flags
        self.cgroups = cgroups  # the container's, created before the clone
        # linux.seccomp, compiled by the parent (which had to, to validate it):
        # the init only loads it, with the bare system call
        self.seccomp = seccomp


def proc_needs_security(cfg: Config) -> bool:
    return bool(cfg.personality or cfg.process.apparmor_profile or cfg.process.selinux_label)


def parent_runs_hooks(cfg: Config) -> bool:
    """Whether the init asks the parent to run prestart/createRuntime hooks (hooks.init_side):
    the parent's `go` after them then also says state.json is written (see `_await_state`)."""
    return bool(cfg.hooks.get("prestart") or cfg.hooks.get("createRuntime"))


def arm_parent_death(sock: socket) -> None:
    """Die with `create` until it has written state.json (PR_SET_PDEATHSIG, SIGKILL).

    Before that record exists nothing can find this process: a `create`
    killed after `go` would otherwise leave it blocked on the exec socket for
    ever, an orphan. Armed at the init's first step and again after each
    credential change (setresuid, the process user, capabilities: the kernel
    clears the signal then). A parent already gone when it is armed gets no
    signal, so the channel is polled too: its other end is held by `create`
    alone, and hangs up when that dies.
    """
    sc.prctl(sc.PR_SET_PDEATHSIG, 9)
    import select  # built in

    poller = select.poll()
    poller.register(sock.fileno(), select.POLLHUP)
    if poller.poll(0):
        os._exit(1)


def _await_state(ctx: InitContext) -> None:
    """Wait until create has written state.json, then live on without it: clear the parent-death signal.

    After this the container has a record `delete` finds, and `create`
    returns and exits on purpose (podman, containerd, `run -d`): the
    container must outlive it. Without hooks the parent says `state` once the
    record is written; with prestart/createRuntime hooks their `go` came after
    it (see parent_runs_hooks).
    """
    if not parent_runs_hooks(ctx.cfg):
        msg = sync.recv(ctx.sync_sock)
        if msg.get("type") != "state":
            raise sync.SyncError(f"unexpected message {msg.get('type')!r}")
    sc.prctl(sc.PR_SET_PDEATHSIG, 0)


def run(ctx: InitContext) -> None:
    """Never returns."""
    code = 1
    try:
        arm_parent_death(ctx.sync_sock)
        pidns = ctx.cfg.ns("pid")
        if (pidns is None or pidns.path) and not ctx.clone_flags & sc.CLONE_NEWUSER and ctx.cfg.ns("user") is None:
            # until its execve (after `start`: maybe long) this process is the runtime -- the
            # host's interpreter as /proc/PID/exe, the caller's environment -- and a pid
            # namespace joined by path (a pod's, shareProcessNamespace) holds other containers'
            # processes: not dumpable, they cannot read or ptrace it (runc's CVE-2016-9962 /
            # CVE-2019-5736 class); execve resets it. In a new pid namespace the init is alone
            # (its startContainer hooks read /proc/1); with a new user namespace the parent
            # writes our id maps through /proc/PID, which needs us dumpable.
            sc.prctl(sc.PR_SET_DUMPABLE, 0)
        _init(ctx)
    except BaseException as exc:  # report everything: the child must never raise into the parent's code
        try:
            sync.send(ctx.sync_sock, "error", msg=describe(exc))
        except BaseException:
            try:
                os.write(2, f"pyrkt-runtime: container init: {describe(exc)}\n".encode())
            except BaseException:
                pass
    os._exit(code)


def _wait_go(ctx: InitContext) -> None:
    msg = sync.recv(ctx.sync_sock)
    if msg.get("type") != "go":
        raise sync.SyncError(f"unexpected message {msg.get('type')!r}")


def _before_go(ctx: InitContext) -> bool:
    """Whether namespaces, rootfs and pivot_root may be done before `go` (see the module's docstring)."""
    cfg = ctx.cfg
    if ctx.cgroups is None or cfg.hooks or cfg.ns("user") is not None or ctx.clone_flags & sc.CLONE_NEWUSER:
        return False
    if ctx.seccomp is not None and ctx.seccomp.flags & sc.SECCOMP_FILTER_FLAG_NEW_LISTENER:
        return False  # its hand-over shares the channel with `go`
    cgroupns = cfg.ns("cgroup")
    if cgroupns is not None and (cgroupns.path or ctx.cgroups.mode == "v2"):
        return False  # joined by path, or cgroup2 mounted fresh inside it: both after placement
    return True


def _init(ctx: InitContext) -> None:
    cfg = ctx.cfg
    # everything used after pivot_root is imported now: the source tree is not
    # visible from inside the container; and before `go`, while the parent
    # places us in cgroups (its first cgroup.procs write waits for an RCU grace period)
    from pyrkt.linux import capabilities
    from pyrkt.oci import process as pr
    from pyrkt.oci.rootfs import Rootfs

    if cfg.sysctl:
        from pyrkt.oci.sysctl import apply_sysctl
    if ctx.console_sock is not None:
        from pyrkt.oci.console import setup_console
    seccomp_filter = ctx.seccomp
    if cfg.seccomp and seccomp_filter is None:
        raise RuntimeError("linux.seccomp was not compiled before the clone")  # never run without the filter
    notify = seccomp_filter is not None and bool(seccomp_filter.flags & sc.SECCOMP_FILTER_FLAG_NEW_LISTENER)
    if notify:
        from pyrkt.oci.seccomp_notify import hand_over
    import resource  # noqa: F401  (used by set_rlimits)
    import _signal  # type: ignore[import-not-found,unused-ignore]  # noqa: F401  (used by restore_signals)

    sc.preload()  # libc's functions for mount & co, looked up before pivot_root

    early = _before_go(ctx)
    if not early:
        _wait_go(ctx)

    from pyrkt.oci.rootless import running_in_userns

    in_userns = cfg.ns("user") is not None or running_in_userns()  # rootless podman: its own user namespace
    if ctx.clone_flags & sc.CLONE_NEWUSER:
        os.setresgid(0, 0, 0)
        os.setresuid(0, 0, 0)
        arm_parent_death(ctx.sync_sock)  # a credential change cleared it

    # join namespaces by path; open them all first, before any of them changes our view
    joins: list[tuple[int, int, str]] = []
    for nstype in JOIN_ORDER:
        ns = cfg.ns(nstype)
        if ns is not None and ns.path and nstype != "pid":
            joins.append((os.open(ns.path, os.O_RDONLY | os.O_CLOEXEC), ns.flag, nstype))
    for fd, flag, nstype in joins:
        try:
            sc.setns(fd, flag)
        except OSError as exc:
            raise OSError(exc.errno, f"joining {nstype} namespace {cfg.ns_path(nstype)}: {os.strerror(exc.errno or 0)}") from None
        os.close(fd)
        if flag == sc.CLONE_NEWUSER:
            os.setresgid(0, 0, 0)
            os.setresuid(0, 0, 0)
            arm_parent_death(ctx.sync_sock)

    remaining = cfg.new_ns_flags() & ~(sc.CLONE_NEWUSER | sc.CLONE_NEWPID | sc.CLONE_NEWTIME)
    if early:
        remaining &= ~sc.CLONE_NEWCGROUP  # after `go`: its root is the cgroup we are placed in
    if remaining:
        sc.unshare(remaining)

    if not ctx.no_new_keyring:
        try:
            sc.keyctl_join_session_keyring(f"_ses.{ctx.container_id}")
        except OSError as exc:
            if exc.errno not in (38, 1, 13, 122):  # ENOSYS, EPERM, EACCES, EDQUOT: carry on as runc does
                raise


    rootfs = Rootfs(
        cfg,
        ctx.bundle,
        in_userns=in_userns,
        new_netns=bool(cfg.new_ns_flags() & sc.CLONE_NEWNET),
        new_cgroupns=bool(cfg.new_ns_flags() & sc.CLONE_NEWCGROUP),
        cgroups=ctx.cgroups,
    )
    rootfs.prepare()
    start_state = b""
    if cfg.hooks:
        from pyrkt.oci import hooks as oci_hooks

        start_state = oci_hooks.init_side(ctx.sync_sock, cfg.raw, cfg.hooks, ctx.container_id, ctx.bundle)
    needs_security = proc_needs_security(cfg)
    persona: int | None = None
    if needs_security:
        from pyrkt.oci import security

        persona = security.personality_value(cfg.personality)
    rootfs.pivot(ctx.no_pivot)

    if cfg.hostname and cfg.ns("uts") is not None:  # "": left as it is (runc)
        sc.sethostname(cfg.hostname)
    if cfg.domainname:
        sc.setdomainname(str(cfg.domainname))
    if cfg.sysctl:
        apply_sysctl(cfg)
    rootfs.finalize()

    new_cgroupns = bool(cfg.new_ns_flags() & sc.CLONE_NEWCGROUP)
    if early and new_cgroupns:
        # its root is the cgroup the parent places us in; unsharing needs CAP_SYS_ADMIN
        _wait_go(ctx)
        sc.unshare(sc.CLONE_NEWCGROUP)

    proc = cfg.process
    if ctx.console_sock is not None:
        setup_console(ctx.console_sock, proc.console_size)  # type: ignore[arg-type]
        ctx.console_sock.close()
    else:
        os.setsid()

    pr.enter_process_context(proc)

    last = capabilities.last_cap()
    caps = capabilities.CapabilitySets(proc.capabilities, last)  # absent: the empty sets
    if seccomp_filter is not None and not proc.no_new_privileges:
        # without no_new_privs, loading a filter needs CAP_SYS_ADMIN: load it while we have it
        listener = seccomp_filter.load()
        seccomp_filter = None
        if listener >= 0:
            hand_over(ctx.sync_sock, listener)
    if needs_security:
        from pyrkt.oci import security  # loaded above, before pivot_root

        security.apply_personality(persona)
        security.apply_process(proc.apparmor_profile, proc.selinux_label)
    pr.switch_user(proc, caps, last, in_userns)
    if proc.no_new_privileges:
        sc.prctl(sc.PR_SET_NO_NEW_PRIVS, 1)

    path = pr.lookup_executable(proc)
    pr.pass_fds(ctx.preserve_fds)
    pr.restore_signals()

    arm_parent_death(ctx.sync_sock)  # again: the user and capability switch cleared it
    if early and not new_cgroupns:
        _wait_go(ctx)  # nothing above needed our placement in the cgroups
    _await_state(ctx)  # first: create's `state` is queued before it reads our next message
    if notify and seccomp_filter is not None:
        # the agent gets the listener during create, as from runc (which loads every filter here)
        hand_over(ctx.sync_sock, seccomp_filter.load())
        seccomp_filter = None
    sync.send(ctx.sync_sock, "ready")
    ctx.sync_sock.close()

    # block until `start` connects; a closed listener (delete) ends us
    fd, _ = ctx.exec_sock._accept()  # type: ignore[attr-defined]  # what socket.accept() wraps
    conn = _socket.socket(fileno=fd)
    ctx.exec_sock.close()
    conn.recv(1)
    if seccomp_filter is not None:
        seccomp_filter.load()  # before startContainer: the hooks run in the container, filtered as it is (runc)
    if cfg.hooks.get("startContainer"):
        try:
            oci_hooks.run("startContainer", cfg.hooks, start_state)
        except oci_hooks.HookError as exc:
            conn.send(str(exc).encode())
            os._exit(1)
    try:
        os.execve(path, proc.args, pr.env_map(proc.env))
    except OSError as exc:
        message = pr.exec_failure(exc, proc.args[0])
        try:
            conn.send(message.encode())
        except OSError:
            pass
        os.write(2, f"pyrkt-runtime: {message}\n".encode())
        os._exit(127 if exc.errno == 2 else 126)
