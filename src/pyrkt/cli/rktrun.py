"""`rkt-run`, `rkt-run-helper` and `rktrunner-gc`: rktrunner 1.1's command lines over pyrkt's rkt.

Only parsing and printing live here; the policy is in pyrkt.runner. Installed
by `make install-rkt-run`, these run behind the setuid launcher
(src/rktrun-launcher/launcher.c), which starts `entry()` with a cleared
environment and hands over the user's environment as data on fd 3. The
console scripts in the venv call `main()`, unprivileged (or as root).
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pyrkt.runner.inproc import Launcher

USAGE = """Usage: rkt-run [options] IMAGE|ALIAS [ARGS...]

Run IMAGE or ALIAS with rkt, with every rkt option from the policy file (/etc/rktrunner.toml).

Options (they end at IMAGE|ALIAS: what follows is the app's arguments):
  -e, --exec CMD       command to run (not with an alias that fixes one)
      --volume ID      mount the on-request volume ID (repeatable)
      --set-env N=V    set an environment variable in the app (repeatable)
      --print-env      print the app's environment before running it
  -i, --interactive    interactive: a terminal, default command default-interactive-cmd
      --prepare        only start the worker pod (worker-pods = true)
  -v, --verbose        print the rkt command line before running it
      --dry-run        print the rkt command line and run nothing
  -l, --list-alias     list the aliases
  -n, --no-image-prefix  do not apply auto-image-prefix
      --config FILE    policy file (root only, or with --dry-run)
  -h, --help           this help
"""

_BOOL = {"-i": "interactive", "--interactive": "interactive", "--print-env": "print_env", "--prepare": "prepare",
         "-v": "verbose", "--verbose": "verbose", "--dry-run": "dry_run", "-l": "list", "--list-alias": "list",
         "-n": "no_prefix", "--no-image-prefix": "no_prefix", "-h": "help", "--help": "help"}
_VALUE = {"-e": "exec", "--exec": "exec", "--volume": "volume", "--set-env": "set_env", "--config": "config"}
_REPEAT = ("volume", "set_env")


def _site() -> tuple[str, str]:
    try:
        import pyrkt_rktrun_site as site  # type: ignore[import-not-found]  # written by make install-rkt-run

        return str(site.CONFIG), str(site.STATE_DIR)
    except ImportError:
        return "/etc/rktrunner.toml", "/var/lib/rktrunner"


def parse_args(argv: list[str]) -> tuple[dict[str, object], list[str]]:
    from pyrkt.runner.errors import RunnerError

    opts: dict[str, object] = {"volume": [], "set_env": []}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            i += 1
            break
        if not arg.startswith("-") or arg == "-":
            break
        name, eq, inline = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        if name in _BOOL and not eq:
            opts[_BOOL[name]] = True
            i += 1
            continue
        if name in _VALUE:
            if eq:
                value, i = inline, i + 1
            elif i + 1 < len(argv):
                value, i = argv[i + 1], i + 2
            else:
                raise RunnerError(f"option {name} needs a value")
            dest = _VALUE[name]
            if dest in _REPEAT:
                lst = opts[dest]
                assert isinstance(lst, list)
                lst.append(value)
            else:
                opts[dest] = value
            continue
        if len(arg) > 2 and arg[1] != "-" and all(f"-{c}" in _BOOL for c in arg[1:]):
            for c in arg[1:]:
                opts[_BOOL[f"-{c}"]] = True
            i += 1
            continue
        raise RunnerError(f"unknown option {arg!r} (rkt-run -h lists them)")
    return opts, argv[i:]


def _run_here(launcher: Launcher, argv_rkt: list[str]) -> int:
    """Become pyrkt's own rkt in this interpreter (pyrkt.runner.inproc says when and why); its status."""
    from pyrkt.runner import inproc

    import _signal  # type: ignore[import-not-found]

    def interrupted(signum: int, _frame: object) -> None:
        # before rkt's own handlers (and after it restores these): unwind, so the env file goes
        raise SystemExit(128 + signum)

    for s in (_signal.SIGTERM, _signal.SIGHUP):
        _signal.signal(s, interrupted)
    inproc.become(launcher, argv_rkt)
    from pyrkt.cli.rkt import main as rkt_main  # from rkt's tree: become() forgot rkt-run's pyrkt

    try:
        return int(rkt_main(argv_rkt[1:]))
    except SystemExit as exc:  # the handler above, or an exit inside rkt: rkt's status either way
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)


