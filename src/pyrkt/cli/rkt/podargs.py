"""The command line of `rkt run`, `rkt prepare` and `rkt run-prepared`: one flag table.

The grammar (rkt's): `[pod flags] IMAGE [per-app flags] [-- ARGS… [---]] IMAGE …`.
Pod flags may stand anywhere before `--`; a per-app flag applies to the image
before it; a `--mount` before the first image applies to every app; `--`
starts the preceding image's arguments and `---` ends them.

Every flag is one row of FLAGS: its name, its scope, how it repeats, its parse
function, where its value goes, and its help. Everything else is derived from
the rows, as mkosi derives its parser, help and checks from its SETTINGS: which
command takes a flag (the scope), whether it takes a value (a boolean row's
parse is `_bool`: `--flag` alone is true), how a repeat adds up, the `--help`
text, run-prepared's flags, and the errors ("unknown flag", "must follow an
image", "needs an argument"). No other code names these flags.

Scopes: APP (applies to the image before it), POD (run and prepare), RUN (run
only), PREPARE (prepare only). A row marked `rp` is also a run-prepared flag
(run-prepared picks a pod's network, DNS and host name when it runs).
Repeats: ONE (the last one counts), MANY (each one is added), LIST (each
comma-separated item is added: `--net=a,b --net=c`).

Where the values go: the pod layer keeps them — `PodSpec`, `AppSpec`,
`Volume`, `Mount` and the parser of each value are `pyrkt.pod.grammar`'s; what
only this command line uses (`--quiet`, `--logs`, the ignored `--stage1-*`)
goes to `Options` here, not into the domain's PodSpec.

Why the table is here and rkt-run does not import it: rkt-run's command-line
builder (`pyrkt.runner.command`) sits below the CLI (DESIGN.md: cli → runner →
pod), so it may not import this module; and moving the table down into pod/
would put the command line's spellings, help and CLI-only flags back into the
domain, which is what this module took out of it. The builder writes a fixed
handful of these flags (--volume, --mount, --set-env-file, --interactive,
--exec, --working-dir, --user, --group, --stdin, --name); the runner tests
parse every command line it builds with this table
(tests/runner/test_runner_grammar.py), so a flag renamed or re-scoped here
fails there. That also keeps the table's import off rkt-run's start-up.

Hot path: `rkt run` imports this module, so no dataclasses, typing or re
(plain classes with __slots__, the TYPE_CHECKING idiom of bench/README.md).
"""

from __future__ import annotations

from pyrkt.cli.args import flag_value
from pyrkt.pod import grammar as g
from pyrkt.pod.grammar import AppSpec, GrammarError, PodSpec

TYPE_CHECKING = False  # typing costs ~4 ms at import, on every `rkt run`; annotations are strings
if TYPE_CHECKING:
    from typing import Callable

    Parse = Callable[[str, str], object]

APP, POD, RUN, PREPARE = "app", "pod", "run", "prepare"
ONE, MANY, LIST = "one", "many", "list"

# scope -> the commands that take a flag of it
SCOPE_COMMANDS = {APP: ("run", "prepare"), POD: ("run", "prepare"), RUN: ("run",), PREPARE: ("prepare",)}


class Options:
    """What only the command line uses: never part of the pod (PodSpec) the pod layer sees."""

    __slots__ = ("quiet", "logs", "stage1")

    def __init__(self) -> None:
        self.quiet = False  # prepare: print the UUID only (pyrkt prints nothing else anyway)
        self.logs = False  # run: accepted (the apps' output reaches the terminal either way)
        self.stage1: list[tuple[str, str]] = []  # --stage1-*: accepted and ignored with a warning


class Row:
    """One flag: its name (a tuple: the name and its aliases), scope, repeats, parse, help; `dest` is the
    attribute it sets (default: the name with `_` for `-`). Cheap to build: every rkt run builds the table."""

    __slots__ = ("names", "scope", "repeats", "parse", "metavar", "help", "dest", "cli", "rp")

    def __init__(self, names: str | tuple[str, ...], scope: str, repeats: str, parse: Parse, metavar: str, help: str,
                 dest: str = "", cli: bool = False, rp: bool = False) -> None:
        self.names = (names,) if isinstance(names, str) else names
        self.scope = scope
        self.repeats = repeats
        self.parse = parse
        self.metavar = metavar
        self.help = help
        self.dest = dest or self.names[0].replace("-", "_")
        self.cli = cli  # the value goes to Options, not to the pod
        self.rp = rp  # also a flag of run-prepared

    @property
    def takes_value(self) -> bool:
        return self.parse is not _bool


# -- the parse functions of the rows: (text, "--flag") -> value, GrammarError with one line ------------

