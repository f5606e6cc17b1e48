"""`pyrkt-runtime`: runc's command line over `pyrkt.oci`.

Only argument parsing and output formatting live here: one parser
(`pyrkt.cli.args`) over flag tables kept as data (`GLOBAL_FLAGS`, `VERBS`:
plain tuples, made into Flag objects only for the verb that runs), and one
handler per verb, whose modules are imported when it is called, so `state`
does not pay for what `create` needs. The handlers of create, run, start and
delete are here; the other verbs' are in `pyrkt.cli.runtime_verbs`, imported
when one of them runs (on a start or delete the code loaded is what costs).

Every container costs a `create` (or `run`), a `start` and a `delete`, and a
Python command pays the interpreter's start (~10 ms here) before anything
else, so those verbs' paths stay short:
  - start and delete try `pyrkt.oci.quick` first (built-in modules only, no
    `os`, no `operations`): a created container's start, a stopped one's
    delete. Anything else falls back to `operations`, with every message.
  - create and run start `pyrkt.linux.cgroups.warm` (the early cgroup.procs
    write) BEFORE they import `operations`, so the kernel's grace period runs
    during the imports.
There used to be a second argv parser for these verbs (`runtime_fast`). One
parser costs a little more: `pyrkt.cli.args` is one module more to load, and
this module is larger (callgrind, per command: start 19.65M -> 20.3M
instructions, delete 18.8M -> 19.7M, the interpreter's start included).

Every failure is one line (`_fail`, also to --log); an unexpected exception
is the last-resort handler's line (`pyrkt.cli.lastresort`). No `from
__future__ import annotations` here or in `pyrkt.cli.args`: it is an import,
and start/delete import little else (annotations naming modules that are not
loaded are strings, and so are the generic ones of the functions: evaluated at
definition otherwise, they cost as much as a table).
"""

import sys

from pyrkt.cli.args import UsageError, parse

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pyrkt.cli.args import Flag
    from pyrkt.oci.operations import CreateOptions


# The flag tables as data: each flag is Flag's arguments (names, takes_value, repeat, default), all
# literals, so each table is one constant of the compiled module, made into Flag objects only for
# the verb being run (`_flags`, which adds -h/--help): start or delete builds eleven, not ninety.
GLOBAL_FLAGS = (
    ("root", True, False, ""),  # "": pyrkt.oci.rootless.default_root()
    ("log", True, False, ""), ("log-format", True, False, "text"), ("debug",), ("systemd-cgroup",),
    ("rootless", True, False, "auto"), ("criu", True), ("version, v",),
)

VERBS = {
    # verb: (flags, handler, usage)
    "create": ((("bundle, b", True, False, "."), ("pid-file", True), ("console-socket", True), ("no-pivot",),
                ("no-new-keyring",), ("preserve-fds", True, False, "0")),
               "cmd_create", "create [options] <container-id>"),
    "run": ((("bundle, b", True, False, "."), ("pid-file", True), ("console-socket", True), ("no-pivot",),
             ("no-new-keyring",), ("preserve-fds", True, False, "0"), ("detach, d",), ("keep",), ("no-subreaper",)),
            "cmd_run", "run [options] <container-id>"),
    "start": ((), "cmd_start", "start <container-id>"),
    "state": ((), "cmd_state", "state <container-id>"),
    "kill": ((("all, a",),), "cmd_kill", "kill [--all] <container-id> [signal]"),
    "delete": ((("force, f",),), "cmd_delete", "delete [--force] <container-id>"),
    "list": ((("format, f", True, False, "table"), ("quiet, q",)), "cmd_list", "list [--format table|json] [--quiet]"),
    "spec": ((("bundle, b", True, False, ""), ("rootless",)), "cmd_spec", "spec [--bundle DIR] [--rootless]"),
    "exec": ((("console-socket", True), ("cwd", True), ("env, e", True, True), ("tty, t",), ("user, u", True),
              ("additional-gids, g", True, True), ("process, p", True), ("detach, d",), ("pid-file", True),
              ("process-label", True), ("apparmor", True), ("no-new-privs",), ("cap, c", True, True),
              ("preserve-fds", True, False, "0"), ("cgroup", True, True), ("ignore-paused",)),
             "cmd_exec", "exec [options] <container-id> <command> [args...]  |  exec --process FILE <container-id>"),
    "ps": ((("format, f", True, False, "table"),), "cmd_ps", "ps [--format table|json] <container-id> [ps options]"),
    "pause": ((), "cmd_pause", "pause <container-id>"),
    "resume": ((), "cmd_resume", "resume <container-id>"),
    "update": ((("resources, r", True), ("blkio-weight", True), ("cpu-period", True), ("cpu-quota", True),
                ("cpu-share", True), ("cpu-rt-period", True), ("cpu-rt-runtime", True), ("cpuset-cpus", True),
                ("cpuset-mems", True), ("kernel-memory", True), ("kernel-memory-tcp", True), ("memory", True),
                ("memory-reservation", True), ("memory-swap", True), ("pids-limit", True),
                ("l3-cache-schema", True), ("mem-bw-schema", True)),
               "cmd_update", "update [--resources FILE|-] [--memory N] [--cpu-quota N] [--pids-limit N] ... <container-id>"),
    "events": ((("stats",), ("interval", True, False, "5s")), "cmd_events", "events [--stats] [--interval 5s] <container-id>"),
    "features": ((), "cmd_features", "features"),
}


