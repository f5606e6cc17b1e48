"""Stage1: run a prepared pod as a pod init plus one OCI container per app.

The pod init is a small process cloned into new pid, uts, ipc (unless
--ipc=parent) and net (unless --net=host) namespaces: it is pid 1 of the pod,
sets the hostname, brings up loopback, reaps orphans, and on SIGTERM stops
every app (SIGTERM, then SIGKILL after a grace period). Each app is an OCI
container created with `pyrkt.oci.operations` in this process, joining the
pod init's namespaces by path with its own mount namespace and rootfs (an
overlay of the image's layers plus a per-app upper dir). The containers' inits
are children of this process, so it waits for them and writes each exit code.
"""

from __future__ import annotations

import os
import sys
import time

from pyrkt.linux import syscalls as sc
from pyrkt import fastjson  # json.dumps' output through _json alone: `import json` pulls in re (~6 ms)

TYPE_CHECKING = False  # typing costs ~4 ms at import, on every `rkt run`; annotations are strings
if TYPE_CHECKING:
    import signal
    from typing import Any

    from io import BufferedWriter
    from socket import socket

    from pyrkt.oci.config import Config
    from pyrkt.pod.plan import AppPlan, PodPlan
    from pyrkt.pod.store import Pod
    from pyrkt.pod.userns import UserRange
else:
    # the C module: `signal` builds its enums at import (with enum, functools and
    # collections: ~3 ms of every rkt run); handlers come back as ints, not enums
    import _signal as signal

STOP_GRACE = 10.0
OCI_ROOT = "/run/pyrkt-pods"


def oci_root(pod_dir: str) -> str:
    """The OCI state root of a pod's apps: short (unix socket paths live there), outside the pod dir."""
    return os.path.join(OCI_ROOT, os.path.basename(pod_dir.rstrip("/")))


class Stage1Error(Exception):
    """One-line error running a pod."""


def _boot_id() -> str:
    with open("/proc/sys/kernel/random/boot_id") as f:
        return f.read().strip()


def _overlay(app_dir: str, lowerdirs: tuple[str, ...] | list[str]) -> str:
    """Mount an app's rootfs: the image's layers under a per-app upper dir, `volatile`.

    Why volatile: unmounting a normal overlay syncs the whole upper filesystem
    (10-40 ms at every pod exit here); a volatile one skips that, and the fsyncs
    of the app's rootfs writes. Nothing relies on them: a pod never runs again,
    data that must survive is in volumes (separate mounts, unaffected), and the
    only later reader of an app's upper dir is `rkt export`, which refuses it
    when the machine restarted since the app ran (the boot id recorded here
    differs), since then the dir may have lost writes. The kernel marks a
    volatile work dir (work/work/incompat/volatile) and refuses to mount it
    again until the marker is removed, which is done only after that check.
    Kernels before 5.10 have no `volatile`: plain mount there.
    """
    rootfs = os.path.join(app_dir, "rootfs")
    upper = os.path.join(app_dir, "upper")
    work = os.path.join(app_dir, "work")
    for d in (rootfs, upper, work):
        os.makedirs(d, exist_ok=True)
    if os.path.ismount(rootfs):
        return rootfs
    boot_file = os.path.join(app_dir, "boot_id")
    incompat = os.path.join(work, "work", "incompat")
    if os.path.lexists(os.path.join(incompat, "volatile")):
        try:
            with open(boot_file) as f:
                ran_in = f.read().strip()
        except OSError:
            ran_in = ""
        if ran_in != _boot_id():
            raise Stage1Error(f"the rootfs of app {os.path.basename(app_dir)} may have lost writes: "
                              "the machine restarted since it ran (volatile overlay)")
        import shutil

        shutil.rmtree(incompat)  # incompat/volatile/dirty, as the kernel left it
    else:
        with open(boot_file, "w") as f:  # no fsync: a lost file only makes a later export refuse
            f.write(_boot_id())
    from pyrkt.linux.mounts import Overlay

    try:
        Overlay(rootfs, lowerdirs, upper, work, volatile=True).apply()  # plain before Linux 5.10
    except OSError as exc:
        raise Stage1Error(f"mounting the overlay rootfs of {os.path.basename(app_dir)}: {os.strerror(exc.errno or 0)} (try --no-overlay)") from None
    return rootfs


