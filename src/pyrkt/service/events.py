"""ListenEvents: the events between two snapshots of the pods and images.

There is no daemon that could announce a pod's start: pods are directories
moved by renames (pyrkt.pod.store). So the service snapshots the pods and the
images a few times a second and turns each difference into rkt's events. A
pod that prepared, ran and exited between two snapshots still yields each of
its events, in order. `diff` is pure; the polling is in pyrkt.service.api.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pyrkt.service.imageview import ImageView
from pyrkt.service.podview import PodView

# api.proto EventType
POD_PREPARED, POD_PREPARE_ABORTED, POD_STARTED, POD_EXITED, POD_GARBAGE_COLLECTED = 1, 2, 3, 4, 5
APP_STARTED, APP_EXITED, IMAGE_IMPORTED, IMAGE_REMOVED = 6, 7, 8, 9

EXITED_STATES = ("exited", "exited garbage")


@dataclass(frozen=True)
class PodSnap:
    state: str
    started: bool
    apps: tuple[str, ...]
    exit_codes: tuple[tuple[str, int], ...]


@dataclass
class Snapshot:
    pods: dict[str, PodSnap] = field(default_factory=dict)
    images: dict[str, str] = field(default_factory=dict)  # id -> name


@dataclass(frozen=True)
class EventData:
    type: int
    id: str
    name: str
    data: tuple[tuple[str, str], ...] = ()


def snapshot(pods: list[PodView], images: list[ImageView]) -> Snapshot:
    snap = Snapshot()
    for p in pods:
        codes = tuple((a.name, a.exit_code) for a in p.apps if a.exit_code is not None)
        snap.pods[p.uuid] = PodSnap(p.state, p.started is not None, tuple(a.name for a in p.apps), codes)
    for i in images:
        snap.images[i.id] = i.name
    return snap


def _pod_events(uuid: str, old: PodSnap | None, new: PodSnap) -> list[EventData]:
    out = []
    if new.state == "prepared" and (old is None or old.state != "prepared"):
        out.append(EventData(POD_PREPARED, uuid, uuid))
    if new.state == "aborted prepare" and (old is None or old.state != "aborted prepare"):
        out.append(EventData(POD_PREPARE_ABORTED, uuid, uuid))
    if new.started and not (old and old.started):
        out.append(EventData(POD_STARTED, uuid, uuid))
        out.extend(EventData(APP_STARTED, uuid, app) for app in new.apps)
    before = dict(old.exit_codes) if old else {}
    for app, code in new.exit_codes:
        if app not in before:
            out.append(EventData(APP_EXITED, uuid, app, (("exit_code", str(code)),)))
    if new.state in EXITED_STATES and (old is None or old.state not in EXITED_STATES):
        out.append(EventData(POD_EXITED, uuid, uuid))
    return out


def diff(old: Snapshot, new: Snapshot) -> list[EventData]:
    out: list[EventData] = []
    for uuid, snap in new.pods.items():
        prev = old.pods.get(uuid)
        if prev != snap:
            out.extend(_pod_events(uuid, prev, snap))
    for uuid in old.pods:
        if uuid not in new.pods:
            out.append(EventData(POD_GARBAGE_COLLECTED, uuid, uuid))
    for image_id, name in new.images.items():
        if image_id not in old.images:
            out.append(EventData(IMAGE_IMPORTED, image_id, name))
    for image_id, name in old.images.items():
        if image_id not in new.images:
            out.append(EventData(IMAGE_REMOVED, image_id, name))
    return out


def wanted(ev: EventData, types: list[int], ids: list[str], names: list[str]) -> bool:
    """EventFilter's types, ids and names (each: any of; empty: all)."""
    return (not types or ev.type in types) and (not ids or ev.id in ids) and (not names or ev.name in names)