def _flags(specs: "tuple[tuple[object, ...], ...]") -> "tuple[Flag, ...]":
    """The Flag objects of one table, with -h/--help (made when its verb runs)."""
    from pyrkt.cli.args import Flag

    return tuple(Flag(*spec) for spec in specs + (("help, h",),))  # type: ignore[arg-type]


# runc's verbs that pyrkt-runtime does not offer: named, so that a caller learns why
NOT_IMPLEMENTED = {
    "checkpoint": "not supported: pyrkt-runtime does not drive CRIU (checkpoint/restore)",
    "restore": "not supported: pyrkt-runtime does not drive CRIU (checkpoint/restore)",
}

# verbs whose arguments after the container id are a command line of their own
NOT_INTERSPERSED = ("exec", "ps")

USAGE = """usage: pyrkt-runtime [global options] <command> [command options] [arguments]

An OCI runtime with runc's command line.

commands:
  create   create a container (its process waits for start)
  start    run the user-defined process of a created container
  run      create and start a container (-d to detach)
  state    print the state of a container as JSON
  kill     send a signal to the container's init (--all: to every process)
  delete   delete a stopped container (--force: any container)
  list     list containers (--format table|json)
  spec     write a default config.json
  exec     run another process in a container
  ps       list the processes of a container (--format table|json)
  pause    freeze every process of a container
  resume   thaw a paused container
  update   change a container's cgroup limits
  events   resource usage and OOM events as JSON lines (--stats: once)
  features print what this runtime supports (runtime-spec features JSON)

global options:
  --root DIR          state directory (default /run/pyrkt-runtime; not root: $XDG_RUNTIME_DIR/pyrkt-runtime)
  --rootless VALUE    true, false or auto (default: rootless when not root in the initial user namespace)
  --log FILE          write log lines to FILE
  --log-format FMT    text or json (json: {"level":"error","msg":...})
  --debug             log debug information
  --systemd-cgroup    cgroupsPath is slice:prefix:name (written as systemd would)
  --version           print the version
"""


class Context:
    __slots__ = ("root", "log", "log_format", "debug", "systemd_cgroup")

    def __init__(self, root: str, log: str, log_format: str, debug: bool, systemd_cgroup: bool) -> None:
        self.root = root
        self.log = log
        self.log_format = log_format
        self.debug = debug
        self.systemd_cgroup = systemd_cgroup


def _log(ctx: "Context | None", level: str, message: str, stderr: bool = False) -> None:
    """One line to --log (level "": only create the file); with stderr=True, there when no --log is given."""
    if ctx is None or not (ctx.log or stderr):
        return
    from pyrkt.oci.state import rfc3339_now

    if not level:
        try:
            open(ctx.log, "a").close()
        except OSError:
            pass
        return

    if ctx.log_format == "json":
        import json

        line = json.dumps({"level": level, "msg": message, "time": rfc3339_now()})
    else:
        line = f'time="{rfc3339_now()}" level={level} msg="{message}"'
    try:
        if not ctx.log:
            sys.stderr.write(line + "\n")
            return
        with open(ctx.log, "a") as f:
            f.write(line + "\n")
    except OSError:
        pass


def _one_id(args: "list[str]", verb: str) -> str:
    if len(args) != 1:
        raise UsageError(f'"{verb}" requires exactly 1 argument: the container id')
    return args[0]


def cmd_create(ctx: Context, flags: "dict[str, object]", args: "list[str]") -> int:
    from pyrkt.linux.cgroups import warm as cgroup_warm

    cgroup_warm.start()  # before the imports of operations: the grace period runs while they load
    from pyrkt.oci import operations as ops

    container_id = _one_id(args, "create")
    ops.create(ctx.root, container_id, _create_options(flags, ctx.systemd_cgroup))
    return 0


def _create_options(flags: "dict[str, object]", systemd: bool) -> "CreateOptions":
    from pyrkt.oci.operations import CreateOptions

    try:
        preserve = int(str(flags["preserve_fds"]))
    except ValueError:
        raise UsageError(f"invalid value {flags['preserve_fds']!r} for --preserve-fds") from None
    if preserve < 0:
        raise UsageError("--preserve-fds must not be negative")
    if preserve > 1 << 20:  # fs.nr_open's ceiling: more fds than a process can have (and an endless loop)
        raise UsageError(f"--preserve-fds {preserve} is more fds than a process can have")
    return CreateOptions(
        bundle=str(flags["bundle"]),
        pid_file=flags["pid_file"],  # type: ignore[arg-type]
        console_socket=flags["console_socket"],  # type: ignore[arg-type]
        no_pivot=bool(flags["no_pivot"]),
        no_new_keyring=bool(flags["no_new_keyring"]),
        preserve_fds=preserve,
        systemd_cgroup=systemd,
    )