def mount_overlay(pod_dir: str, name: str, lowerdirs: tuple[str, ...] | list[str]) -> str:
    return _overlay(os.path.join(pod_dir, "apps", name), lowerdirs)


def unmount_rootfs(pod_dir: str, app_name: str) -> None:
    rootfs = os.path.join(pod_dir, "apps", app_name, "rootfs")
    for _ in range(5):
        if not os.path.ismount(rootfs):
            return
        try:
            sc.umount2(rootfs, 2)  # MNT_DETACH
        except OSError:
            time.sleep(0.05)


def _pod_init(hostname: str, new_net: bool, ready_w: int) -> None:
    """Pid 1 of the pod: never returns."""
    code = 0
    try:
        sc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: die with `rkt run`
        sc.sethostname(hostname)
        if new_net:
            from pyrkt.net.loopback import lo_up

            lo_up()
        stopping = [False]

        def on_term(signum: int, _frame: object) -> None:
            if not stopping[0]:
                stopping[0] = True
                try:
                    os.kill(-1, signal.SIGTERM)
                except OSError:
                    pass
                signal.alarm(int(STOP_GRACE))

        def on_alarm(signum: int, _frame: object) -> None:
            try:
                os.kill(-1, signal.SIGKILL)
            except OSError:
                pass

        signal.signal(signal.SIGTERM, on_term)
        signal.signal(signal.SIGINT, on_term)
        signal.signal(signal.SIGALRM, on_alarm)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        os.write(ready_w, b"k")
        os.close(ready_w)
        while True:
            try:
                os.waitpid(-1, 0)
            except ChildProcessError:
                signal.pause()
    except BaseException as exc:  # noqa: BLE001
        try:
            os.write(2, f"rkt: pod init: {exc}\n".encode())
        except OSError:
            pass
        code = 1
    os._exit(code)


def start_pod_init(hostname: str, net: str, ipc: str, user_range: UserRange | None = None) -> int:
    """Start the pod init and wait until it is ready (see spawn_pod_init)."""
    pid, ready = spawn_pod_init(hostname, net, ipc, user_range)
    await_pod_init(pid, ready)
    return pid


def spawn_pod_init(hostname: str, net: str, ipc: str, user_range: UserRange | None = None) -> tuple[int, int]:
    """Clone the pod init; returns its pid and the pipe on which it says it is ready.

    Its namespaces exist as soon as clone returns, so apps can be created in
    them while it sets the hostname and its signal handlers: `await_pod_init`
    is needed only before an app starts (it must see the hostname).
    """
    flags = sc.CLONE_NEWPID | sc.CLONE_NEWUTS
    if user_range:  # --private-users: the pod's namespaces all belong to its user namespace
        flags |= sc.CLONE_NEWUSER
    if ipc != "parent":
        flags |= sc.CLONE_NEWIPC
    if net != "host":
        flags |= sc.CLONE_NEWNET
    r, w = os.pipe()
    pid = sc.clone(flags)
    if pid == 0:
        os.close(r)
        _pod_init(hostname, net != "host", w)
    os.close(w)
    if user_range:
        from pyrkt.pod.userns import UsernsError, write_maps

        try:
            write_maps(pid, user_range)
        except UsernsError as exc:
            os.close(r)
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise Stage1Error(str(exc)) from None
    return pid, r


def await_pod_init(pid: int, ready: int) -> None:
    """Wait for the pod init's ready byte (closes `ready`); Stage1Error if it died instead."""
    try:
        ok = os.read(ready, 1)
    finally:
        os.close(ready)
    if ok != b"k":
        os.waitpid(pid, 0)
        raise Stage1Error("the pod init failed to start")


