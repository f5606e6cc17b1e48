"""The fast lane of `pyrkt-runtime`, tried by its launcher before `runtime.main`.

`start` and `delete` run for every container, and a Python command pays
the interpreter's start (~10 ms here) before anything else; importing
`pyrkt.cli.runtime` (flag tables, the parser, `os`) and `pyrkt.oci.operations`
would add ~6 ms to a job of about 1 ms. This module recognises only the
command lines of those two verbs, and only imports `pyrkt.oci.quick`.
Everything it does not handle, it leaves untouched for `runtime.main`.
"""

def fast_main(argv: list[str]) -> int | None:
    """`start ID` and `delete [--force] ID`, with no global flag but --root,
    --log and --log-format: the plain case through `pyrkt.oci.quick`.

    None: not handled (any other command line, or a container that is not
    in the plain case), nothing done: the caller runs `runtime.main`.
    """
    root, log, log_format = "/run/pyrkt-runtime", "", "text"
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        name, eq, value = argv[i].partition("=")
        if name not in ("--root", "--log", "--log-format"):
            return None
        if not eq:
            if i + 1 >= len(argv):
                return None
            i += 1
            value = argv[i]
        if name == "--root":
            root = value
        elif name == "--log":
            log = value
        else:
            log_format = value
        i += 1
    rest = argv[i:]
    if log_format not in ("text", "json") or not rest or not root.startswith("/"):
        return None
    verb, args = rest[0], rest[1:]
    if verb not in ("start", "delete"):
        return None
    from pyrkt.oci import quick

    try:
        if verb == "start" and len(args) == 1 and not args[0].startswith("-"):
            done = quick.start(root, args[0])
        elif verb == "delete":
            ids = [a for a in args if a not in ("--force", "-f")]
            if len(ids) != 1 or ids[0].startswith("-"):
                return None
            done = quick.delete(root, ids[0])
        else:
            return None
    except quick.QuickFailure as exc:
        from pyrkt.cli.runtime import Context, _fail

        _fail(Context(root, log, log_format, False, False), str(exc))
        return 1
    return 0 if done else None
