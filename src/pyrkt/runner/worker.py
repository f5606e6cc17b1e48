"""Worker pods: one long-lived pod per user and image, entered by each rkt-run (`rkt enter`).

State (root-only state dir, default /var/lib/rktrunner):
  worker-UID-HEX   the UUID of the user's worker for the image (HEX: the image name, hex-encoded)
  start-UID-HEX    flock held while one is looked up or started (two first uses start one pod)
  pod-UUID         shared flock held by every rkt-run inside the pod; rktrunner-gc stops a
                   worker only when it gets the exclusive lock without waiting
The pod is found with `rkt list` (app `worker-UID`, state running); the app is
rkt-run's static idle program when installed (else a /bin/sh sleeper), started
as the user (`--user/--group` as for a plain run), every
command enters it as the user's uid/gid with the `environment-update`
variables freshly rendered.
"""

from __future__ import annotations

import fcntl
import os
import sys
import time

from pyrkt.runner import command, secure
from pyrkt.runner.config import Policy
from pyrkt.runner.errors import RunnerError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable

SLEEPER = ["/bin/sh", "-c", "trap 'exit 0' TERM; while :; do sleep 3600 & wait $!; done"]
# the worker's app when rkt-run is installed: its own static idle program (src/rktrun-launcher/idle.c),
# bind-mounted read-only, so that an image without /bin/sh and sleep can be a worker too
IDLE_VOLUME = "rktrunner-idle"
IDLE_TARGET = "/.rktrunner-idle"


def idle_program() -> str | None:
    """The installed idle program (root-owned, beside the installed code), or None: SLEEPER then."""
    try:
        import pyrkt_rktrun_site as site  # type: ignore[import-not-found]  # written by make install-rkt-run
    except ImportError:
        return None
    path = str(getattr(site, "IDLE", ""))
    try:
        secure.check_trusted(path, "idle program")
    except RunnerError:
        return None
    return path


def warm_cgroups() -> None:
    """Start the kernel's cgroup RCU grace period now, in a process of its own (`idle --warm`).

    The enter places its process in the worker's cgroups, and on a cgroup v1 host
    the first cgroup.procs write after a quiet while waits for a grace period
    (5-15 ms here). The idle program writes its own pid into the cgroup it is in
    (which moves it nowhere) and waits for it instead; by the enter's write the
    grace period is over. Not a thread (pyrkt.linux.cgroups.warm): while a thread
    waits in that write, glibc's setresuid in the main thread waits for it too.
    Left unreaped: it exits on its own and init takes it when rkt-run exits.
    """
    from pyrkt.linux.cgroups.warm import own_procs_files

    idle = idle_program()
    if idle is None or os.path.exists("/sys/fs/cgroup/cgroup.procs"):
        return  # not installed, or cgroup v2 alone: the init is cloned into its cgroup, nothing waits
    try:
        with open("/proc/self/cgroup") as f:
            files = [p for p in own_procs_files(f.read()) if os.path.exists(p)]
        if files:
            null = [(os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDWR, 0), (os.POSIX_SPAWN_DUP2, 0, 1),
                    (os.POSIX_SPAWN_DUP2, 0, 2)]  # not the user's stdout: its reader would wait for this one too
            os.posix_spawn(idle, [idle, "--warm", files[0]], {"PATH": secure.SAFE_PATH}, file_actions=null)
    except OSError:
        pass  # an optimisation only


def _open_lock(dfd: int, name: str) -> int:
    return os.open(name, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=dfd)


def running_workers(policy: Policy, general: list[str]) -> dict[str, str]:
    """uuid -> app name of every running `worker-*` app (`rkt list --full --no-legend`)."""
    code, out = secure.run_rkt([policy.rkt, *general, "list", "--full", "--no-legend"], capture=True)
    if code != 0:
        raise RunnerError("rkt list failed")
    found = {}
    for line in out.decode(errors="replace").splitlines():
        cells = [c for c in line.split("\t") if c]
        if len(cells) >= 5 and cells[1].startswith("worker-") and cells[4] == "running":
            found[cells[0]] = cells[1]
    return found


