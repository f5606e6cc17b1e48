"""From a user's request and the policy to the rkt command line (a list, never a shell string).

The user chooses an image or alias, an exec where the alias leaves it open,
on-request volumes, --set-env values and arguments; everything else comes from
the policy. Arguments always go after `--` and may not be `---` (which would
start a second app), and every user-chosen name is refused if it starts with
`-`, so nothing the user types can become an rkt flag. The environment goes
into an env file, never onto the command line.
"""

from __future__ import annotations

import os

from pyrkt.runner import template
from pyrkt.runner.config import Alias, Policy
from pyrkt.runner.errors import RunnerError

# image references whose meaning is a local file: rkt, as root, would read
# files the user may not be able to read, so a raw image may not be one
_LOCAL_SCHEMES = ("file:", "oci:", "oci-archive:", "docker-archive:", "dir:")


class Request:
    """What the user asked for on rkt-run's command line."""

    __slots__ = ("image", "args", "exec", "volumes", "set_env", "interactive", "no_prefix")

    def __init__(self, image: str, args: list[str] | None = None, exec_: str | None = None,
                 volumes: list[str] | None = None, set_env: list[str] | None = None,
                 interactive: bool = False, no_prefix: bool = False) -> None:
        self.image = image
        self.args = list(args or [])
        self.exec = exec_
        self.volumes = list(volumes or [])
        self.set_env = list(set_env or [])
        self.interactive = interactive
        self.no_prefix = no_prefix


class Identity:
    """The real user: uid/gid from the kernel, name and home from the passwd database."""

    __slots__ = ("uid", "gid", "username", "home")

    def __init__(self, uid: int, gid: int, username: str, home: str) -> None:
        self.uid = uid
        self.gid = gid
        self.username = username
        self.home = home

    @classmethod
    def lookup(cls, uid: int, gid: int) -> "Identity":
        import pwd

        try:
            pw = pwd.getpwuid(uid)
        except KeyError:
            raise RunnerError(f"uid {uid} has no passwd entry") from None
        return cls(uid, gid, pw.pw_name, pw.pw_dir)

    def template_values(self) -> dict[str, str]:
        return {"Username": self.username, "Uid": str(self.uid), "Gid": str(self.gid), "HomeDir": self.home}


class Plan:
    """What to run: the rkt argv (with ENVFILE where the env file's path goes), the env, worker details."""

    __slots__ = ("mode", "image", "alias", "exec", "args", "general", "fetch", "run", "volume_args",
                 "mount_args", "image_opts", "env", "update_env", "cwd", "identity", "passwd", "group",
                 "host_timezone")

    def __init__(self) -> None:
        self.mode = "batch"
        self.image = ""
        self.alias: Alias | None = None
        self.exec: str | None = None
        self.args: list[str] = []
        self.general: list[str] = []
        self.fetch: list[str] = []
        self.run: list[str] = []
        self.volume_args: list[str] = []
        self.mount_args: list[str] = []
        self.image_opts: list[str] = []
        self.env: list[tuple[str, str]] = []
        self.update_env: list[tuple[str, str]] = []
        self.cwd: str | None = None
        self.identity: Identity | None = None
        self.passwd: list[str] = []
        self.group: list[str] = []
        self.host_timezone = False

    def run_argv(self, rkt: str, env_file: str | None) -> list[str]:
        """`rkt [general] run [--interactive] [run] [fetch] [--set-env-file] --volume… IMAGE --mount… [image] --exec X -- ARGS`."""
        argv = [rkt, *self.general, "run"]
        if self.mode == "interactive":
            argv.append("--interactive")
        argv += self.run + self.fetch
        if env_file:
            argv.append(f"--set-env-file={env_file}")
        argv += self.volume_args
        argv.append(self.image)
        argv += self.mount_args + self.app_flags()
        if self.exec is not None:
            argv += ["--exec", self.exec]
        if self.args:
            argv += ["--", *self.args]
        return argv

    def app_flags(self) -> list[str]:
        flags = list(self.image_opts)
        # batch mode: the app reads rkt-run's stdin (scripts behind rkt-run-helper read pipes),
        # unless the policy says otherwise; -i gives it the terminal instead
        if self.mode == "batch" and not any(o == "--stdin" or o.startswith("--stdin=") for o in self.image_opts):
            flags.append("--stdin=stream")
        if self.cwd:
            flags.append(f"--working-dir={self.cwd}")
        ident = self.identity
        if ident is not None:
            if not any(o == "--user" or o.startswith("--user=") for o in self.image_opts):
                flags.append(f"--user={ident.uid}")
            if not any(o == "--group" or o.startswith("--group=") for o in self.image_opts):
                flags.append(f"--group={ident.gid}")
        return flags

    def env_text(self, names: list[tuple[str, str]] | None = None) -> str:
        return "".join(f"{k}={v}\n" for k, v in (self.env if names is None else names))


def check_name(what: str, name: str) -> None:
    if not name:
        raise RunnerError(f"empty {what}")
    if name.startswith("-"):
        raise RunnerError(f"{what} {name!r} starts with '-': refused (it would be read as an rkt flag)")
    if "\n" in name or "\0" in name:
        raise RunnerError(f"{what} {name!r} holds a newline or NUL: refused")


def check_raw_image(image: str) -> None:
    check_name("image", image)
    if image.startswith(("/", ".", "~")) or image.startswith(_LOCAL_SCHEMES):
        raise RunnerError(f"image {image!r} names a local file: only image names and docker:// or https:// "
                          "references may be given (ask for an alias)")