def oci_config(pod_dir: str, uuid: str, app: AppPlan, plan: PodPlan, init_pid: int, net: str, tty: bool = False,
               tty_size: tuple[int, int] | None = None, extra_env: tuple[str, ...] = ()) -> Config:
    """The OCI config of an app's container, parsed (`Config`): stage1 hands it to `create` in
    memory and writes its document as the bundle's config.json for `pyrkt-runtime` and people."""
    from pyrkt.oci.config import Config, ConfigError
    from pyrkt.oci.specgen import default_spec

    spec: dict[str, Any] = default_spec()  # the OCI document: Config checks each field as it parses it
    caps = list(app.caps)
    proc = spec["process"]
    proc.update(
        terminal=tty, args=list(app.args), env=list(app.env + extra_env), cwd=app.cwd,
        user={"uid": app.uid, "gid": app.gid, **({"additionalGids": list(app.gids)} if app.gids else {})},
        noNewPrivileges=app.no_new_privileges,
        capabilities={"bounding": caps, "effective": caps if app.uid == 0 else [], "permitted": caps if app.uid == 0 else [],
                      "inheritable": caps if app.uid == 0 else []},
    )
    proc.pop("rlimits", None)
    if tty_size:
        proc["consoleSize"] = {"height": tty_size[0], "width": tty_size[1]}
    if app.oom_score_adj is not None:
        proc["oomScoreAdj"] = app.oom_score_adj
    spec["root"] = {"path": "rootfs", "readonly": app.readonly}
    spec.pop("hostname", None)
    mounts = spec["mounts"]
    for m in app.mounts:
        source = m.source if m.kind == "host" else os.path.join(pod_dir, m.source)
        opts = ["rbind" if m.recursive else "bind"]
        if m.read_only:
            opts.append("ro")
        mounts.append({"destination": m.destination, "type": "bind", "source": source, "options": opts})
    hosts = os.path.join(pod_dir, "hosts")
    if os.path.exists(hosts):
        mounts.append({"destination": "/etc/hosts", "type": "bind", "source": hosts, "options": ["bind", "ro"]})
    resolv = os.path.join(pod_dir, "resolv.conf")
    if os.path.exists(resolv):
        mounts.append({"destination": "/etc/resolv.conf", "type": "bind", "source": resolv, "options": ["bind", "ro"]})
    linux = spec["linux"]
    nss: list[dict[str, str]] = [{"type": "pid", "path": f"/proc/{init_pid}/ns/pid"}, {"type": "uts", "path": f"/proc/{init_pid}/ns/uts"},
                                 {"type": "mount"}, {"type": "cgroup"}]
    # each app its own cgroup namespace: /proc/self/cgroup reads "/" and /sys/fs/cgroup shows the
    # app's own cgroups (bind mounts of them on v1/hybrid hosts, a cgroup2 mount on v2)
    if plan.ipc != "parent":
        nss.append({"type": "ipc", "path": f"/proc/{init_pid}/ns/ipc"})
    if net != "host":
        nss.append({"type": "network", "path": f"/proc/{init_pid}/ns/net"})
    if plan.private_users is not None:
        nss.insert(0, {"type": "user", "path": f"/proc/{init_pid}/ns/user"})  # first: the others belong to it
    linux["namespaces"] = nss
    resources = dict(linux.get("resources") or {})
    resources.update(app.resources.to_json())
    linux["resources"] = resources
    linux["cgroupsPath"] = f"/rkt-{uuid}-{app.name}"
    seccomp = app.seccomp.to_oci()
    if seccomp:
        linux["seccomp"] = seccomp
    spec["annotations"] = {"rkt.pod.uuid": uuid, "rkt.app.name": app.name}
    bundle = os.path.join(pod_dir, "apps", app.name)
    try:
        return Config(spec, bundle)
    except ConfigError as exc:  # a plan from a damaged runtime.json
        raise Stage1Error(f"app {app.name}: {exc}") from None


def write_etc_files(pod_dir: str, plan: PodPlan, net: str, apps_rootfs: list[str],
                    attachments: list[dict[str, Any]] | None = None, adding: bool = False) -> None:
    """The pod's hosts and resolv.conf (see pyrkt.net.hosts and pyrkt.net.dns), bound into every app.

    `adding`: the networks' ADD is under way (see pyrkt.net.setup.known_before_add): the
    files are made as they will be, the pod's address 127.0.0.1 until the call after
    it rewrites them in place (the apps' bind mounts keep the inode).
    """
    from pyrkt.net import dns, hosts

    pod_ip = "127.0.0.1" if adding else None
    results: list[dict[str, Any]] = []
    if attachments and not adding:
        from pyrkt.net.setup import pod_ip as first_ip

        pod_ip = first_ip(attachments)
        results = [a["result"] for a in attachments if a.get("result")]
    text = hosts.choose(plan.hosts, plan.hostname, pod_ip, apps_rootfs)
    if text is not None:
        with open(os.path.join(pod_dir, "hosts"), "w") as f:
            f.write(text)
    resolv = dns.choose(plan.resolv, net, results)
    if resolv:
        with open(os.path.join(pod_dir, "resolv.conf"), "w") as f:
            f.write(resolv)


