"""The policy file (`/etc/rktrunner.toml`, rktrunner 1.1's keys): parse, validate, model.

Why a hand-written schema: every mistake must be one line naming the file, the
line and the key (tomllib reports lines only for syntax errors, so `locate`
finds a key's line by scanning the file's table headers and `key =` lines).
Parsing TOML costs ~15 ms of imports (tomllib pulls in `re`, `string`,
`datetime`), more than rkt-run's whole budget, so a validated policy is cached
as `marshal`ed plain data in root's state directory, keyed by the file's
identity (device, inode, size, mtime, ctime): see `load`.
"""

from __future__ import annotations

import os

from pyrkt.runner import template
from pyrkt.runner.errors import ConfigError

CLASSES = ("general", "fetch", "run", "image")
MODES = ("common", "interactive", "batch")

# key -> kind; "table" kinds are checked by their own functions below
TOP = {
    "rkt": "str", "default-interactive-cmd": "str", "preserve-cwd": "bool", "use-path": "bool",
    "worker-pods": "bool", "restrict-images": "bool", "exec-slave-dir": "str",
    "environment": "strmap", "options": "options", "auto-image-prefix": "strmap",
    "volume": "volumes", "alias": "aliases",
}
VOLUME = {"volume": "str", "mount": "str", "on-request": "bool"}
ALIAS = {
    "image": "str", "exec": "strlist", "passwd": "strlist", "group": "strlist", "host-timezone": "bool",
    "environment-update": "strlist", "environment-blacklist": "strlist", "environment": "strmap",
}
_KIND_NAMES = {"str": "a string", "bool": "a boolean", "strlist": "a list of strings", "strmap": "a table of strings",
               "table": "a table"}


def locate(text: str, path: tuple[str, ...]) -> int:
    """The line where the key at `path` is set (or, failing that, its nearest table), 0 if not found."""
    best, best_len = 0, 0
    table: tuple[str, ...] = ()
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] == "#":
            continue
        if line[0] == "[":
            head = line.strip("[").split("]", 1)[0]
            table = _split_key(head)
            here = table
        else:
            key, eq, _ = line.partition("=")
            if not eq:
                continue
            here = table + _split_key(key)
        if here == path:
            return n
        k = 0
        while k < len(here) and k < len(path) and here[k] == path[k]:
            k += 1
        if k == len(here) and k > best_len:
            best, best_len = n, k
    return best


def _split_key(key: str) -> tuple[str, ...]:
    """`a."b.c".d` -> ("a", "b.c", "d"): dots inside quotes belong to the key."""
    parts, cur, quote = [], "", ""
    for ch in key:
        if quote:
            if ch == quote:
                quote = ""
            else:
                cur += ch
        elif ch in "\"'":
            quote = ch
        elif ch == ".":
            parts.append(cur.strip())
            cur = ""
        else:
            cur += ch
    parts.append(cur.strip())
    return tuple(parts)


class _Checker:
    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.text = text

    def fail(self, keys: tuple[str, ...], message: str) -> ConfigError:
        return ConfigError(self.path, locate(self.text, keys), ".".join(keys), message)

    def value(self, keys: tuple[str, ...], kind: str, v: object) -> None:
        ok = {
            "str": isinstance(v, str),
            "bool": isinstance(v, bool),
            "strlist": isinstance(v, list) and all(isinstance(x, str) for x in v),
            "strmap": isinstance(v, dict) and all(isinstance(x, str) for x in v.values()),
            "table": isinstance(v, dict),
        }[kind]
        if not ok:
            if kind == "strmap" and isinstance(v, dict):
                for k, x in v.items():
                    if not isinstance(x, str):
                        raise self.fail(keys + (k,), f"must be a string, not {_type(x)}")
            raise self.fail(keys, f"must be {_KIND_NAMES[kind]}, not {_type(v)}")

    def table(self, keys: tuple[str, ...], v: object, schema: dict[str, str]) -> dict[str, object]:
        self.value(keys, "table", v)
        assert isinstance(v, dict)
        for k, x in v.items():
            kind = schema.get(k)
            if kind is None:
                raise self.fail(keys + (k,), "unknown key")
            if kind in ("str", "bool", "strlist", "strmap"):
                self.value(keys + (k,), kind, x)
        return v

    def tmpl(self, keys: tuple[str, ...], text: str) -> None:
        try:
            template.check(text)
        except template.TemplateError as exc:
            raise self.fail(keys, f"bad template: {exc}") from None


def _type(v: object) -> str:
    return {bool: "a boolean", int: "an integer", float: "a float", str: "a string", list: "an array",
            dict: "a table"}.get(type(v), type(v).__name__)