def _rkt_here(argv_rkt: list[str]) -> int | None:
    """For worker enters: rkt run here if it is pyrkt's own, else None (exec it)."""
    from pyrkt.runner import inproc

    launcher = inproc.find(argv_rkt[0])
    return None if launcher is None else _run_here(launcher, argv_rkt)


def _runs_something(opts: dict[str, object]) -> bool:
    """Not a dry run, --prepare, listing or help: a command will run."""
    return not any(opts.get(k) for k in ("dry_run", "prepare", "list", "help"))


def run(argv: list[str], user_env: dict[str, str], uid: int, gid: int, via_launcher: bool = False) -> int:
    """rkt-run. `via_launcher`: behind the setuid launcher, where pyrkt's rkt may run in this process."""
    from pyrkt.runner import command, config, secure
    from pyrkt.runner.errors import RunnerError

    opts, rest = parse_args(argv)
    if opts.get("help"):
        sys.stdout.write(USAGE)
        return 0
    default_config, state_dir = _site()
    privileged = os.geteuid() == 0 and uid != 0
    cfg = opts.get("config")
    if cfg is not None:
        if uid != 0 and not opts.get("dry_run"):
            raise RunnerError("--config is for root only (or with --dry-run)")
        path = str(cfg)
        try:
            data = secure.read_as_user(path, uid, gid)
        except OSError as exc:
            raise RunnerError(f"--config {path}: {exc.strerror}") from None
        try:
            text = data.decode()
        except UnicodeDecodeError:
            raise RunnerError(f"--config {path}: not UTF-8") from None
        policy = config.Policy(config.parse_text(path, text))
    else:
        if privileged:
            secure.check_trusted(default_config, "policy file")
        cache = None
        if os.geteuid() == 0:
            try:
                sfd = secure.open_state_dir(state_dir)
                os.close(sfd)
                cache = state_dir
            except RunnerError:
                cache = None
        policy = config.load(default_config, cache)
    if policy.worker_pods and via_launcher and os.geteuid() == 0 and _runs_something(opts):
        from pyrkt.runner import worker

        # the worker enter's cgroup.procs write waits for an RCU grace period on a v1 host
        # (5-15 ms, more under load): started now, it passes while rkt-run and rkt work
        worker.warm_cgroups()
    if opts.get("list"):
        for line in command.list_aliases(policy):
            print(line)
        return 0
    if not rest:
        raise RunnerError("missing IMAGE or ALIAS (rkt-run -h for help)")
    ident = command.Identity.lookup(uid, gid)
    req = command.Request(rest[0], rest[1:], opts.get("exec"), opts["volume"], opts["set_env"],  # type: ignore[arg-type]
                          bool(opts.get("interactive")), bool(opts.get("no_prefix")))
    try:
        cwd: str | None = os.getcwd()
    except OSError:
        cwd = None
    plan = command.build(policy, req, ident, user_env, cwd)
    if opts.get("print_env"):
        for k, v in plan.env:
            print(f"{k}={v}")
    if policy.worker_pods:
        from pyrkt.runner import worker

        return worker.run(policy, plan, state_dir, verbose=bool(opts.get("verbose")),
                          dry_run=bool(opts.get("dry_run")), prepare_only=bool(opts.get("prepare")),
                          rkt_here=_rkt_here if via_launcher else None)
    if opts.get("prepare"):
        raise RunnerError("--prepare needs worker-pods = true in the policy")
    if opts.get("dry_run"):
        print(command.display(plan.run_argv(policy.rkt, "ENVFILE" if plan.env else None))[2:])
        return 0
    if privileged:
        secure.check_trusted(policy.rkt, "rkt")
    dfd = secure.open_state_dir(state_dir) if plan.env else -1
    env_file = secure.write_private(dfd, state_dir, "env", plan.env_text()) if plan.env else None
    try:
        argv_rkt = plan.run_argv(policy.rkt, env_file)
        if opts.get("verbose"):
            sys.stderr.write(command.display(argv_rkt) + "\n")
            sys.stderr.flush()
        sys.stdout.flush()
        sys.stderr.flush()
        if via_launcher:
            from pyrkt.runner import inproc

            launcher = inproc.find(argv_rkt[0])
            if launcher is not None:
                warm = sys.modules.get("pyrkt.linux.cgroups.warm")
                if warm is not None:
                    warm.wait()  # its thread must be gone before rkt clones a pod raw (become() forgets it)
                if dfd >= 0:  # no process of the pod may inherit it: opened again to remove the env file
                    os.close(dfd)
                    dfd = -1
                try:
                    return _run_here(launcher, argv_rkt)
                finally:
                    if env_file:
                        dfd = secure.open_state_dir(state_dir)
        if env_file is None:
            secure.exec_rkt(argv_rkt)  # no env file to remove: rkt takes this process over
        code, _ = secure.run_rkt(argv_rkt)
    finally:
        if env_file and dfd >= 0:
            secure.remove_private(dfd, env_file)
            os.close(dfd)
    return code if code >= 0 else 128 - code


