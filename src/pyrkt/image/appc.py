"""The appc image manifest (schema 0.8.11) as dataclasses.

Every image in the store has one: ACIs carry it, and Docker/OCI images get
one from their config by the docker2aci mapping (`pyrkt.image.mapping`), so
`rkt image cat-manifest` and the pod code see one shape for both.
`ImageManifest.from_json` validates what a pod relies on and names the field
that is wrong; unknown fields are kept in `extra` so nothing is lost on a
round trip.
"""

from __future__ import annotations

from pyrkt.image.errors import InvalidManifest
from pyrkt.image.reference import is_ac_name
from pyrkt import fastjson  # json's results through _json alone: `import json` pulls in re (~6 ms)
from pyrkt.records import dataclass, field

TYPE_CHECKING = False  # typing costs ~4 ms at import; annotations are strings here
if TYPE_CHECKING:
    from typing import Any

AC_KIND = "ImageManifest"
AC_VERSION = "0.8.11"


def _need(obj: Any, key: str, typ: type | tuple[type, ...], where: str, required: bool = True) -> Any:
    if not isinstance(obj, dict):
        raise InvalidManifest(f"{where}: expected an object")
    if key not in obj or obj[key] is None:
        if required:
            raise InvalidManifest(f"{where}: missing field {key!r}")
        return None
    value = obj[key]
    if typ is int and isinstance(value, bool) or not isinstance(value, typ):
        tname = typ.__name__ if isinstance(typ, type) else "/".join(t.__name__ for t in typ)
        raise InvalidManifest(f"{where}.{key}: expected {tname}, got {type(value).__name__}")
    return value


def _ac_name(value: str, where: str) -> str:
    if not is_ac_name(value):
        raise InvalidManifest(f"{where}: {value!r} is not a valid AC identifier")
    return value


def _str_list(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidManifest(f"{where}: expected a list of strings")
    return tuple(value)


@dataclass(frozen=True)
class Port:
    name: str
    protocol: str
    port: int
    count: int = 1
    socket_activated: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "protocol": self.protocol, "port": self.port, "count": self.count, "socketActivated": self.socket_activated}


@dataclass(frozen=True)
class MountPoint:
    name: str
    path: str
    read_only: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "path": self.path, "readOnly": self.read_only}


@dataclass(frozen=True)
class App:
    """What to run: the part of an image manifest the pod code needs."""

    exec: tuple[str, ...] = ()
    user: str = "0"
    group: str = "0"
    supplementary_gids: tuple[int, ...] = ()
    working_directory: str = ""
    environment: tuple[tuple[str, str], ...] = ()
    ports: tuple[Port, ...] = ()
    mount_points: tuple[MountPoint, ...] = ()
    isolators: tuple[dict[str, Any], ...] = ()

    @property
    def env(self) -> dict[str, str]:
        return dict(self.environment)

    @classmethod
    def from_json(cls, obj: Any, where: str = "app") -> "App":
        exec_ = _str_list(obj.get("exec") if isinstance(obj, dict) else None, f"{where}.exec")
        user = _need(obj, "user", str, where)
        group = _need(obj, "group", str, where)
        if not user or not group:
            raise InvalidManifest(f"{where}: user and group must not be empty")
        env: list[tuple[str, str]] = []
        for i, item in enumerate(_need(obj, "environment", list, where, False) or []):
            env.append((_need(item, "name", str, f"{where}.environment[{i}]"), _need(item, "value", str, f"{where}.environment[{i}]")))
        ports = []
        for i, item in enumerate(_need(obj, "ports", list, where, False) or []):
            w = f"{where}.ports[{i}]"
            port = _need(item, "port", int, w)
            if not 0 < port < 65536:
                raise InvalidManifest(f"{w}.port: {port} out of range")
            ports.append(Port(_need(item, "name", str, w), _need(item, "protocol", str, w), port, _need(item, "count", int, w, False) or 1, bool(item.get("socketActivated", False))))
        mps = []
        for i, item in enumerate(_need(obj, "mountPoints", list, where, False) or []):
            w = f"{where}.mountPoints[{i}]"
            mps.append(MountPoint(_need(item, "name", str, w), _need(item, "path", str, w), bool(item.get("readOnly", False))))
        gids = tuple(_need(obj, "supplementaryGIDs", list, where, False) or [])
        if not all(isinstance(g, int) and not isinstance(g, bool) for g in gids):
            raise InvalidManifest(f"{where}.supplementaryGIDs: expected integers")
        return cls(
            exec=exec_,
            user=user,
            group=group,
            supplementary_gids=gids,
            working_directory=_need(obj, "workingDirectory", str, where, False) or "",
            environment=tuple(env),
            ports=tuple(ports),
            mount_points=tuple(mps),
            isolators=tuple(_need(obj, "isolators", list, where, False) or []),
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.exec:
            out["exec"] = list(self.exec)
        out["user"] = self.user
        out["group"] = self.group
        if self.supplementary_gids:
            out["supplementaryGIDs"] = list(self.supplementary_gids)
        if self.working_directory:
            out["workingDirectory"] = self.working_directory
        if self.environment:
            out["environment"] = [{"name": k, "value": v} for k, v in self.environment]
        if self.ports:
            out["ports"] = [p.to_json() for p in self.ports]
        if self.mount_points:
            out["mountPoints"] = [m.to_json() for m in self.mount_points]
        if self.isolators:
            out["isolators"] = list(self.isolators)
        return out


@dataclass(frozen=True)
class Dependency:
    """An image this ACI is layered on, by name and labels, optionally pinned by ID."""

    name: str
    image_id: str | None = None
    labels: tuple[tuple[str, str], ...] = ()
    size: int | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"imageName": self.name}
        if self.image_id:
            out["imageID"] = self.image_id
        if self.labels:
            out["labels"] = [{"name": k, "value": v} for k, v in self.labels]
        if self.size is not None:
            out["size"] = self.size
        return out