def validate(path: str, text: str, raw: dict[str, object]) -> None:
    """Raise ConfigError for the first thing rktrunner 1.1 would not accept (or that pyrkt refuses)."""
    c = _Checker(path, text)
    c.table((), raw, TOP)
    if "rkt" not in raw:
        raise ConfigError(path, 0, "rkt", "required key missing (the path of the rkt binary)")
    rkt = raw["rkt"]
    assert isinstance(rkt, str)
    if not os.path.isabs(rkt):
        raise c.fail(("rkt",), f"{rkt!r} must be an absolute path")
    worker = bool(raw.get("worker-pods", False))
    for name, value in _dict(raw.get("environment")).items():
        c.tmpl(("environment", name), str(value))
    for prefix in _dict(raw.get("auto-image-prefix")):
        if not prefix:
            raise c.fail(("auto-image-prefix",), "an empty prefix")
    if "options" in raw:
        opts = raw["options"]
        c.value(("options",), "table", opts)
        for k, v in _dict(opts).items():
            if k in CLASSES:
                _option_list(c, ("options", k), v)
            elif k in MODES:
                c.value(("options", k), "table", v)
                for cls, lst in _dict(v).items():
                    if cls not in CLASSES:
                        raise c.fail(("options", k, cls), f"unknown option class (one of {', '.join(CLASSES)})")
                    _option_list(c, ("options", k, cls), lst)
            else:
                raise c.fail(("options", k), f"unknown key (an option class {'/'.join(CLASSES)} or a mode {'/'.join(MODES)})")
    if "volume" in raw:
        c.value(("volume",), "table", raw["volume"])
        for vid, vol in _dict(raw["volume"]).items():
            keys = ("volume", vid)
            _name(c, keys, vid)
            if worker and vid == "rktrunner-idle":  # pyrkt.runner.worker.IDLE_VOLUME
                raise c.fail(keys, "reserved: the worker pods' idle program is mounted under this name")
            c.table(keys, vol, VOLUME)
            v = _dict(vol)
            if "volume" not in v:
                raise c.fail(keys, "missing key 'volume' (the --volume parameters, e.g. kind=host,source=...)")
            for k in ("volume", "mount"):
                if k in v:
                    c.tmpl(keys + (k,), str(v[k]))
    if "alias" in raw:
        c.value(("alias",), "table", raw["alias"])
        seen: dict[str, str] = {}
        for aid, alias in _dict(raw["alias"]).items():
            keys = ("alias", aid)
            _name(c, keys, aid)
            c.table(keys, alias, ALIAS)
            a = _dict(alias)
            if "image" not in a:
                raise c.fail(keys, "missing key 'image'")
            if str(a["image"]).startswith("-") or not a["image"]:
                raise c.fail(keys + ("image",), f"{a['image']!r} is not an image name")
            for k in ("passwd", "group", "host-timezone"):
                if k in a and not worker:
                    raise c.fail(keys + (k,), "needs worker-pods = true")
            for k in ("passwd", "group"):
                for line in _list(a.get(k)):
                    c.tmpl(keys + (k,), line)
            for name, value in _dict(a.get("environment")).items():
                c.tmpl(keys + ("environment", name), str(value))
            both = set(_list(a.get("environment-update"))) & set(_list(a.get("environment-blacklist")))
            if both:
                raise c.fail(keys + ("environment-blacklist",),
                             f"{sorted(both)[0]} is both in environment-update and environment-blacklist")
            names = [(aid, f"alias {aid!r}")]
            for e in _list(a.get("exec")):
                if not e or e.startswith("-"):
                    raise c.fail(keys + ("exec",), f"{e!r} is not a command")
                names.append((os.path.basename(e), f"exec {e!r} of alias {aid!r}"))
            for n, what in names:
                if n in seen and seen[n] != what:
                    raise c.fail(keys, f"duplicate alias {n!r}: {what} and {seen[n]}")
                seen.setdefault(n, what)


def _option_list(c: _Checker, keys: tuple[str, ...], v: object) -> None:
    c.value(keys, "strlist", v)
    for opt in _list(v):
        if not opt.startswith("-"):
            raise c.fail(keys, f"{opt!r} is not an option (options start with '-')")
        c.tmpl(keys, opt)


def _name(c: _Checker, keys: tuple[str, ...], name: str) -> None:
    if not name or name.startswith("-") or "," in name or "=" in name or "/" in name:
        raise c.fail(keys, f"{name!r} is not a usable name")


def _dict(v: object) -> dict[str, object]:
    return v if isinstance(v, dict) else {}


def _list(v: object) -> list[str]:
    return [str(x) for x in v] if isinstance(v, list) else []


def parse_text(path: str, text: str) -> dict[str, object]:
    """Parse and validate; ConfigError on any problem."""
    import tomllib

    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        line = 0
        if "(at line " in msg:
            tail = msg.rsplit("(at line ", 1)[1]
            line = int(tail.split(",", 1)[0].split(")", 1)[0])
            msg = msg.rsplit(" (at line ", 1)[0]
        elif "(at end of document)" in msg:
            line = text.count("\n") + 1
            msg = msg.replace(" (at end of document)", "")
        raise ConfigError(path, line, "", f"not valid TOML: {msg}") from None
    validate(path, text, raw)
    return raw