def _guard(fn: object, *args: object) -> int:
    from pyrkt.runner.errors import RunnerError

    try:
        return int(fn(*args))  # type: ignore[operator]
    except RunnerError as exc:
        sys.stdout.flush()
        sys.stderr.write(f"rkt-run: {exc}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except OSError as exc:
        sys.stderr.write(f"rkt-run: {exc.strerror or exc}{': ' + str(exc.filename) if exc.filename else ''}\n")
        return 1


def main(argv: list[str] | None = None) -> int:
    """The console script: unprivileged (a dry run) or as root."""
    argv = sys.argv[1:] if argv is None else argv
    return _guard(run, argv, dict(os.environ), os.getuid(), os.getgid())


def helper_main(argv: list[str] | None = None, name: str | None = None) -> int:
    """`rkt-run-helper` through a symlink named after an alias: `rkt-run NAME ARGS...`."""
    name = os.path.basename(name or sys.argv[0])
    argv = sys.argv[1:] if argv is None else argv
    if name in ("rkt-run-helper", ""):
        sys.stderr.write("rkt-run-helper: run it through a symlink named after an alias (e.g. ruby -> rkt-run-helper)\n")
        return 2
    return _guard(run, ["--", name, *argv], dict(os.environ), os.getuid(), os.getgid())


def gc_main(argv: list[str] | None = None) -> int:
    from pyrkt.runner import worker

    argv = sys.argv[1:] if argv is None else argv
    return _guard(worker.gc_main, argv, _site())


def _read_env(fd: int) -> dict[str, str]:
    data = b""
    try:
        os.lseek(fd, 0, 0)
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            data += chunk
        os.close(fd)
    except OSError:
        return {}
    env = {}
    for item in data.split(b"\0"):
        k, eq, v = item.partition(b"=")
        if eq and k:
            env[k.decode(errors="replace")] = v.decode(errors="replace")
    return env


def entry(argv: list[str]) -> int:
    """Behind the setuid launcher: argv[0] is the mode (`run`, `gc`, or `helper:NAME`); the user's env is on fd 3."""
    import gc

    # a short-lived process with few cycles: the collections during its imports (and an
    # in-process rkt's) cost ~1 ms of every command
    gc.disable()
    user_env = _read_env(3)
    mode, rest = (argv[0], argv[1:]) if argv else ("run", [])
    uid, gid = os.getuid(), os.getgid()
    if mode == "gc":
        if uid != 0:
            sys.stderr.write("rktrunner-gc: root only\n")
            return 2
        return gc_main(rest)
    if mode.startswith("helper:"):
        name = mode[7:]
        if name in ("rkt-run-helper", ""):
            return helper_main(rest, name)
        return _guard(run, ["--", name, *rest], user_env, uid, gid, True)
    return _guard(run, rest, user_env, uid, gid, True)


if __name__ == "__main__":
    sys.exit(main())