@dataclass(frozen=True)
class ImageManifest:
    """An appc image manifest."""

    name: str
    labels: tuple[tuple[str, str], ...] = ()
    app: App | None = None
    dependencies: tuple[Dependency, ...] = ()
    path_whitelist: tuple[str, ...] = ()
    annotations: tuple[tuple[str, str], ...] = ()
    ac_version: str = AC_VERSION
    extra: tuple[tuple[str, Any], ...] = field(default=(), compare=False)

    @property
    def label_map(self) -> dict[str, str]:
        return dict(self.labels)

    @property
    def version(self) -> str | None:
        return self.label_map.get("version")

    @classmethod
    def from_json(cls, obj: Any) -> "ImageManifest":
        w = "image manifest"
        if not isinstance(obj, dict):
            raise InvalidManifest(f"{w}: expected a JSON object")
        kind = _need(obj, "acKind", str, w)
        if kind != AC_KIND:
            raise InvalidManifest(f"{w}.acKind: expected {AC_KIND!r}, got {kind!r}")
        ac_version = _need(obj, "acVersion", str, w)
        name = _ac_name(_need(obj, "name", str, w), f"{w}.name")
        labels = []
        for i, item in enumerate(_need(obj, "labels", list, w, False) or []):
            labels.append((_need(item, "name", str, f"{w}.labels[{i}]"), _need(item, "value", str, f"{w}.labels[{i}]")))
        if len({k for k, _ in labels}) != len(labels):
            raise InvalidManifest(f"{w}.labels: duplicate label names")
        app = App.from_json(obj["app"], f"{w}.app") if obj.get("app") is not None else None
        deps = []
        for i, item in enumerate(_need(obj, "dependencies", list, w, False) or []):
            dw = f"{w}.dependencies[{i}]"
            dlabels = tuple((_need(lb, "name", str, dw), _need(lb, "value", str, dw)) for lb in (_need(item, "labels", list, dw, False) or []))
            deps.append(Dependency(_ac_name(_need(item, "imageName", str, dw), f"{dw}.imageName"), _need(item, "imageID", str, dw, False), dlabels, _need(item, "size", int, dw, False)))
        annotations = []
        for i, item in enumerate(_need(obj, "annotations", list, w, False) or []):
            annotations.append((_need(item, "name", str, f"{w}.annotations[{i}]"), _need(item, "value", str, f"{w}.annotations[{i}]")))
        known = {"acKind", "acVersion", "name", "labels", "app", "dependencies", "pathWhitelist", "annotations"}
        return cls(
            name=name,
            labels=tuple(labels),
            app=app,
            dependencies=tuple(deps),
            path_whitelist=_str_list(obj.get("pathWhitelist"), f"{w}.pathWhitelist"),
            annotations=tuple(annotations),
            ac_version=ac_version,
            extra=tuple((k, v) for k, v in obj.items() if k not in known),
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> "ImageManifest":
        try:
            obj = fastjson.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidManifest(f"image manifest is not valid JSON: {exc}") from None
        return cls.from_json(obj)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"acKind": AC_KIND, "acVersion": self.ac_version, "name": self.name}
        if self.labels:
            out["labels"] = [{"name": k, "value": v} for k, v in self.labels]
        if self.app is not None:
            out["app"] = self.app.to_json()
        if self.dependencies:
            out["dependencies"] = [d.to_json() for d in self.dependencies]
        if self.path_whitelist:
            out["pathWhitelist"] = list(self.path_whitelist)
        if self.annotations:
            out["annotations"] = [{"name": k, "value": v} for k, v in self.annotations]
        out.update(dict(self.extra))
        return out

    def to_bytes(self) -> bytes:
        return fastjson.dumps(self.to_json()).encode()