def read_policy(path: str) -> tuple[dict[str, object], os.stat_result]:
    """Open without following a final symlink's target change mid-read: stat is of the fd we read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise ConfigError(path, 0, "", f"cannot read the policy file: {exc.strerror}") from None
    try:
        st = os.fstat(fd)
        data = b""
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            data += chunk
    finally:
        os.close(fd)
    try:
        text = data.decode()
    except UnicodeDecodeError:
        raise ConfigError(path, 0, "", "not UTF-8") from None
    return parse_text(path, text), st


def load(path: str, cache_dir: str | None = None) -> "Policy":
    """The policy at `path`, from the marshal cache in `cache_dir` when it matches the file."""
    if cache_dir is None:
        raw, _ = read_policy(path)
        return Policy(raw)
    import marshal

    try:
        st = os.stat(path)
    except OSError as exc:
        raise ConfigError(path, 0, "", f"cannot read the policy file: {exc.strerror}") from None
    key = [path, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]
    cache = os.path.join(cache_dir, "policy-" + path.replace("%", "%25").replace("/", "%2F") + ".marshal")
    try:
        with open(cache, "rb") as f:
            cached = marshal.loads(f.read())
        if isinstance(cached, list) and len(cached) == 2 and cached[0] == key and isinstance(cached[1], dict):
            return Policy(cached[1])
    except (OSError, ValueError, EOFError, TypeError):
        pass
    raw, st2 = read_policy(path)
    key2 = [path, st2.st_dev, st2.st_ino, st2.st_size, st2.st_mtime_ns, st2.st_ctime_ns]
    if key2 == key:
        try:
            tmp = f"{cache}.{os.getpid()}.tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(marshal.dumps([key, raw]))
            os.rename(tmp, cache)
        except (OSError, ValueError):
            pass  # a cache is an optimisation only
    return Policy(raw)


class Volume:
    __slots__ = ("id", "volume", "mount", "on_request")

    def __init__(self, vid: str, raw: dict[str, object]) -> None:
        self.id = vid
        self.volume = str(raw.get("volume", ""))
        m = raw.get("mount")
        self.mount = str(m) if m is not None else None
        self.on_request = bool(raw.get("on-request", False))


class Alias:
    __slots__ = ("id", "image", "exec", "passwd", "group", "host_timezone", "environment_update",
                 "environment_blacklist", "environment")

    def __init__(self, aid: str, raw: dict[str, object]) -> None:
        self.id = aid
        self.image = str(raw["image"])
        self.exec = _list(raw.get("exec"))
        self.passwd = _list(raw.get("passwd"))
        self.group = _list(raw.get("group"))
        self.host_timezone = bool(raw.get("host-timezone", False))
        self.environment_update = _list(raw.get("environment-update"))
        self.environment_blacklist = _list(raw.get("environment-blacklist"))
        self.environment = [(k, str(v)) for k, v in _dict(raw.get("environment")).items()]


class Policy:
    """The validated policy as rkt-run uses it."""

    def __init__(self, raw: dict[str, object]) -> None:
        self.rkt = str(raw["rkt"])
        d = raw.get("default-interactive-cmd")
        self.default_interactive_cmd = str(d) if d else None
        self.preserve_cwd = bool(raw.get("preserve-cwd", False))
        self.use_path = bool(raw.get("use-path", False))
        self.worker_pods = bool(raw.get("worker-pods", False))
        self.restrict_images = bool(raw.get("restrict-images", False))
        self.environment = [(k, str(v)) for k, v in _dict(raw.get("environment")).items()]
        self.prefixes = sorted(((k, str(v)) for k, v in _dict(raw.get("auto-image-prefix")).items()),
                               key=lambda kv: -len(kv[0]))
        opts = _dict(raw.get("options"))
        self.options: dict[str, dict[str, list[str]]] = {}
        for mode in ("interactive", "batch"):
            merged: dict[str, list[str]] = {}
            for cls in CLASSES:
                merged[cls] = _list(opts.get(cls)) + _list(_dict(opts.get("common")).get(cls)) + \
                    _list(_dict(opts.get(mode)).get(cls))
            self.options[mode] = merged
        self.volumes = [Volume(k, _dict(v)) for k, v in sorted(_dict(raw.get("volume")).items())]
        self.aliases = {k: Alias(k, _dict(v)) for k, v in _dict(raw.get("alias")).items()}
        # name -> (alias, exec fixed by that name or None)
        self.names: dict[str, tuple[Alias, str | None]] = {}
        for a in self.aliases.values():
            self.names[a.id] = (a, a.exec[0] if a.exec else None)
            for e in a.exec:
                self.names.setdefault(os.path.basename(e), (a, e))