def cmd_run(ctx: Context, flags: "dict[str, object]", args: "list[str]") -> int:
    from pyrkt.linux.cgroups import warm as cgroup_warm

    cgroup_warm.start()  # as create's
    from pyrkt.oci import operations as ops

    container_id = _one_id(args, "run")
    return ops.run(ctx.root, container_id, _create_options(flags, ctx.systemd_cgroup), detach=bool(flags["detach"]), keep=bool(flags["keep"]))


def _quick(ctx: Context, verb: str, container_id: str) -> "int | None":
    """start/delete's plain case through `pyrkt.oci.quick` (built-in modules only): 0 or 1 when it was
    done there, None when the full implementation must do it."""
    from pyrkt.oci import quick

    try:
        done = quick.start(ctx.root, container_id) if verb == "start" else quick.delete(ctx.root, container_id)
    except quick.QuickFailure as exc:  # committed, then failed: final
        _fail(ctx, str(exc))
        return 1
    return 0 if done else None


def cmd_start(ctx: Context, flags: "dict[str, object]", args: "list[str]") -> int:
    container_id = _one_id(args, "start")
    code = _quick(ctx, "start", container_id)
    if code is not None:
        return code
    from pyrkt.oci import operations as ops

    ops.start(ctx.root, container_id)
    return 0


def cmd_delete(ctx: Context, flags: "dict[str, object]", args: "list[str]") -> int:
    if not args:
        raise UsageError('"delete" requires at least 1 argument: the container id')
    for container_id in args:
        code = _quick(ctx, "delete", container_id)  # a stopped container: the same with or without --force
        if code == 1:
            return 1
        if code is None:
            from pyrkt.oci import operations as ops

            ops.delete(ctx.root, container_id, force=bool(flags["force"]))
    return 0


def main(argv: "list[str] | None" = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ctx: Context | None = None
    verb = ""
    try:
        gflags, rest = parse(argv, _flags(GLOBAL_FLAGS), interspersed=False)
        if gflags["rootless"] != "auto":
            from pyrkt.oci import rootless

            try:
                rootless.FORCE = rootless.parse_flag(str(gflags["rootless"]))
            except ValueError as exc:
                raise UsageError(str(exc)) from None
        if not gflags["root"]:
            from pyrkt.oci.rootless import default_root

            gflags["root"] = default_root()
        ctx = Context(
            str(gflags["root"]),
            str(gflags["log"]),
            str(gflags["log_format"]),
            bool(gflags["debug"]),
            bool(gflags["systemd_cgroup"]),
        )
        if ctx.log_format not in ("text", "json"):
            raise UsageError(f"invalid log format {ctx.log_format!r}: use text or json")
        if ctx.log:
            _log(ctx, "", "")  # created for every command, as runc opens it (a shim tails it)
        if gflags["version"]:
            from pyrkt import OCI_VERSION, __version__

            print(f"pyrkt-runtime version {__version__}\nspec: {OCI_VERSION}")
            return 0
        if gflags["help"] or not rest or rest[0] == "help":
            sys.stdout.write(USAGE)
            return 0
        verb, verb_args = rest[0], rest[1:]
        spec = VERBS.get(verb)
        if spec is None:
            if verb in NOT_IMPLEMENTED:
                raise UsageError(f"{verb}: {NOT_IMPLEMENTED[verb]}")
            raise UsageError(f"no such command: {verb}")
        flags_spec, handler, usage = spec
        flags, args = parse(verb_args, _flags(flags_spec), interspersed=verb not in NOT_INTERSPERSED)
        if flags.get("help"):
            print(f"usage: pyrkt-runtime {usage}")
            return 0
        if ctx.debug:
            _log(ctx, "debug", f"{verb} {' '.join(verb_args)}: started", stderr=True)
        fn = globals().get(handler)  # create/run/start/delete are here; the others in runtime_verbs
        if fn is None:
            from pyrkt.cli import runtime_verbs

            fn = getattr(runtime_verbs, handler)
        result: int = fn(ctx, flags, args)
        if ctx.debug:
            _log(ctx, "debug", f"{verb}: done, exit status {result}", stderr=True)
        return result
    except UsageError as exc:
        _fail(ctx, str(exc))
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # every other failure is one line, never a traceback
        from pyrkt.cli.lastresort import expected, internal_error
        from pyrkt.oci.errors import describe

        if ctx is not None and ctx.debug:
            import traceback

            traceback.print_exc()
        _fail(ctx, describe(exc) if expected(exc) else internal_error("pyrkt-runtime", exc, ctx.root if ctx else None))
        return 255 if verb == "exec" else 1  # runc: exec's own failures are 255; the process's status passes through


def _fail(ctx: "Context | None", message: str) -> None:
    _log(ctx, "error", message)
    try:
        sys.stderr.write(f"pyrkt-runtime: {message}\n")
        sys.stderr.flush()
    except OSError:
        pass


if __name__ == "__main__":
    sys.exit(main())
