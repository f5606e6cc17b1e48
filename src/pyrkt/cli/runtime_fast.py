"""The fast lane of `pyrkt-runtime`, tried by its launcher before `runtime.main`.

Every container costs a `create` (or `run`), a `start` and a `delete`, and a
Python command pays the interpreter's start (~10 ms here) before anything
else. `runtime.main` adds its flag tables and parser (~1.5 ms, ~0.2 MB of
RSS), and `start`/`delete` through `operations` another ~5 ms for a job of
about 1 ms. So the command lines podman, containerd and people use for these
verbs are recognised here, with a plain loop over argv:

  global flags  --root, --log, --log-format, --systemd-cgroup
  create / run  --bundle/-b, --pid-file, --console-socket, --preserve-fds,
                --no-pivot, --no-new-keyring; run: -d/--detach, --keep,
                --no-subreaper; one container id
  start         one container id           (through `pyrkt.oci.quick`)
  delete        [--force/-f] one container id  (through `pyrkt.oci.quick`)

Anything else (another flag or form, --debug, a bad value, another verb)
returns None having done nothing, and `runtime.main` parses it the long way,
with every message. create and run then call `operations` as `main` would,
and report a failure the same way.
"""

_GLOBAL_VALUE = {"--root": "root", "--log": "log", "--log-format": "log_format"}
_CREATE_VALUE = {"--bundle": "bundle", "-b": "bundle", "--pid-file": "pid_file", "--console-socket": "console_socket", "--preserve-fds": "preserve_fds"}
_CREATE_BOOL = {"--no-pivot": "no_pivot", "--no-new-keyring": "no_new_keyring"}
_RUN_BOOL = {"-d": "detach", "--detach": "detach", "--keep": "keep", "--no-subreaper": "no_subreaper"}


def fast_main(argv: list[str]) -> int | None:
    """Run the command if it is one of the above; None: not handled, nothing done."""
    try:
        return _fast_main(argv)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the last resort, as runtime.main's: one line, never a traceback
        from pyrkt.cli.lastresort import expected, internal_error
        from pyrkt.oci.errors import describe

        root = argv[argv.index("--root") + 1] if "--root" in argv[:-1] else None
        _fail({"root": root or "/run/pyrkt-runtime", "log": "", "log_format": "text", "systemd": False},
              describe(exc) if expected(exc) else internal_error("pyrkt-runtime", exc, root or "/run/pyrkt-runtime"))
        return 1


def _fast_main(argv: list[str]) -> int | None:
    g: dict[str, object] = {"root": "", "log": "", "log_format": "text", "systemd": False}
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        name, eq, value = argv[i].partition("=")
        if name == "--systemd-cgroup" and not eq:
            g["systemd"] = True
            i += 1
            continue
        if name not in _GLOBAL_VALUE:
            return None
        if not eq:
            if i + 1 >= len(argv):
                return None
            i += 1
            value = argv[i]
        g[_GLOBAL_VALUE[name]] = value
        i += 1
    rest = argv[i:]
    if not g["root"]:
        from pyrkt.oci.rootless import default_root

        g["root"] = default_root()
    root = str(g["root"])
    if g["log_format"] not in ("text", "json") or not rest or not root.startswith("/"):
        return None
    verb, args = rest[0], rest[1:]
    if g["log"]:
        import posix  # built in: `os` is not loaded on this path yet

        try:  # the log file exists after every command (runc creates it)
            posix.close(posix.open(str(g["log"]), posix.O_WRONLY | posix.O_CREAT | posix.O_APPEND | posix.O_CLOEXEC, 0o644))
        except OSError:
            pass
    if verb in ("create", "run"):
        return _create_or_run(verb, args, g)
    if verb not in ("start", "delete"):
        return None
    from pyrkt.oci import quick

    try:
        if verb == "start":
            if len(args) != 1 or args[0].startswith("-"):
                return None
            done = quick.start(root, args[0])
        else:
            ids = [a for a in args if a not in ("--force", "-f")]
            if len(ids) != 1 or ids[0].startswith("-"):
                return None
            done = quick.delete(root, ids[0])
    except quick.QuickFailure as exc:
        _fail(g, str(exc))
        return 1
    return 0 if done else None


def _create_or_run(verb: str, args: list[str], g: dict[str, object]) -> int | None:
    from pyrkt.linux import cgroup_warm

    cgroup_warm.start()  # before the imports: the grace period runs while they load
    flags: dict[str, object] = {"bundle": ".", "preserve_fds": "0"}
    ids = []
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if not arg.startswith("-") or arg == "-":
            ids.append(arg)
            continue
        name, eq, value = arg.partition("=")
        if name in _CREATE_VALUE:
            if not eq:
                if i >= len(args):
                    return None
                value = args[i]
                i += 1
            flags[_CREATE_VALUE[name]] = value
        elif not eq and (name in _CREATE_BOOL or (verb == "run" and name in _RUN_BOOL)):
            flags[_CREATE_BOOL.get(name) or _RUN_BOOL[name]] = True
        else:
            return None
    preserve = str(flags["preserve_fds"])
    if len(ids) != 1 or not preserve.isdigit() or len(preserve) > 6:  # a huge count: the full path refuses it
        return None
    from pyrkt.oci import operations as ops

    try:
        opts = ops.CreateOptions(
            bundle=str(flags["bundle"]),
            pid_file=flags.get("pid_file"),  # type: ignore[arg-type]
            console_socket=flags.get("console_socket"),  # type: ignore[arg-type]
            no_pivot=bool(flags.get("no_pivot")),
            no_new_keyring=bool(flags.get("no_new_keyring")),
            preserve_fds=int(preserve),
            systemd_cgroup=bool(g["systemd"]),
        )
        if verb == "create":
            ops.create(str(g["root"]), ids[0], opts)
            return 0
        return ops.run(str(g["root"]), ids[0], opts, detach=bool(flags.get("detach")), keep=bool(flags.get("keep")))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # as runtime.main: one line, never a traceback
        from pyrkt.cli.lastresort import expected, internal_error
        from pyrkt.oci.errors import describe

        _fail(g, describe(exc) if expected(exc) else internal_error("pyrkt-runtime", exc, str(g["root"])))
        return 1


def _fail(g: dict[str, object], message: str) -> None:
    from pyrkt.cli.runtime import Context, _fail

    _fail(Context(str(g["root"]), str(g["log"]), str(g["log_format"]), False, bool(g["systemd"])), message)