def resolve_image(policy: Policy, req: Request) -> tuple[str, Alias | None, str | None]:
    """(image, alias or None, exec fixed by the alias or its exec basename)."""
    check_name("image or alias", req.image)
    found = policy.names.get(req.image)
    if found is not None:
        alias, fixed = found
        return alias.image, alias, fixed
    if policy.restrict_images:
        raise RunnerError(f"{req.image!r} is not an alias, and this system's policy allows aliases only "
                          "(restrict-images); rkt-run -l lists them")
    check_raw_image(req.image)
    image = req.image
    if not req.no_prefix:
        for prefix, repl in policy.prefixes:
            if image.startswith(prefix):
                image = repl + image[len(prefix):]
                break
    check_raw_image(image)
    return image, None, None


def build(policy: Policy, req: Request, ident: Identity, user_env: dict[str, str], cwd: str | None) -> Plan:
    """The Plan for `req`; RunnerError/TemplateError (as RunnerError) for anything refused."""
    plan = Plan()
    plan.identity = ident
    plan.mode = "interactive" if req.interactive else "batch"
    plan.image, plan.alias, fixed = resolve_image(policy, req)
    for a in req.args:
        if a == "---":
            raise RunnerError("argument '---' refused: it would start a second app")
    plan.args = req.args
    if req.exec is not None:
        check_name("exec", req.exec)
        if fixed is not None:
            raise RunnerError(f"alias {req.image!r} fixes the command ({fixed}): --exec is not allowed with it")
        plan.exec = req.exec
    else:
        plan.exec = fixed
    if plan.exec is None and req.interactive and policy.default_interactive_cmd:
        plan.exec = policy.default_interactive_cmd
    ctx = template.Context(ident.template_values(), user_env)
    try:
        _fill(policy, req, plan, ctx)
    except template.TemplateError as exc:
        raise RunnerError(str(exc)) from None
    if policy.preserve_cwd and cwd:
        plan.cwd = cwd
    return plan


def _fill(policy: Policy, req: Request, plan: Plan, ctx: template.Context) -> None:
    opts = policy.options[plan.mode]

    def render_opts(cls: str) -> list[str]:
        return [ctx.render(o, forbid_from_env=",\n\0", forbid_any="\n\0", what=f"the {cls} option {o!r}")[0]
                for o in opts[cls]]

    plan.general = render_opts("general")
    plan.fetch = render_opts("fetch")
    plan.run = render_opts("run")
    plan.image_opts = render_opts("image")
    ids = {v.id: v for v in policy.volumes}
    for vid in req.volumes:
        check_name("volume", vid)
        v = ids.get(vid)
        if v is None:
            raise RunnerError(f"no volume {vid!r} in the policy")
        if not v.on_request:
            raise RunnerError(f"volume {vid!r} is not an on-request volume (it is always mounted)")
    for v in policy.volumes:
        if v.on_request and v.id not in req.volumes:
            continue
        what = f"volume {v.id}"
        params = ctx.render(v.volume, forbid_any=",=\n\0", what=what)[0]
        plan.volume_args += ["--volume", f"{v.id},{params}"]
        if v.mount is not None:
            mount = ctx.render(v.mount, forbid_any=",=\n\0", what=f"the mount of {what}")[0]
            plan.mount_args += ["--mount", f"volume={v.id},{mount}" if mount else f"volume={v.id}"]
    alias = plan.alias
    blacklist = set(alias.environment_blacklist) if alias else set()
    env: dict[str, str] = {}
    for name, text in policy.environment:
        value = ctx.render(text, forbid_any="\n\0", what=f"environment variable {name}")[0]
        if value and name not in blacklist:
            env[name] = value
    if alias:
        for name, text in alias.environment:
            value = ctx.render(text, forbid_any="\n\0", what=f"environment variable {name}")[0]
            if value:
                env[name] = value
        plan.passwd = [ctx.render(x, forbid_any="\n\0", what="a passwd line")[0] for x in alias.passwd]
        plan.group = [ctx.render(x, forbid_any="\n\0", what="a group line")[0] for x in alias.group]
        plan.host_timezone = alias.host_timezone
        updates = set(alias.environment_update)
        plan.update_env = [(k, v) for k, v in env.items() if k in updates]
    for pair in req.set_env:
        name, eq, value = pair.partition("=")
        if not eq or not name or not all(c.isalnum() or c == "_" for c in name) or name[0].isdigit():
            raise RunnerError(f"--set-env {pair!r}: use NAME=VALUE with a NAME of letters, digits and '_'")
        if "\n" in value or "\0" in value:
            raise RunnerError(f"--set-env {name}: a newline or NUL in the value is refused")
        if name in blacklist:
            raise RunnerError(f"--set-env {name}: blacklisted for alias {alias.id if alias else ''}")
        env[name] = value
    plan.env = list(env.items())


def quote(arg: str) -> str:
    """Shell-quote for display (-v): the seed's line shows plain words unquoted."""
    safe = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@%+=:,./-_"
    if arg and all(c in safe for c in arg):
        return arg
    return "'" + arg.replace("'", "'\"'\"'") + "'"


def display(argv: list[str]) -> str:
    return "# " + " ".join(quote(a) for a in argv)


def list_aliases(policy: Policy) -> list[str]:
    """`-l`: sorted `name = -e exec image` lines (exec basenames included)."""
    out = []
    for name in sorted(policy.names):
        alias, fixed = policy.names[name]
        out.append(f"{name} = -e {fixed} {alias.image}" if fixed else f"{name} = {alias.image}")
    return out


__all__ = ["Request", "Identity", "Plan", "build", "display", "list_aliases", "quote", "check_name", "os"]