def _bool(text: str, flag: str) -> bool:
    return g.parse_bool(text, flag)


def _text(text: str, flag: str) -> str:
    return text


def _nonempty(text: str, flag: str) -> str:
    if not text:
        raise GrammarError(f"{flag}: empty value")
    return text


def _absolute(text: str, flag: str) -> str:
    if not text.startswith("/"):
        raise GrammarError(f"{flag}: {text!r} must be an absolute path")
    return text


def _int(text: str, flag: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise GrammarError(f"{flag}: {text!r} is not a number") from None


def _oom_score_adj(text: str, flag: str) -> int:
    value = _int(text, flag)
    if not -1000 <= value <= 1000:
        raise GrammarError(f"{flag}: {value} is outside -1000..1000")
    return value


def _gids(text: str, flag: str) -> tuple[int, ...]:
    try:
        return tuple(int(gid) for gid in text.split(",") if gid.strip())
    except ValueError:
        raise GrammarError(f"{flag}: {text!r} is not a list of numbers") from None


def _one_of(*choices: str) -> Parse:
    def parse(text: str, flag: str) -> str:
        if text not in choices:
            raise GrammarError(f"{flag}: {text!r} is not one of {', '.join(choices)}")
        return text
    return parse


def _net_check(check: str, value: object) -> None:
    """Run pyrkt.net.spec's parser `check` on `value` (imported when used): its error as a GrammarError."""
    from pyrkt.net import spec as netspec

    try:
        getattr(netspec, check)(value)
    except netspec.NetSpecError as exc:
        raise GrammarError(str(exc)) from None


def _hosts_entry(text: str, flag: str) -> str:
    """--hosts-entry, --net, --port: checked by pyrkt.net.spec's parsers, kept as given."""
    _net_check("parse_hosts_entry", text)
    return text


def _nets(text: str, flag: str) -> list[str]:
    _net_check("parse_nets", [text])
    return [n for n in text.split(",") if n]


def _port(text: str, flag: str) -> str:
    _net_check("parse_port", text)
    return text


def _stage1(text: str, flag: str) -> tuple[str, str]:
    return flag[2:], text


FLAGS: tuple[Row, ...] = (
    # name                 scope    repeats parse                                metavar / help
    Row("volume", POD, MANY, lambda t, f: g.parse_volume(t), "NAME,kind=host,source=PATH[,readOnly=BOOL][,recursive=BOOL]",
        "a volume; or NAME,kind=empty[,mode=0755][,uid=0][,gid=0]", dest="volumes"),
    Row("set-env", POD, MANY, g.parse_env_pair, "NAME=VALUE", "an environment variable for every app"),
    Row("set-env-file", POD, MANY, _text, "FILE", "NAME=VALUE lines for every app (# and ; start comments)",
        dest="set_env_files"),
    Row("inherit-env", POD, ONE, _bool, "", "the apps get rkt's environment"),
    Row("interactive", RUN, ONE, _bool, "", "the app gets the terminal (one app only)", rp=True),
    Row("hostname", POD, ONE, lambda t, f: g.parse_hostname(t), "NAME", "the pod's host name (default rkt-<uuid>)",
        rp=True),
    Row("dns", POD, MANY, _text, "IP", "a name server, or host (the host's resolv.conf) or none", rp=True),
    Row("dns-search", POD, MANY, _text, "DOMAIN", "a search domain in resolv.conf", rp=True),
    Row("dns-opt", POD, MANY, _text, "OPT", "a resolv.conf option", rp=True),
    Row("dns-domain", POD, ONE, _text, "DOMAIN", "the local domain in resolv.conf", rp=True),
    Row("hosts-entry", POD, MANY, _hosts_entry, "IP=HOSTNAME",
        "an /etc/hosts line, or host (the host's /etc/hosts)", dest="hosts_entries"),
    Row("net", POD, LIST, _nets, "NET[,NET…]",
        "default, default-restricted, host, none, all, or NAME[:K=V;…] from <local-config>/net.d", rp=True),
    Row("port", POD, MANY, _port, "NAME:[HOSTIP:]HOSTPORT", "forward a host port to an app's port",
        dest="ports"),
    Row("ipc", POD, ONE, _one_of("auto", "private", "parent"), "auto|private|parent", "the pod's IPC namespace"),
    Row("no-overlay", POD, ONE, _bool, "", "copy each image's tree instead of an overlay mount"),
    Row("private-users", POD, ONE, _bool, "", "run the pod in a user namespace (a private uid range)"),
    Row("pull-policy", POD, ONE, _one_of("new", "update", "never"), "new|update|never",
        "fetch images not stored (new), always (update) or never"),
    Row("uuid-file-save", POD, ONE, _text, "FILE", "write the pod's UUID to FILE"),
    Row("pod-manifest", POD, ONE, _text, "FILE", "run the apps of an appc pod manifest (no images then)"),
    Row("mds-register", RUN, ONE, _bool, "", "register the pod with `rkt metadata-service` (not with --net=host)",
        rp=True),
    Row("quiet", PREPARE, ONE, _bool, "", "print the pod's UUID only", cli=True),
    Row("logs", RUN, ONE, _bool, "", "accepted: the apps' output reaches the terminal", cli=True),
    *(Row(f"stage1-{kind}", POD, MANY, _stage1, "VALUE", "accepted and ignored: pyrkt has one built-in stage1",
          dest="stage1", cli=True) for kind in ("url", "path", "name", "hash", "from-dir")),
    # per-app flags: they apply to the image before them
    Row("exec", APP, ONE, _text, "PATH", "the app's command (its arguments go after --)"),
    Row("name", APP, ONE, g.check_ac_name, "NAME", "the app's name (default: from its image)"),
    Row("user", APP, ONE, _nonempty, "UID|NAME", "run the app as this user"),
    Row("group", APP, ONE, _nonempty, "GID|NAME", "run the app as this group"),
    Row("supplementary-gids", APP, ONE, _gids, "GID[,GID…]", "the app's supplementary groups"),
    Row("working-dir", APP, ONE, _absolute, "DIR", "the app's working directory"),
    Row("readonly-rootfs", APP, ONE, _bool, "", "the app's root filesystem is read-only"),
    Row("mount", APP, MANY, lambda t, f: g.parse_mount(t), "volume=NAME,target=PATH",
        "mount a volume into the app (before the first image: into every app)", dest="mounts"),
    Row("environment", APP, MANY, g.parse_env_pair, "NAME=VALUE", "an environment variable for this app"),
    Row("user-annotation", APP, MANY, g.parse_env_pair, "NAME=VALUE", "an annotation of the app",
        dest="user_annotations"),
    Row("user-label", APP, MANY, g.parse_env_pair, "NAME=VALUE", "a label of the app", dest="user_labels"),
    Row("cpu", APP, ONE, lambda t, f: g.parse_cpu(t), "CPU", "CPU limit (500m, 2)"),
    Row("memory", APP, ONE, g.parse_quantity, "BYTES", "memory limit (128M, 1Gi)"),
    Row("cpu-shares", APP, ONE, _int, "N", "relative CPU weight"),
    Row("caps-retain", APP, ONE, g.parse_caps, "CAP[,CAP…]", "keep only these capabilities"),
    Row("caps-remove", APP, ONE, g.parse_caps, "CAP[,CAP…]", "drop these capabilities"),
    Row("seccomp", APP, ONE, lambda t, f: g.parse_seccomp(t), "mode=retain|remove[,errno=E],SYSCALL|@GROUP,…",
        "the app's seccomp filter"),
    Row(("oom-score-adj", "oom-score-adjust"), APP, ONE, _oom_score_adj, "N", "the app's OOM score adjustment (-1000..1000)"),
    Row("signature", APP, ONE, _text, "FILE", "the image's detached signature"),
    *(Row(stream, APP, ONE, _one_of(*modes), "|".join(modes), f"the app's {stream}")
      for stream, modes in g.STDIO_MODES.items()),
)

BY_NAME: dict[str, Row] = {name: row for row in FLAGS for name in row.names}


# -- parsing ---------------------------------------------------------------------------------------

def _store(target: object, row: Row, value: object) -> None:
    if row.repeats == ONE:
        setattr(target, row.dest, value)
    else:
        current = getattr(target, row.dest)
        if current is None:  # PodSpec.net: None until a --net is given
            current = []
            setattr(target, row.dest, current)
        if row.repeats == LIST:
            current.extend(value)
        else:
            current.append(value)


def _row(name: str, command: str) -> Row:
    row = BY_NAME.get(name)
    if row is None or (not row.rp if command == "run-prepared" else command not in SCOPE_COMMANDS[row.scope]):
        raise GrammarError(f"unknown flag: --{name}")
    return row


def parse(argv: list[str], command: str = "run") -> tuple[PodSpec, Options, list[str], set[str]] | None:
    """`command`'s arguments: (pod, options, positional arguments, the dests given), or None for --help.

    run and prepare: each positional argument is an image (an AppSpec of the
    pod); run-prepared takes flags and returns its positional arguments (the
    UUID) instead.
    """
    pod = PodSpec()
    opts = Options()
    given: set[str] = set()
    positional: list[str] = []
    current: AppSpec | None = None
    images = command != "run-prepared"
    i = 0
    n = len(argv)
    while i < n:
        arg = argv[i]
        i += 1
        if arg in ("-h", "--help"):
            return None
        if arg == "---":
            raise GrammarError("--- without a preceding IMAGE -- ARGS")
        if arg == "--":
            if current is None:
                raise GrammarError("-- with no image before it")
            while i < n and argv[i] != "---":  # the app's arguments, up to `---`
                current.args.append(argv[i])
                i += 1
            i += 1  # skip --- (a trailing one is harmless)
            continue
        if len(arg) < 2 or arg[0] != "-":
            if images:
                current = AppSpec(image=arg)
                pod.apps.append(current)
            else:
                positional.append(arg)
            continue
        name, eq, inline = (arg[2:] if arg[1] == "-" else arg[1:]).partition("=")
        row = _row(name, command)
        flag = f"--{name}"
        if row.takes_value:
            text, i = flag_value(argv, i, flag, eq, inline, GrammarError)
            value = row.parse(text, flag)
        else:  # a boolean: true alone, or what follows its `=`
            value = row.parse(inline, flag) if eq else True
        given.add(row.dest)
        if row.scope != APP:
            _store(opts if row.cli else pod, row, value)
        elif current is not None:
            _store(current, row, value)
        elif row.dest == "mounts":
            pod.mounts_all.append(value)  # type: ignore[arg-type]
        else:
            raise GrammarError(f"{flag} must follow an image (it applies to the image before it)")
    _validate(pod, command)
    return pod, opts, positional, given


def _validate(pod: PodSpec, command: str) -> None:
    """The rules between flags (each value was checked by its row's parse)."""
    if command != "run-prepared" and not pod.apps and not pod.pod_manifest:
        raise GrammarError("at least one image is required")
    if pod.interactive and len(pod.apps) > 1:
        raise GrammarError("--interactive can only be used with a single image")
    names = [a.name for a in pod.apps if a.name]
    if len(names) != len(set(names)):
        raise GrammarError("two apps have the same --name")
    volumes = [v.name for v in pod.volumes]
    for k, name in enumerate(volumes):
        if name in volumes[:k]:
            raise GrammarError(f"--volume: volume {name!r} given twice")
    if pod.net is not None:
        from pyrkt.net import spec as netspec

        try:
            netspec.parse_nets(pod.net)  # the whole list: `none` with another, `all` twice, …
        except netspec.NetSpecError as exc:
            raise GrammarError(str(exc)) from None
    for app in pod.apps:
        if app.caps_retain is not None and app.caps_remove is not None:
            raise GrammarError("--caps-retain and --caps-remove cannot be used together")


def parse_pod_args(argv: list[str], command: str = "run") -> PodSpec:
    """The pod of `rkt run`/`rkt prepare` arguments (tests and callers that need no Options)."""
    parsed = parse(argv, command)
    if parsed is None:
        raise GrammarError("--help is not a pod")
    return parsed[0]


# -- help ------------------------------------------------------------------------------------------

def _lines(rows: list[Row]) -> str:
    out = []
    for row in rows:
        spelled = f"--{row.names[0]}" + (f"={row.metavar}" if row.metavar else "")
        more = " (repeatable)" if row.repeats != ONE else ""
        more += "".join(f" (also --{alias})" for alias in row.names[1:])
        out.append(f"  {spelled}\n      {row.help}{more}")
    return "\n".join(out)


_USAGES = {
    "run": ("rkt run [flags] IMAGE [per-app flags] [-- image-args... [---]] [IMAGE ...]", "Run image(s) in a pod in rkt."),
    "prepare": ("rkt prepare [flags] IMAGE [per-app flags] [-- image-args... [---]] [IMAGE ...]",
                "Prepare to run image(s) in a pod in rkt; prints the pod UUID (run it with `rkt run-prepared`)."),
    "run-prepared": ("rkt run-prepared [flags] UUID",
                     "Run a prepared application pod in rkt. These flags override what `rkt prepare` was given."),
}


def usage(command: str) -> str:
    """`rkt COMMAND --help`, written from the rows the command takes."""
    synopsis, what = _USAGES[command]
    if command == "run-prepared":
        return f"Usage: {synopsis}\n\n{what}\n\nFlags:\n{_lines([r for r in FLAGS if r.rp])}\n"
    pod = [r for r in FLAGS if r.scope != APP and command in SCOPE_COMMANDS[r.scope]]
    app = [r for r in FLAGS if r.scope == APP]
    return (f"Usage: {synopsis}\n\n{what}\n\nPod flags (anywhere before --):\n{_lines(pod)}\n\n"
            f"Per-app flags (after the image they apply to; --mount before the first image: every app):\n{_lines(app)}\n")
