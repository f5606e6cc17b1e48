"""`rkt`: the command line of CoreOS rkt, on pyrkt's library.

This module only splits the global flags from the subcommand and dispatches;
each subcommand lives in its own module (imported lazily, so `rkt version`
does not pay for the image store) and exposes `main(opts, argv) -> int`.
"""

from __future__ import annotations

import os
import sys

from pyrkt.cli.args import UsageError, flag_value, parse_bool
from pyrkt.cli.rkt.common import EXIT_ERROR, GLOBAL_FLAGS, GlobalOptions, RktError, parse_insecure_options

# subcommand -> module under pyrkt.cli.rkt that implements it
COMMANDS: dict[str, str] = {
    "fetch": "fetch",
    "image": "image",
    "trust": "trust",
    "version": "version",
    "run": "run",
    "prepare": "prepare",
    "run-prepared": "run_prepared",
    "list": "list",
    "status": "status",
    "enter": "enter",
    "stop": "stop",
    "rm": "rm",
    "gc": "gc",
    "cat-manifest": "cat_manifest",
    "export": "export",
    "config": "config",
    "api-service": "api_service",
    "metadata-service": "metadata_service",
}


def _split_globals(argv: list[str]) -> tuple[dict[str, object], list[str]]:
    """Take the global flags out of argv wherever they stand (before `--`)."""
    by_name = {name: flag for flag in GLOBAL_FLAGS for name in flag.names}
    values: dict[str, object] = {f.dest: (list(f.default) if f.repeat else f.default) for f in GLOBAL_FLAGS}  # type: ignore[call-overload]
    rest: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg == "--":
            rest.append(arg)
            rest.extend(argv[i:])
            break
        if arg.startswith("-") and len(arg) > 1:
            name, eq, inline = arg.lstrip("-").partition("=")
            flag = by_name.get(name)
            if flag is not None:
                value: object
                if flag.takes_value:
                    value, i = flag_value(argv, i, f"--{name}", eq, inline)
                else:
                    value = parse_bool(inline, name) if eq else True
                if flag.repeat:
                    values[flag.dest].append(value)  # type: ignore[attr-defined]
                else:
                    values[flag.dest] = value
                continue
        rest.append(arg)
    return values, rest


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    state_dir: str | None = None  # where the last-resort handler may keep its debug log
    try:
        values, rest = _split_globals(argv)
        if values["dir"] is not None and not str(values["dir"]):
            raise RktError("--dir: an empty path names no data dir")  # not silently /var/lib/rkt
        opts = GlobalOptions(
            # absolute: pod files name their sources by path, and the apps resolve them elsewhere
            dir=os.path.abspath(str(values["dir"] or "/var/lib/rkt")),
            insecure_options=parse_insecure_options(values["insecure_options"]),  # type: ignore[arg-type]
            debug=bool(values["debug"]),
            local_config=str(values["local_config"] or "/etc/rkt"),
            system_config=str(values["system_config"] or "/usr/lib/rkt"),
            user_config=str(values["user_config"] or ""),
            trust_keys_from_https=bool(values["trust_keys_from_https"]),
        )
        state_dir = opts.dir
        if not rest or rest[0] in ("-h", "--help", "help") and len(rest) == 1:
            print("Usage: rkt [--dir=DIR] [--insecure-options=...] COMMAND [ARGS]\n\nCommands:\n  " + "\n  ".join(sorted(COMMANDS)))
            return 0
        command, args = rest[0], rest[1:]
        if command == "help":
            command, args = args[0], ["--help"]
        if command in ("--version", "-v"):
            command = "version"
        module_name = COMMANDS.get(command)
        if module_name is None:
            raise RktError(f"unknown command {command!r} for \"rkt\"")
        import gc
        import importlib

        gc_on = gc.isenabled()
        if command in ("run", "run-prepared", "enter"):  # enter: rkt-run's worker pods, once per command
            # no cyclic GC while a pod starts: ~15 collections during its imports cost
            # ~2 ms; these commands allocate a bounded set of objects that dies with
            # the process (a download re-enables it: pyrkt.pod.pods._resolve_images)
            gc.disable()
        try:
            module = importlib.import_module(f"pyrkt.cli.rkt.{module_name}")
            return int(module.main(opts, args))
        finally:
            if gc_on:
                gc.enable()  # for in-process callers
    except (RktError, UsageError) as exc:
        print(f"rkt: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("rkt: interrupted", file=sys.stderr)
        return EXIT_ERROR
    except OSError as exc:
        from pyrkt.ioerr import describe

        print(f"rkt: {describe(exc)}", file=sys.stderr)
        return EXIT_ERROR
    except Exception as exc:  # last resort: one line and a debug log, never a traceback
        from pyrkt.cli import lastresort

        if lastresort.expected(exc):
            print(f"rkt: {str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}", file=sys.stderr)
        else:
            print(f"rkt: {lastresort.internal_error('rkt', exc, state_dir)}", file=sys.stderr)
        return EXIT_ERROR
