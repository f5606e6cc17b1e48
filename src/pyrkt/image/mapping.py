"""Docker/OCI image config -> appc image manifest (docker2aci's mapping).

rkt ran Docker images by converting their config with docker2aci; pyrkt keeps
the same mapping so pods see the same app whatever the image format:
Entrypoint+Cmd -> exec, Env -> environment, User ("user[:group]") -> user and
group (root when unset), WorkingDir -> workingDirectory, ExposedPorts ->
ports named `<port>-<proto>`, Volumes -> mountPoints named `volume-<path>`.
The entrypoint and cmd are also kept as annotations, as docker2aci did, so
`--exec` overrides can keep the entrypoint. Pure: no I/O.
"""

from __future__ import annotations

from pyrkt import fastjson
from pyrkt.image.appc import App, ImageManifest, MountPoint, Port
from pyrkt.image.errors import InvalidManifest
from pyrkt.image.oci import ImageConfig

_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
_SEPARATORS = frozenset("~-_./")


def _runs_replaced(text: str, keep: frozenset[str]) -> str:
    """Every run of characters not in `keep` as one "-" (re.sub("[^…]+", "-") without `re`)."""
    out: list[str] = []
    run = False
    for ch in text:
        if ch in keep:
            out.append(ch)
            run = False
        elif not run:
            out.append("-")
            run = True
    return "".join(out)


def _split_env(items: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    env: dict[str, str] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not key:
            continue
        env[key] = value
    return tuple(env.items())


def parse_user(user: str) -> tuple[str, str]:
    """Docker's `user[:group]` -> (user, group); an unset user or group is root ("0")."""
    name, _, group = user.partition(":")
    return (name or "0", group or "0")


def parse_port(spec: str) -> Port:
    """`80/tcp`, `53/udp`, `8000-8010` -> a Port named `<port>-<proto>`."""
    port_part, _, proto = spec.partition("/")
    proto = (proto or "tcp").lower()
    lo, dash, hi = port_part.partition("-")
    try:
        start = int(lo)
        end = int(hi) if dash else start
    except ValueError:
        raise InvalidManifest(f"image config: exposed port {spec!r} is not PORT[/PROTO]") from None
    if not (0 < start <= end < 65536):
        raise InvalidManifest(f"image config: exposed port {spec!r} out of range")
    name = f"{start}-{proto}" if start == end else f"{start}-{end}-{proto}"
    return Port(name=name, protocol=proto, port=start, count=end - start + 1)


def volume_name(path: str) -> str:
    """docker2aci's mount point name for a Volume: `volume-` and the path as an AC name."""
    body = _runs_replaced(path.lower(), _ALNUM).strip("-")
    return "volume-" + (body or "root")


def config_to_app(cfg: ImageConfig) -> App:
    user, group = parse_user(cfg.user)
    return App(
        exec=tuple(cfg.entrypoint) + tuple(cfg.cmd),
        user=user,
        group=group,
        working_directory=cfg.working_dir,
        environment=_split_env(cfg.env),
        ports=tuple(parse_port(p) for p in cfg.exposed_ports),
        mount_points=tuple(MountPoint(volume_name(v), v) for v in cfg.volumes),
    )


def config_to_manifest(name: str, tag: str | None, cfg: ImageConfig, annotations: dict[str, str] | None = None) -> ImageManifest:
    """The appc manifest docker2aci would have written for this image."""
    labels: dict[str, str] = {}
    if tag:
        labels["version"] = tag
    labels["os"] = cfg.os or "linux"
    if cfg.architecture:
        labels["arch"] = cfg.architecture
    ann = dict(annotations or {})
    if cfg.entrypoint:
        ann["appc.io/docker/entrypoint"] = fastjson.dumps(list(cfg.entrypoint))
    if cfg.cmd:
        ann["appc.io/docker/cmd"] = fastjson.dumps(list(cfg.cmd))
    return ImageManifest(
        name=name,
        labels=tuple(labels.items()),
        app=config_to_app(cfg),
        annotations=tuple(sorted(ann.items())),
    )


def appc_name_for(text: str) -> str:
    """Make any image name (an OCI layout path, a docker repo) a valid AC identifier."""
    name = _runs_replaced(text.lower(), _ALNUM | _SEPARATORS)
    # a run of two or more separators becomes its first one
    out: list[str] = []
    prev = ""
    for ch in name:
        if not (ch in _SEPARATORS and prev in _SEPARATORS):
            out.append(ch)
        prev = ch
    name = "".join(out).strip("~-_./")
    return name or "image"