def _starttime(pid: int) -> str:
    """Field 22 of /proc/PID/stat: with the pid, it names one process for the machine's uptime."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode(errors="replace")
    except OSError:
        return ""
    fields = data.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else ""


def pod_pid(policy: Policy, general: list[str], uuid: str) -> int:
    code, out = secure.run_rkt([policy.rkt, *general, "status", uuid], capture=True)
    for line in out.decode(errors="replace").splitlines():
        if line.startswith("pid="):
            try:
                return int(line[4:])
            except ValueError:
                return -1
    return -1


def _alive(record: str) -> str:
    """The UUID of a worker record `UUID PID STARTTIME` whose pod init still runs, else ''."""
    parts = record.split()
    if len(parts) == 3 and parts[1].isdigit() and _starttime(int(parts[1])) == parts[2]:
        return parts[0]
    return ""


def _ids(plan: command.Plan) -> tuple[str, str]:
    uid = gid = ""
    for f in plan.app_flags():
        if f.startswith("--user="):
            uid = f[7:]
        elif f.startswith("--group="):
            gid = f[8:]
    return uid, gid


def start_argv(policy: Policy, plan: command.Plan, env_file: str | None) -> list[str]:
    assert plan.identity is not None
    argv = [policy.rkt, *plan.general, "run", *plan.run, *plan.fetch]
    if env_file:
        argv.append(f"--set-env-file={env_file}")
    idle = idle_program()
    if idle:
        argv += [*plan.volume_args, "--volume", f"{IDLE_VOLUME},kind=host,source={idle},readOnly=true", plan.image,
                 *plan.mount_args, "--mount", f"volume={IDLE_VOLUME},target={IDLE_TARGET}", *plan.app_flags()]
        return argv + [f"--name=worker-{plan.identity.uid}", "--exec", IDLE_TARGET]
    argv += plan.volume_args + [plan.image] + plan.mount_args + plan.app_flags()
    argv += [f"--name=worker-{plan.identity.uid}", "--exec", SLEEPER[0], "--", *SLEEPER[1:]]
    return argv


def enter_argv(policy: Policy, plan: command.Plan, uuid: str, env_file: str | None) -> list[str]:
    assert plan.identity is not None and plan.exec is not None
    uid, gid = _ids(plan)
    argv = [policy.rkt, *plan.general, "enter", f"--app=worker-{plan.identity.uid}", f"--user={uid}", f"--group={gid}"]
    if env_file:
        argv.append(f"--set-env-file={env_file}")
    if plan.cwd:
        argv.append(f"--working-dir={plan.cwd}")
    return argv + [uuid, plan.exec, *plan.args]


def _spawn_detached(argv: list[str]) -> None:
    pid = os.fork()
    if pid == 0:
        try:
            os.setsid()
            if os.fork():
                os._exit(0)
            null = os.open("/dev/null", os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
            secure.become_root()
            os.chdir("/")
            os.execve(argv[0], argv, {"PATH": secure.SAFE_PATH})
        finally:
            os._exit(127)
    os.waitpid(pid, 0)


def _start(policy: Policy, plan: command.Plan, dfd: int, state_dir: str, verbose: bool) -> str:
    assert plan.identity is not None
    before = set(running_workers(policy, plan.general))
    env_file = secure.write_private(dfd, state_dir, "env", plan.env_text()) if plan.env else None
    argv = start_argv(policy, plan, env_file)
    if verbose:
        sys.stderr.write(command.display(argv) + "\n")
    _spawn_detached(argv)
    name = f"worker-{plan.identity.uid}"
    uuid = ""
    try:
        for _ in range(600):
            new = [u for u, app in running_workers(policy, plan.general).items() if app == name and u not in before]
            if new:
                uuid = new[0]
                break
            time.sleep(0.05)
    finally:
        if env_file:
            secure.remove_private(dfd, env_file)
    if not uuid:
        raise RunnerError(f"the worker pod for {plan.image} did not start")
    # as root in the pod (the app itself runs as the user): fixed scripts, data on stdin
    base = [policy.rkt, *plan.general, "enter", f"--app={name}", "--user=0", "--group=0", uuid]
    setup = []
    if plan.passwd:
        setup.append(("cat >> /etc/passwd", "".join(x + "\n" for x in plan.passwd).encode()))
    if plan.group:
        setup.append(("cat >> /etc/group", "".join(x + "\n" for x in plan.group).encode()))
    if plan.host_timezone:
        try:
            with open("/etc/localtime", "rb") as f:
                setup.append(("rm -f /etc/localtime; cat > /etc/localtime", f.read()))
        except OSError:
            pass
    for script, data in setup:
        r, w = os.pipe()
        os.write(w, data[:60000])
        os.close(w)
        code, _ = secure.run_rkt(base + ["/bin/sh", "-c", script], stdin=r, capture=True)
        os.close(r)
        if code != 0:
            # a half-set-up worker is never used: stop it (rkt gc removes it later)
            secure.run_rkt([policy.rkt, *plan.general, "stop", "--force", uuid], capture=True)
            raise RunnerError(f"setting up the worker pod {uuid}: {script!r} failed")
    return uuid


def _record(policy: Policy, plan: command.Plan, dfd: int, state_dir: str, key: str, uuid: str) -> None:
    pid = pod_pid(policy, plan.general, uuid)
    tmp = secure.write_private(dfd, state_dir, "tmp", f"{uuid} {pid} {_starttime(pid) if pid > 0 else 'x'}")
    os.rename(os.path.basename(tmp), f"worker-{key}", src_dir_fd=dfd, dst_dir_fd=dfd)


def run(policy: Policy, plan: command.Plan, state_dir: str, verbose: bool, dry_run: bool, prepare_only: bool,
        rkt_here: Callable[[list[str]], int | None] | None = None) -> int:
    """Find or start the user's worker for the image, then enter it (or, with --prepare, only start it).

    `rkt_here(argv)` runs the enter in this process (pyrkt.runner.inproc) and
    returns its status, or None when this rkt must be exec'd.
    """
    assert plan.identity is not None
    if plan.exec is None and not prepare_only:
        raise RunnerError("worker pods need a command: give --exec, an alias with exec, or default-interactive-cmd")
    if dry_run:
        print(command.display(start_argv(policy, plan, "ENVFILE" if plan.env else None))[2:])
        if not prepare_only:
            print(command.display(enter_argv(policy, plan, "UUID", "ENVFILE" if plan.update_env else None))[2:])
        return 0
    secure.check_trusted(policy.rkt, "rkt") if os.getuid() != 0 else None
    dfd = secure.open_state_dir(state_dir)
    key = f"{plan.identity.uid}-{plan.image.encode().hex()}"
    sfd = _open_lock(dfd, f"start-{key}")
    pfd = -1
    try:
        fcntl.flock(sfd, fcntl.LOCK_EX)
        record = ""
        try:
            rfd = os.open(f"worker-{key}", os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dfd)
            record = os.read(rfd, 200).decode().strip()
            os.close(rfd)
        except OSError:
            pass
        name = f"worker-{plan.identity.uid}"
        # the pod init's pid and start time, recorded at start, say it still runs without
        # running rkt; otherwise `rkt list` decides
        uuid = _alive(record)
        known = bool(uuid)
        if not uuid and record:
            uuid = record.split()[0]
        while True:
            if uuid and (known or running_workers(policy, plan.general).get(uuid) == name):
                pfd = _open_lock(dfd, f"pod-{uuid}")
                fcntl.flock(pfd, fcntl.LOCK_SH)
                # rktrunner-gc may have stopped it between our look and our lock: it unlinks the file
                try:
                    same = os.fstat(pfd).st_ino == os.stat(f"pod-{uuid}", dir_fd=dfd, follow_symlinks=False).st_ino
                except OSError:
                    same = False
                if same:
                    if not known:  # found by `rkt list`: record its init for the next time
                        _record(policy, plan, dfd, state_dir, key, uuid)
                    break
                os.close(pfd)
                pfd = -1
            uuid = _start(policy, plan, dfd, state_dir, verbose)
            known = True
            _record(policy, plan, dfd, state_dir, key, uuid)
        os.utime(pfd)
    finally:
        fcntl.flock(sfd, fcntl.LOCK_UN)
        os.close(sfd)
    env_file = None
    try:
        if prepare_only:
            print(uuid)
            return 0
        if plan.update_env:
            env_file = secure.write_private(dfd, state_dir, "env", plan.env_text(plan.update_env))
        argv = enter_argv(policy, plan, uuid, env_file)
        if verbose:
            sys.stderr.write(command.display(argv) + "\n")
        sys.stdout.flush()
        here = rkt_here(argv) if rkt_here is not None else None
        if here is not None:
            return here
        code, _ = secure.run_rkt(argv)
        return code if code >= 0 else 128 - code
    finally:
        if env_file:
            secure.remove_private(dfd, env_file)
        os.utime(pfd)
        os.close(pfd)
        os.close(dfd)


def parse_duration(text: str) -> float:
    """Go durations as rkt's gc takes them: 90s, 10m, 1h30m, 0."""
    if text in ("0", ""):
        return 0.0
    units = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    total, num, i = 0.0, "", 0
    while i < len(text):
        c = text[i]
        if c.isdigit() or c == ".":
            num += c
            i += 1
            continue
        unit = text[i:i + 2] if text[i:i + 2] in units else c
        if unit not in units or not num:
            raise RunnerError(f"invalid duration {text!r} (e.g. 10m, 1h30m)")
        total += float(num) * units[unit]
        num = ""
        i += len(unit)
    if num:
        raise RunnerError(f"invalid duration {text!r}: missing unit")
    return total


