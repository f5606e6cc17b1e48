"""The handlers of pyrkt-runtime's verbs other than create, run, start and delete.

They are output formatting over `pyrkt.oci` (state and list as runc prints
them, ps, exec's options, update's resources, events, features). They live
apart from `pyrkt.cli.runtime` so that the per-container verbs (create, run,
start, delete: three of them per container) do not load their code: this
module is imported when one of these verbs is called (see `runtime.main`).
"""

import sys

from pyrkt.cli.args import UsageError
from pyrkt.cli.runtime import Context, _one_id

TYPE_CHECKING = False


def cmd_state(ctx: Context, flags: dict[str, object], args: list[str]) -> int:
    import json

    from pyrkt.oci import operations as ops

    doc = ops.state(ctx.root, _one_id(args, "state"))
    sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    return 0


def cmd_kill(ctx: Context, flags: dict[str, object], args: list[str]) -> int:
    from pyrkt.oci import operations as ops

    if not 1 <= len(args) <= 2:
        raise UsageError('"kill" requires 1 or 2 arguments: <container-id> [signal]')
    sig = ops.parse_signal(args[1]) if len(args) == 2 else 15
    ops.kill(ctx.root, args[0], sig, all_processes=bool(flags["all"]))
    return 0


def cmd_list(ctx: Context, flags: dict[str, object], args: list[str]) -> int:
    from pyrkt.oci import operations as ops

    fmt = flags["format"]
    if fmt not in ("table", "json"):
        raise UsageError(f"invalid format option {fmt!r}: use table or json")
    containers = ops.list_containers(ctx.root)
    if flags["quiet"]:
        for c in containers:
            print(c["id"])
        return 0
    if fmt == "json":
        import json

        for c in containers:
            c["owner"] = _owner(int(c.pop("owner_uid", 0)))  # type: ignore[call-overload]
        print(json.dumps(containers, separators=(",", ":")))  # runc's compact form
        return 0
    rows = [("ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER")]
    for c in containers:
        rows.append((str(c["id"]), str(c["pid"]), str(c["status"]), str(c["bundle"]), str(c.get("created", "")), _owner(int(c.get("owner_uid", 0)))))  # type: ignore[call-overload]
    widths = [max(len(r[i]) for r in rows) for i in range(6)]
    for r in rows:
        print("   ".join(v.ljust(widths[i]) for i, v in enumerate(r)).rstrip())
    return 0


def _owner(uid: int) -> str:
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"#{uid}"


def cmd_spec(ctx: Context, flags: dict[str, object], args: list[str]) -> int:
    from pyrkt.oci.specgen import write_spec

    if args:
        raise UsageError('"spec" takes no arguments')
    write_spec(str(flags["bundle"] or "."), rootless=bool(flags["rootless"]))
    return 0


def cmd_exec(ctx: Context, flags: dict[str, object], args: list[str]) -> int:
    from pyrkt.oci.exec import ExecOptions, execute

    if TYPE_CHECKING:
        from typing import Any

    if not args:
        raise UsageError('"exec" requires a container id (and a command, or --process FILE)')
    try:
        preserve = int(str(flags["preserve_fds"]))
    except ValueError:
        raise UsageError(f"invalid value {flags['preserve_fds']!r} for --preserve-fds") from None
    if not 0 <= preserve <= 1 << 20:
        raise UsageError(f"--preserve-fds {preserve}: not a number of fds a process can have")
    if flags["process"] and len(args) > 1:
        raise UsageError("exec: give either --process FILE or a command, not both")
    kw: dict[str, "Any"] = dict(
        args=args[1:], process_file=flags["process"], detach=bool(flags["detach"]), pid_file=flags["pid_file"],
        tty=bool(flags["tty"]), console_socket=flags["console_socket"], cwd=flags["cwd"], env=flags["env"],
        user=flags["user"], additional_gids=flags["additional_gids"], caps=flags["cap"],
        no_new_privs=bool(flags["no_new_privs"]), preserve_fds=preserve, apparmor=flags["apparmor"],
        process_label=flags["process_label"], ignore_paused=bool(flags["ignore_paused"]), cgroup=flags["cgroup"],
    )
    return execute(ctx.root, args[0], ExecOptions(**kw))


def cmd_ps(ctx: Context, flags: dict[str, object], args: list[str]) -> int:
    from pyrkt.oci.ps import ps

    if not args:
        raise UsageError('"ps" requires a container id')
    sys.stdout.write(ps(ctx.root, args[0], str(flags["format"]), args[1:]))
    return 0


def cmd_pause(ctx: Context, flags: dict[str, object], args: list[str]) -> int:
    from pyrkt.oci.pause import pause

    for container_id in args or [_one_id(args, "pause")]:
        pause(ctx.root, container_id)
    return 0


def cmd_resume(ctx: Context, flags: dict[str, object], args: list[str]) -> int:
    from pyrkt.oci.pause import resume

    for container_id in args or [_one_id(args, "resume")]:
        resume(ctx.root, container_id)
    return 0


def cmd_update(ctx: Context, flags: dict[str, object], args: list[str]) -> int:
    from pyrkt.oci.update import resources_from, update

    container_id = _one_id(args, "update")
    update(ctx.root, container_id, resources_from(flags))
    return 0


def cmd_events(ctx: Context, flags: dict[str, object], args: list[str]) -> int:
    from pyrkt.oci.events import events, parse_duration

    container_id = _one_id(args, "events")
    events(ctx.root, container_id, bool(flags["stats"]), parse_duration(str(flags["interval"])))
    return 0


def cmd_features(ctx: Context, flags: dict[str, object], args: list[str]) -> int:
    import json

    from pyrkt.oci.features import features

    if args:
        raise UsageError('"features" takes no arguments')
    sys.stdout.write(json.dumps(features(), indent=4) + "\n")
    return 0
