"""`rkt enter [--app=NAME] UUID [CMD [ARGS…]]`: run a command in a running app's namespaces and rootfs."""

from __future__ import annotations

from pyrkt.cli.args import Flag, parse
from pyrkt.cli.rkt._podcli import pod_errors
from pyrkt.cli.rkt.common import GlobalOptions, RktError

USAGE = """Usage: rkt enter [--app=APPNAME] [--user=UID [--group=GID]] [--set-env-file=FILE] [--working-dir=DIR] UUID [CMD [ARGS ...]]

Enter the namespaces of an app within a rkt pod (default command /bin/bash, or /bin/sh).
--user/--group/--set-env-file/--working-dir (pyrkt additions, used by rkt-run's worker pods) run
the command as those numeric ids, with those variables added, in that directory.
"""

FLAGS = (Flag("app", takes_value=True), Flag("h,help", dest="help"),
         # pyrkt additions for rkt-run's worker pods (rkt issues 3392/3393): enter as a uid/gid, with env, in a dir
         Flag("user", takes_value=True), Flag("group", takes_value=True),
         Flag("set-env-file", takes_value=True, repeat=True), Flag("working-dir", takes_value=True))


@pod_errors
def main(opts: GlobalOptions, argv: list[str]) -> int:
    values, rest = parse(argv, FLAGS, interspersed=False)
    if values["help"]:
        print(USAGE)
        return 0
    if not rest:
        raise RktError("missing pod UUID")
    from pyrkt.pod.enter import enter  # not pyrkt.pod.pods: the grammar and prepare cost ~4 ms

    app = values["app"]
    env: list[str] = []
    for path in values["set_env_file"]:  # type: ignore[attr-defined]
        try:
            with open(str(path)) as f:
                text = f.read()
        except OSError as exc:
            raise RktError(f"--set-env-file {path}: {exc.strerror}") from None
        env += [line for line in text.splitlines() if line.strip() and line.strip()[0] not in "#;" and "=" in line]
    user, group = values["user"], values["group"]
    for name, v in (("user", user), ("group", group), ("working-dir", values["working_dir"])):
        if v is not None and (not str(v) or (name != "working-dir" and not str(v).isdigit())):
            raise RktError(f"--{name}: {v!r}: use a number" if name != "working-dir" else "--working-dir: empty")
    if values["working_dir"] and not str(values["working_dir"]).startswith("/"):
        raise RktError("--working-dir must be an absolute path")
    return enter(opts.dir, rest[0], str(app) if app else None, rest[1:], user=str(user) if user else None,
                 group=str(group) if group else None, env=env, cwd=str(values["working_dir"] or "") or None)
