"""The runtime's operations: create, start, run (and state, kill, delete, list
from `control`, re-exported here).

This is the library `pyrkt-runtime` is a command line for, and that `rkt`
calls in process. Each operation takes the state root and a container id,
locks the container's directory, derives its status, checks the lifecycle
table, and acts. Errors are raised as RuntimeFailure (one line).
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found,unused-ignore] # not signal: bench/README.md "Speed rules"
import _socket  # likewise: `socket` builds four enums and imports selectors (~5 ms)
import os
import sys

from pyrkt.oci.errors import RuntimeFailure, describe
from pyrkt.oci.procstat import proc_start_time
from pyrkt.oci.state import ContainerState, StateDir, StateError, open_container, rfc3339_now

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pyrkt.oci.config import Config
    from socket import socket
    from pyrkt.linux.cgroups import CgroupManager

DEFAULT_ROOT = "/run/pyrkt-runtime"

# state, kill, delete and list live in `control`: create and run do not load them
_MOVED = ("state", "parse_signal", "kill", "delete", "list_containers", "_container_pids", "_wait_gone")
if TYPE_CHECKING:  # the type checker sees them here
    from pyrkt.oci.control import _container_pids as _container_pids
    from pyrkt.oci.control import delete as delete
    from pyrkt.oci.control import kill as kill
    from pyrkt.oci.control import list_containers as list_containers
    from pyrkt.oci.control import parse_signal as parse_signal
    from pyrkt.oci.control import state as state


def __getattr__(name: str) -> object:
    """A name of `_MOVED`, from `control`, on first use."""
    if name in _MOVED:
        from pyrkt.oci import control

        return getattr(control, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class CreateOptions:
    __slots__ = ("bundle", "pid_file", "console_socket", "no_pivot", "no_new_keyring", "preserve_fds", "systemd_cgroup")

    def __init__(
        self,
        bundle: str = ".",
        pid_file: str | None = None,
        console_socket: str | None = None,
        no_pivot: bool = False,
        no_new_keyring: bool = False,
        preserve_fds: int = 0,
        systemd_cgroup: bool = False,
    ) -> None:
        self.systemd_cgroup = systemd_cgroup
        self.bundle = bundle
        self.pid_file = pid_file
        self.console_socket = console_socket
        self.no_pivot = no_pivot
        self.no_new_keyring = no_new_keyring
        self.preserve_fds = preserve_fds


def _write_atomic(path: str, data: bytes, mode: int = 0o644) -> None:
    """Write a whole file or nothing (the --pid-file a supervisor reads).

    Not fsynced: it names a process, which a crash of the machine kills too.
    """
    directory = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.rename(tmp, path)


def create(root: str, container_id: str, opts: CreateOptions, console: socket | None = None,
           config: Config | None = None) -> ContainerState:
    """Create a container: its init is left blocked before execve, waiting for start.

    `console` is an already-connected socket to send the terminal to (used by
    `run` in the foreground); otherwise `opts.console_socket` is connected.
    `config`: the bundle's config already parsed (rkt's stage1 builds it in
    memory), so config.json is not read back.
    """
    sd, state = _create(root, container_id, opts, console, config)
    sd.close()
    return state


def _create(root: str, container_id: str, opts: CreateOptions, console: socket | None,
            config: Config | None = None) -> tuple[StateDir, ContainerState]:
    """create, returning the container's directory still locked (run starts it under the same lock)."""
    # imported here: start, state, kill and delete need none of them (~2 ms)
    from pyrkt.linux import syscalls as sc
    from pyrkt.oci import sync
    from pyrkt.oci.config import ConfigError, load

    bundle = os.path.abspath(opts.bundle)
    try:
        cfg = config if config is not None else load(bundle)
    except ConfigError as exc:
        raise RuntimeFailure(str(exc)) from None
    StateDir(root, container_id)  # validates the id before anything is read or written
    proc = cfg.process
    if proc.terminal and opts.console_socket is None and console is None:
        raise RuntimeFailure("cannot allocate tty if pyrkt-runtime will detach without setting console socket")
    if not proc.terminal and (opts.console_socket is not None or console is not None):
        raise RuntimeFailure("cannot use console socket if pyrkt-runtime will not allocate tty")
    if cfg.sysctl:
        from pyrkt.oci.sysctl import SysctlError, check

        try:
            check(cfg)
        except SysctlError as exc:
            raise RuntimeFailure(str(exc)) from None
    if proc.capabilities is not None:
        from pyrkt.linux.capabilities import CapabilityError, CapabilitySets, last_cap

        try:
            CapabilitySets(proc.capabilities, last_cap())
        except CapabilityError as exc:
            raise RuntimeFailure(f"config.json: process.capabilities: {exc}") from None
    seccomp = None
    if cfg.seccomp:
        from pyrkt.linux.seccomp import SeccompError
        from pyrkt.linux.seccomp_cache import cached_program

        # compiled once, here: a bad profile fails before anything exists, and the
        # init (a clone) inherits the program and loads it without libseccomp; the
        # same profile again (podman's, containerd's, rkt's default) comes from the
        # host's cache of compiled programs, without libseccomp (~18 ms saved)
        try:
            seccomp = cached_program(cfg.seccomp)
        except SeccompError as exc:
            raise RuntimeFailure(f"config.json: linux.seccomp: {exc}") from None
    _check_extras(cfg)
    if opts.no_pivot and cfg.ns("mount") is None:
        raise RuntimeFailure("unable to use no-pivot without a private MNT namespace")

    sd = StateDir(root, container_id)
    try:
        sd.create()
    except StateError as exc:
        raise RuntimeFailure(str(exc)) from None
    pid = 0
    console_sock = console
    cgroups = None
    try:
        cgroups = _make_cgroups(cfg, root, container_id, opts.systemd_cgroup, intent=sd.path)
        listener = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        listener.bind(sd.exec_socket_address)
        listener.listen(1)
        parent_sock, child_sock = sync.pair()
        if console_sock is None and opts.console_socket is not None:
            new_sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
            console_sock = new_sock  # type: ignore[assignment]  # socket.socket's base class
            try:
                new_sock.connect(opts.console_socket)
            except OSError as exc:
                raise RuntimeFailure(f"connecting to console socket {opts.console_socket}: {exc.strerror}") from None

        pid_path = cfg.ns_path("pid")
        if pid_path:
            fd = os.open(pid_path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                sc.setns(fd, sc.CLONE_NEWPID)  # affects our children only
            except OSError as exc:
                raise RuntimeFailure(f"joining pid namespace {pid_path}: {os.strerror(exc.errno or 0)}") from None
            finally:
                os.close(fd)
        clone_flags = cfg.new_ns_flags() & (sc.CLONE_NEWUSER | sc.CLONE_NEWPID)
        if cfg.ns_path("user"):
            # the new pid namespace is then created after joining the user namespace
            clone_flags &= ~sc.CLONE_NEWUSER

        from pyrkt.oci import init

        ctx = init.InitContext(
            cfg, bundle, container_id, child_sock, listener, console_sock,
            opts.no_pivot, opts.no_new_keyring, opts.preserve_fds, clone_flags, cgroups, seccomp,
        )
        own_time = -1
        if cfg.ns("time") is not None:
            from pyrkt.oci.security import SecurityError, enter_time_namespace

            try:
                own_time = enter_time_namespace(cfg)
            except SecurityError as exc:
                raise RuntimeFailure(str(exc)) from None
        source_fds = _open_bind_sources(cfg, bundle) if clone_flags & sc.CLONE_NEWUSER else []
        warm = sys.modules.get("pyrkt.linux.cgroups.warm")
        if warm is not None:
            warm.wait()  # no second thread across the raw clone
        pid = _clone(clone_flags, cgroups)
        for fd in source_fds if pid else ():
            os.close(fd)  # the init has its copies
        if pid == 0:
            # the directory lock must stay with create alone: the init would otherwise
            # hold it (a shared open file description) until it execs
            os.close(sd.fd)
            parent_sock.close()
            init.run(ctx)  # never returns
        if own_time >= 0:
            from pyrkt.oci.security import leave_time_namespace

            leave_time_namespace(own_time)
        child_sock.close()
        listener.close()
        if console_sock is not None and console is None:
            console_sock.close()

        if clone_flags & sc.CLONE_NEWUSER:
            from pyrkt.oci.rootless import write_id_maps

            write_id_maps(pid, cfg)
        from pyrkt.linux.cgroups import CgroupError

        try:
            if not _born_placed:
                cgroups.add(pid)
        except CgroupError as exc:
            raise RuntimeFailure(str(exc)) from None
        if proc.oom_score_adj is not None:
            from pyrkt.oci.process import ProcessSetupError, set_oom_score_adj

            try:
                set_oom_score_adj(pid, proc.oom_score_adj)
            except ProcessSetupError as exc:
                raise RuntimeFailure(str(exc)) from None
        try:
            sync.send(parent_sock, "go")
        except OSError:
            pass  # the init failed early: its error report, if any, is still queued
        # the record is written while the init finishes its set-up; the directory's
        # lock keeps it from other commands until create returns, and a failed
        # create removes it
        info = proc_start_time(pid)
        state = ContainerState(
            id=container_id,
            pid=pid,
            bundle=bundle,
            rootfs=cfg.root_path,
            created=rfc3339_now(),
            starttime=info[1] if info else 0,
            annotations=cfg.annotations,
            config=cfg.raw,
            cgroup_paths=cgroups.paths(),
            owner_uid=os.getuid(),
        )
        sd.write(state)
        # `state`: the init may now outlive us (it clears its parent-death signal). An
        # init without no_new_privs hands its seccomp listener over before it reads
        # `state` (it loads the filter while it still has CAP_SYS_ADMIN): told after that
        def _tell_state() -> None:
            try:
                sync.send(parent_sock, "state")
            except OSError:
                pass  # as for `go`: the init failed, its error report, if any, is still queued

        tell_state = not init.parent_runs_hooks(cfg)
        if tell_state and not (seccomp is not None and seccomp.flags & sc.SECCOMP_FILTER_FLAG_NEW_LISTENER
                               and not cfg.process.no_new_privileges):
            _tell_state()
            tell_state = False
        try:
            msg = sync.recv(parent_sock)
        except (OSError, sync.SyncError):
            raise RuntimeFailure("container init exited before it was ready") from None
        if msg.get("type") == "hooks":
            from pyrkt.oci.hooks import parent_side

            msg = parent_side(cfg.raw, cfg.hooks, container_id, bundle, pid, parent_sock)
        if msg.get("type") == "seccomp":  # SCMP_ACT_NOTIFY: the listener goes to the agent now
            from pyrkt.oci import seccomp_notify

            msg = seccomp_notify.parent_side(parent_sock, pid, msg, cfg.raw, container_id, bundle, "creating", pid,
                                             wait_next=not tell_state)
            if tell_state:
                _tell_state()
                try:
                    msg = sync.recv(parent_sock)
                except (OSError, sync.SyncError):
                    raise RuntimeFailure("container init exited before it was ready") from None
        if msg.get("type") == "error":
            raise RuntimeFailure(f"unable to start container process: {msg.get('msg')}")
        if msg.get("type") != "ready":
            raise RuntimeFailure(f"unexpected message from container init: {msg!r}")
        parent_sock.close()

        if opts.pid_file:
            _write_atomic(opts.pid_file, str(pid).encode())
        return sd, state
    except BaseException:
        if pid > 0:
            _kill_and_reap(pid)
        if cgroups is not None:
            try:
                cgroups.destroy()
            except Exception:
                pass
        sd.remove()
        if pid > 0 and cfg.hooks.get("poststop"):
            # the spec's lifecycle: a failed create goes on with destroy, then the poststop hooks
            from pyrkt.oci import hooks as oci_hooks

            doc = oci_hooks.state_doc(cfg.raw, container_id, "stopped", 0, bundle)
            oci_hooks.run("poststop", cfg.hooks, doc, warn_only=True)
        raise


_born_placed = False  # the init was cloned into its cgroup (cgroup v2: clone3 with CLONE_INTO_CGROUP)


def _clone(flags: int, cgroups: "CgroupManager") -> int:
    """clone() the init; on a cgroup v2 host straight into its cgroup (no cgroup.procs
    write, no RCU grace period), falling back to a plain clone where clone3 or
    CLONE_INTO_CGROUP is refused (older kernels, a cgroup we may not enter)."""
    global _born_placed
    from pyrkt.linux import syscalls as sc

    if cgroups.mode == "v2" and len(cgroups.paths()) == 1:
        try:
            fd = os.open(cgroups.paths()[""], os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except (OSError, KeyError):
            fd = -1
        if fd >= 0:
            try:
                pid = sc.clone_into_cgroup(flags, fd)
                _born_placed = True
                return pid
            except OSError:
                pass
            finally:
                os.close(fd)  # in the parent and in the child: neither needs it after the clone
    _born_placed = False
    return sc.clone(flags)


def _check_extras(cfg: Config) -> None:
    """hooks and the kernel-dependent fields (AppArmor, SELinux, personality, ...): refused here, before anything exists."""
    if cfg.hooks:
        from pyrkt.oci.hooks import HookError, validate

        try:
            validate(cfg.hooks)
        except HookError as exc:
            raise RuntimeFailure(str(exc)) from None
    proc = cfg.process
    if proc.apparmor_profile or proc.selinux_label or cfg.mount_label or cfg.intel_rdt or cfg.personality or cfg.time_offsets or cfg.ns("time"):
        from pyrkt.oci.security import SecurityError, check

        try:
            check(cfg)
        except SecurityError as exc:
            raise RuntimeFailure(str(exc)) from None


def default_cgroups_path(root: str, container_id: str) -> str:
    """The cgroup of a container whose config names none: runc's default, the container's id.

    A relative path: it is joined to the runtime's own cgroup in each v1
    hierarchy, and to the parent of its own cgroup on cgroup v2 (what runc 1.1
    does, cgroups' for_path). `root` does not enter it: as with runc, two state
    roots with the same id share the cgroup (callers that mind name one).
    """
    return container_id


def _open_bind_sources(cfg: Config, bundle: str) -> list[int]:
    """O_PATH fds of the bind sources, opened by the host's root before the init enters its user
    namespace: a source only the host's root may reach is then still bound (runc passes such fds)."""
    fds = []
    for m in cfg.mounts:
        if (m.type == "bind" or any(o in ("bind", "rbind") for o in m.options)) and not m.uid_mappings:
            from pyrkt.oci import idmap

            source = m.source if m.source.startswith("/") else os.path.join(bundle, m.source)
            try:
                m.source_fd = idmap.clone_tree(source, "rbind" in m.options)
            except (OSError, idmap.IdmapError):
                continue  # the init binds by path, and reports a failure in its own words
            fds.append(m.source_fd)
    return fds


def _has_procs(paths: dict[str, str]) -> bool:
    """Whether the cgroup has processes already (one hierarchy read: this is create's path)."""
    d = paths.get("pids") or paths.get("") or next(iter(paths.values()), "")
    try:
        with open(os.path.join(d, "cgroup.procs"), "rb") as f:
            return bool(f.read(1))
    except OSError:
        return False


def _make_cgroups(cfg: Config, root: str, container_id: str, systemd: bool, intent: str | None = None) -> "CgroupManager":
    """Create the container's cgroups and apply linux.resources, before the init exists.

    The device rules are always set, as runc sets them: deny everything,
    then the config's rules, then runc's fixed default set. A config without
    `resources.devices` is no licence to open the host's disks, and an entry
    of linux.devices is only a node in /dev: it is not allowed here, so a
    device the config lists but denies stays denied.
    """
    from pyrkt.linux.cgroups import DEFAULT_DEVICE_RULES, CgroupError, CgroupManager

    resources = dict(cfg.resources or {})
    if not isinstance(resources.get("devices") or [], list):
        raise RuntimeFailure("config.json: linux.resources.devices must be of type array")
    from pyrkt.oci.device_rules import normalize  # `access` as runc reads it

    resources["devices"] = [{"allow": False, "access": "rwm"}, *normalize(resources.get("devices") or []), *DEFAULT_DEVICE_RULES]
    from pyrkt.oci.rootless import is_rootless

    try:
        path = cfg.cgroups_path or (None if systemd else default_cgroups_path(root, container_id))
        if is_rootless():  # runc's rules (pyrkt.linux.cgroups.rootless): devices are not applied
            from pyrkt.linux.cgroups.rootless import RootlessCgroupManager

            if not cfg.cgroups_path and path:  # relative: under the caller's own cgroup, where delegation puts it
                path = path.strip("/").replace("/", "-")
            mgr: CgroupManager = RootlessCgroupManager.for_path(path, container_id, systemd=systemd)
            mgr.explicit = bool(cfg.cgroups_path)  # type: ignore[attr-defined]
        else:
            mgr = CgroupManager.for_path(path, container_id, systemd=systemd)
        frozen = mgr.state() == "frozen"  # before create: a refusal leaves nothing behind
        if not frozen:
            if intent is not None:
                from pyrkt.oci.intent import record_cgroups

                record_cgroups(intent, mgr.paths())  # before mkdir: a kill now leaves what delete can find
            mgr.create()
        busy = not frozen and _has_procs(mgr.paths())
    except CgroupError as exc:
        raise RuntimeFailure(str(exc)) from None
    if frozen:
        # runc refuses at once; the init could never run (run -d would wait for ever).
        # Left as it is: a frozen cgroup is someone else's
        raise RuntimeFailure(f"container's cgroup unexpectedly frozen ({path or container_id}): thaw it first")
    if busy:
        import sys

        print(f"pyrkt-runtime: warning: the container's cgroup ({path or container_id}) is not empty: it already has processes", file=sys.stderr)
    try:
        for warning in mgr.apply(resources):
            import sys

            print(f"pyrkt-runtime: warning: {warning}", file=sys.stderr)
    except CgroupError as exc:
        try:
            mgr.destroy()
        except CgroupError:
            pass
        raise RuntimeFailure(str(exc)) from None
    return mgr


def _kill_and_reap(pid: int) -> None:
    try:
        os.kill(pid, _signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def _check(op: str, status: str, container_id: str, forced: bool = False) -> None:
    from pyrkt.oci import lifecycle  # here: create and run never need it

    lifecycle.check(op, status, container_id, forced)


def start(root: str, container_id: str) -> ContainerState:
    sd, state, status = open_container(root, container_id)
    try:
        _check("start", status, container_id)
        assert state is not None
        return _start(sd, state)
    finally:
        sd.close()


def _start(sd: StateDir, state: ContainerState) -> ContainerState:
    """Let a created container's init exec (its directory is locked by the caller)."""
    container_id = state.id
    conn = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        conn.connect(sd.exec_socket_address)
        conn.send(b"\0")
        reply = conn.recv(4096)  # EOF once execve has closed the init's end
    except OSError as exc:
        raise RuntimeFailure(f"cannot start container {container_id}: {describe(exc)}") from None
    finally:
        conn.close()
        try:
            os.unlink(sd.exec_socket)
        except FileNotFoundError:
            pass
    if reply:
        raise RuntimeFailure(f"unable to start container process: {reply.decode(errors='replace')}")
    hooks = state.config.get("hooks")
    if hooks and hooks.get("poststart"):  # type: ignore[attr-defined]
        from pyrkt.oci import hooks as oci_hooks

        doc = oci_hooks.state_doc(state.config, state.id, "running", state.pid, state.bundle)
        oci_hooks.run("poststart", hooks, doc, warn_only=True)  # type: ignore[arg-type]
    return state


# -- run: create + start, and in the foreground wait ------------------------

FORWARDED_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGCONT")


def run(root: str, container_id: str, opts: CreateOptions, detach: bool = False, keep: bool = False) -> int:
    """runc run: create and start; in the foreground wait and return the exit status."""
    cfg_terminal = False
    console_parent = console_child = None
    if not detach and opts.console_socket is None:
        from pyrkt.oci.config import ConfigError, load

        try:
            cfg_terminal = load(os.path.abspath(opts.bundle)).process.terminal
        except ConfigError as exc:
            raise RuntimeFailure(str(exc)) from None
        if cfg_terminal:
            import socket as socket_module

            console_parent, console_child = socket_module.socketpair(socket_module.AF_UNIX, socket_module.SOCK_STREAM)
    sd, state = _create(root, container_id, opts, console_child)
    try:  # started under create's lock: no second open, read and parse of the state
        master = -1
        if console_child is not None:
            console_child.close()
            from pyrkt.oci.console import receive_master

            assert console_parent is not None
            master = receive_master(console_parent)
            console_parent.close()
        try:
            _start(sd, state)
        except RuntimeFailure:
            sd.close()
            from pyrkt.oci.control import delete

            try:
                delete(root, container_id, force=True)
            except RuntimeFailure:
                pass
            raise
    finally:
        sd.close()
    if detach:
        return 0
    pid = state.pid

    def forward(signum: int, _frame: object) -> None:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    for name in FORWARDED_SIGNALS:
        _signal.signal(getattr(_signal, name), forward)
    if master >= 0:
        from pyrkt.oci.tty_proxy import proxy

        proxy(master, pid)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code < 0:
        code = 128 - code
    if not keep:
        from pyrkt.oci.control import delete

        try:
            delete(root, container_id, force=True)
        except RuntimeFailure:
            pass
    return code