def _supervise(pod_dir: str, created: list[tuple[AppPlan, int]], readers: list[tuple[int, int | None, BufferedWriter]],
               init_pid: int) -> dict[str, int]:
    """Copy the apps' output to our stdout/stderr and their logs, reap them, write exit codes.

    One thread, a poll loop: after `create` joined the pod's pid namespace,
    this process can no longer start threads (CLONE_THREAD needs the same pid
    namespace for children as its own).
    """
    import select

    wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    old_wakeup = signal.set_wakeup_fd(wake_w)
    old_chld = signal.signal(signal.SIGCHLD, lambda *_: None)
    codes: dict[str, int] = {}
    pending = {pid: app for app, pid in created}
    open_readers = {r: (dst, log) for r, dst, log in readers}
    poller = select.poll()
    for r in open_readers:
        poller.register(r, select.POLLIN | select.POLLHUP)
    poller.register(wake_r, select.POLLIN)
    drain_deadline: float | None = None
    try:
        while pending or open_readers:
            if not pending:
                if drain_deadline is None:
                    drain_deadline = time.monotonic() + 1.0
                elif time.monotonic() > drain_deadline:
                    break
            for fd, _ev in poller.poll(200):
                if fd == wake_r:
                    try:
                        while os.read(wake_r, 512):
                            pass
                    except BlockingIOError:
                        pass
                    continue
                try:
                    data = os.read(fd, 65536)
                except OSError:
                    data = b""
                dst, log = open_readers.get(fd, (None, None))
                if not data:
                    poller.unregister(fd)
                    os.close(fd)
                    open_readers.pop(fd, None)
                    continue
                if dst is not None:
                    try:
                        os.write(dst, data)
                    except OSError:
                        pass
                if log is not None:
                    pos = log.tell()
                    log.write(data)
                    log.flush()
                    _stamp_log(log.name, pos)
            while pending:
                try:
                    pid, status = os.waitpid(-1, os.WNOHANG)
                except ChildProcessError:
                    pending.clear()
                    break
                if pid == 0:
                    break
                app = pending.pop(pid, None)
                if app is None:
                    continue
                code = os.waitstatus_to_exitcode(status)
                if code < 0:
                    code = 128 - code
                codes[app.name] = code
                with open(os.path.join(pod_dir, "apps", app.name, "exit"), "w") as f:
                    f.write(str(code))
    finally:
        signal.set_wakeup_fd(old_wakeup)
        signal.signal(signal.SIGCHLD, old_chld)
        os.close(wake_r)
        os.close(wake_w)
        for fd in open_readers:
            os.close(fd)
    return codes