def gc_main(argv: list[str], site: tuple[str, str]) -> int:
    """`rktrunner-gc [--dry-run] [--grace-period DUR] [--config FILE]`: stop idle worker pods."""
    from pyrkt.runner import config

    dry, grace, cfg = False, 600.0, site[0]
    i = 0
    while i < len(argv):
        a = argv[i]
        name, eq, val = a.partition("=")
        if a == "--dry-run":
            dry = True
        elif name in ("--grace-period", "--config"):
            if not eq:
                if i + 1 >= len(argv):
                    raise RunnerError(f"{name} needs a value")
                val = argv[i + 1]
                i += 1
            if name == "--config":
                cfg = val
            else:
                grace = parse_duration(val)
        elif a in ("-h", "--help"):
            print("Usage: rktrunner-gc [--dry-run] [--grace-period DUR] [--config FILE]")
            return 0
        else:
            raise RunnerError(f"unknown option {a!r}")
        i += 1
    policy = config.load(cfg)
    general = policy.options["batch"]["general"]
    state_dir = site[1]
    dfd = secure.open_state_dir(state_dir)
    try:
        running = running_workers(policy, general)
        for entry in sorted(os.listdir(dfd)):
            if not entry.startswith("pod-"):
                continue
            uuid = entry[4:]
            fd = _open_lock(dfd, entry)
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    print(f"busy {uuid}")
                    continue
                if uuid in running and time.time() - os.fstat(fd).st_mtime < grace:
                    print(f"recent {uuid}")
                    continue
                if dry:
                    print(f"would stop {uuid}" if uuid in running else f"would forget {uuid}")
                    continue
                if uuid in running:
                    secure.run_rkt([policy.rkt, *general, "stop", uuid], capture=True)
                    print(f"stopped {uuid}")
                os.unlink(entry, dir_fd=dfd)
            finally:
                os.close(fd)
    finally:
        os.close(dfd)
    return 0