def _stamp_log(log_path: str, offset: int) -> None:
    """`log.times`: when the chunk at `offset` of an app's log was written (read by pyrkt.service.logs)."""
    fd = os.open(log_path + ".times", os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
    try:
        os.write(fd, b"%d %.6f\n" % (offset, time.time()))
    finally:
        os.close(fd)


def run_pod(pod: Pod, plan: PodPlan, net: str, show_logs: bool = True) -> int:
    """Run the pod in the foreground; the pod's lock must be held by the caller. Returns the exit status.

    `net` is the network mode of `plan.net` (host, none or cni: pyrkt.net.spec.mode).
    """
    from pyrkt.oci import operations as ops
    from pyrkt.oci.errors import RuntimeFailure

    pod_dir = pod.path
    uuid = pod.uuid
    apps = plan.apps
    oci_dir = oci_root(pod_dir)
    os.makedirs(oci_dir, exist_ok=True)
    rootfses = []
    users = plan.private_users
    if users:
        from pyrkt.pod import userns
    for app in apps:
        if users:
            try:
                if plan.no_overlay:
                    rootfses.append(userns.bind_rootfs(os.path.join(pod_dir, "apps", app.name, "rootfs"), users))
                else:
                    rootfses.append(userns.mount_overlay(os.path.join(pod_dir, "apps", app.name), list(app.lowerdirs), users))
            except userns.UsernsError as exc:
                cleanup_apps(pod_dir, [a.name for a in apps])
                raise Stage1Error(str(exc)) from None
        elif plan.no_overlay:
            rootfses.append(os.path.join(pod_dir, "apps", app.name, "rootfs"))
        else:
            rootfses.append(mount_overlay(pod_dir, app.name, app.lowerdirs))
    cni = net == "cni"
    if not cni:
        write_etc_files(pod_dir, plan, net, rootfses)
    # the apps' bundles: with --private-users through a view their root can traverse (userns.expose)
    bundles = userns.expose(pod_dir) if users else pod_dir
    init_pid, init_ready = spawn_pod_init(plan.hostname, net, plan.ipc, users)
    pod.write("pid", str(init_pid), sync=False)
    interrupted = [False]

    def stop_pod(signum: int, _frame: object) -> None:
        interrupted[0] = True
        try:
            os.kill(init_pid, signal.SIGTERM)
        except ProcessLookupError:
            pass

    old = {s: signal.signal(s, stop_pod) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    created: list[tuple[AppPlan, int]] = []
    readers: list[tuple[int, int | None, BufferedWriter]] = []
    logs: list[BufferedWriter] = []
    devnull = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
    saved = [os.dup(0), os.dup(1), os.dup(2)]
    from pyrkt.pod import interactive

    tty = interactive.wanted(plan.interactive)
    tty_size = interactive.terminal_size() if tty else None
    extra_env: tuple[str, ...] = ()
    ports = [p.to_json() for p in plan.ports]  # the form pyrkt.net takes
    master = -1
    port_socks: list[socket] = []
    own_pidns = -1
    adding: Any = None  # the CNI ADD under way (pyrkt.net.setup.start), until net_ready

    def net_ready() -> None:
        """Wait for the pod's CNI ADD, then write its hosts and resolv.conf (before any app starts)."""
        nonlocal adding
        if adding is None:
            return
        pending, adding = adding, None
        try:
            attachments = netsetup.finish(pending)
        except netsetup.NetError as exc:
            raise Stage1Error(str(exc)) from None
        write_etc_files(pod_dir, plan, net, rootfses, attachments)

    try:
        if cni:
            from pyrkt.net import setup as netsetup

            try:
                attachments = netsetup.plan(None if plan.net is None else list(plan.net), ports,
                                            plan.local_config, plan.system_config)
                port_socks = netsetup.reserve_ports(ports)
                adding = netsetup.start(pod_dir, uuid, init_pid, attachments)
            except netsetup.NetError as exc:
                raise Stage1Error(str(exc)) from None
            # creating an app joins its pid namespace for our children: the CNI plugins that
            # delete the networks at exit must be forked in ours (the pod's is gone by then)
            own_pidns = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
            if plan.mds_register or not netsetup.known_before_add(attachments):
                net_ready()
            else:  # the ADD runs while the containers are made; the files they bind exist (filled in by net_ready)
                write_etc_files(pod_dir, plan, net, rootfses, attachments, adding=True)
        if plan.mds_register:  # apps get AC_METADATA_URL (pyrkt.pod.mds); needs the pod's network up
            from pyrkt.pod import mds

            extra_env = (mds.register(pod, plan, net, init_pid),)
        for app in apps:
            app_dir = os.path.join(bundles, "apps", app.name)
            config = oci_config(bundles, uuid, app, plan, init_pid, net, tty, tty_size, extra_env)
            with open(os.path.join(app_dir, "config.json"), "w") as f:  # for people and pyrkt-runtime: create reads `config`
                f.write(fastjson.dumps(config.raw))
            log = open(os.path.join(app_dir, "log"), "ab")
            logs.append(log)
            child_fds = []
            for i, (mode_key, target) in enumerate((("stdin", 0), ("stdout", 1), ("stderr", 2))):
                mode = "tty" if plan.interactive else getattr(app, mode_key)
                if mode in ("tty", "stream"):
                    child_fds.append(saved[i])
                elif mode == "null":
                    child_fds.append(devnull)
                else:  # log: through a pipe we copy to our stdout/stderr and to the log
                    r, w = os.pipe2(os.O_CLOEXEC)
                    readers.append((r, saved[i] if show_logs else None, log))
                    child_fds.append(w)
            for i, fd in enumerate(child_fds):
                os.dup2(fd, i)
            try:
                console = interactive.console_pair() if tty else None
                try:
                    state = ops.create(oci_dir, app.name, ops.CreateOptions(bundle=app_dir), console=console[1] if console else None,
                                       config=config)
                except BaseException:
                    if console:
                        console[0].close()
                    raise
                finally:
                    if console:
                        console[1].close()
                if console:
                    master = interactive.receive_master(console[0])
            finally:
                for i in range(3):
                    os.dup2(saved[i], i)
                for fd in child_fds:
                    if fd not in saved and fd != devnull:
                        os.close(fd)
            created.append((app, state.pid))
        net_ready()
        ready, init_ready = init_ready, -1  # await_pod_init closes it, even when it raises
        await_pod_init(init_pid, ready)
        pod.write("started", repr(time.time()), sync=False)
        for app, _pid in created:
            ops.start(oci_dir, app.name)
        if master >= 0:
            fd, master = master, -1
            interactive.proxy(fd, created[0][1])  # closes fd
        codes = _supervise(pod_dir, created, readers, init_pid)
    except RuntimeFailure as exc:
        raise Stage1Error(str(exc)) from None
    finally:
        if init_ready >= 0:
            os.close(init_ready)
        try:
            os.kill(init_pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        # reap everything: a dying pod init waits for the pod's zombies, which are our children
        while True:
            try:
                pid, _ = os.waitpid(-1, 0)
            except ChildProcessError:
                break
            if pid == init_pid:
                break
        if plan.mds_register:  # at once, not when the service next notices the init gone
            from pyrkt.pod import mds

            mds.unregister(uuid)
        tearing = None
        if cni:
            from pyrkt.net import setup as netsetup

            if own_pidns >= 0:
                sc.setns(own_pidns, sc.CLONE_NEWPID)  # back in our pid namespace: threads work again
                os.close(own_pidns)
            if adding is not None:
                netsetup.abandon(adding)  # the pod failed during its ADD: the DEL must see all it added
            # the networks go while the apps' containers and mounts do: independent, and both
            # mostly wait (on the plugins, on umount)
            tearing = netsetup.start_teardown(pod_dir)
        for s, h in old.items():
            signal.signal(s, h)
        for fd in saved + [devnull] + ([master] if master >= 0 else []):
            os.close(fd)
        for log in logs:
            log.close()
        cleanup_apps(pod_dir, [a.name for a in apps], unmount=not plan.no_overlay or bool(users))
        if tearing is not None:
            for err in netsetup.finish_teardown(tearing):
                print(f"rkt: tearing down the pod's networks: {err}", file=sys.stderr)
            for sock in port_socks:
                sock.close()
    for app in apps:
        code = codes.get(app.name, 0)
        if code != 0:
            return code
    return 0


def cleanup_apps(pod_dir: str, names: list[str], unmount: bool = True) -> None:
    """Delete the apps' OCI containers (their cgroups) and, with `unmount`, their rootfs mounts."""
    from pyrkt.oci import operations as ops
    from pyrkt.oci.errors import RuntimeFailure

    oci_dir = oci_root(pod_dir)
    for name in names:
        if os.path.isdir(os.path.join(oci_dir, name)):
            try:
                ops.delete(oci_dir, name, force=True)
            except (RuntimeFailure, OSError) as exc:
                print(f"rkt: deleting app {name}: {exc}", file=sys.stderr)
        if unmount:
            unmount_rootfs(pod_dir, name)
    try:
        os.rmdir(oci_dir)
    except OSError:
        pass
    if unmount and os.path.isdir(os.path.join("/run/pyrkt-pods-userns", os.path.basename(pod_dir.rstrip("/")))):
        from pyrkt.pod.userns import unexpose

        unexpose(pod_dir)
