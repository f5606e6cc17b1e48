"""What the API service knows about pods: a snapshot read from `pods/`, never a write.

Why not `PodStore.all()` plus `Pod.state`: `Pod.is_locked` probes the pod's
flock by taking it for an instant, and a `rkt run-prepared` or `rkt gc` that
tries the lock at that instant would fail or skip the pod. A service polling
every pod several times a second would make that likely, so here a pod's lock
is read from /proc/locks, which takes nothing.

A pod may move or vanish while it is read (`rkt gc`, a pod exiting): its
files are read, then its directory is checked again; a pod that moved is read
once more where it went, and one that vanished is left out.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

from pyrkt.pod.store import STATE_DIRS, state_of

# rkt's state names -> the API's PodState numbers (api.proto)
POD_STATE_NUMBERS = {
    "embryo": 1, "preparing": 2, "prepared": 3, "running": 4, "aborted prepare": 5,
    "exited": 6, "exited garbage": 6, "deleting": 7, "garbage": 8,
}


@dataclass
class AppView:
    name: str
    image_id: str
    image_name: str
    image_version: str
    annotations: list[tuple[str, str]]
    exit_code: int | None  # None: not exited (or never ran)


@dataclass
class PodView:
    uuid: str
    directory: str
    state: str
    pid: int | None
    created: float | None
    started: float | None
    gc_marked: float | None
    manifest: bytes
    annotations: list[tuple[str, str]]
    apps: list[AppView]
    networks: list[str] = field(default_factory=list)
    network_ips: list[str] = field(default_factory=list)  # ipv4 of each of `networks`, same order
    cgroup: str = ""

    @property
    def state_number(self) -> int:
        return POD_STATE_NUMBERS[self.state]

    @property
    def running(self) -> bool:
        return self.state == "running"


def locked_inodes(path: str = "/proc/locks") -> set[tuple[int, int, int]]:
    """(major, minor, inode) of every file that holds an flock now (waiters, `->` lines, excluded)."""
    out: set[tuple[int, int, int]] = set()
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError:
        return out
    for line in lines:
        parts = line.split()
        if len(parts) < 6 or parts[1] == "->" or parts[1] != "FLOCK":
            continue
        dev = parts[5].split(":")
        if len(dev) != 3:
            continue
        try:
            out.add((int(dev[0], 16), int(dev[1], 16), int(dev[2])))
        except ValueError:
            continue
    return out


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None


def _float(text: str | None) -> float | None:
    try:
        return float(text) if text else None
    except ValueError:
        return None


def _pairs(items: Any) -> list[tuple[str, str]]:
    """appc's [{"name": k, "value": v}] (or a plain mapping) as pairs."""
    if isinstance(items, dict):
        return [(str(k), str(v)) for k, v in items.items()]
    out = []
    for it in items or []:
        if isinstance(it, dict) and "name" in it:
            out.append((str(it["name"]), str(it.get("value", ""))))
    return out


def _read_pod(pods_dir: str, directory: str, uuid: str, locks: set[tuple[int, int, int]]) -> PodView | None:
    path = os.path.join(pods_dir, directory, uuid)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    locked = (os.major(st.st_dev), os.minor(st.st_dev), st.st_ino) in locks
    state = state_of(directory, locked)
    raw = _read(os.path.join(path, "pod")) or ""
    try:
        manifest = json.loads(raw) if raw else {}
    except ValueError:
        manifest = {}
    if not isinstance(manifest, dict):
        manifest = {}
    apps = []
    for a in manifest.get("apps") or []:
        if not isinstance(a, dict):
            continue
        img = a.get("image") or {}
        labels = dict(_pairs(img.get("labels")))
        name = str(a.get("name", ""))
        code = None
        text = _read(os.path.join(path, "apps", name, "exit"))
        if text is not None and text.strip().lstrip("-").isdigit():
            code = int(text.strip())
        app_ann = _pairs(a.get("annotations")) + _pairs((a.get("app") or {}).get("userAnnotations"))
        apps.append(AppView(name, str(img.get("id", "")), str(img.get("name", "")), labels.get("version", ""), app_ann, code))
    pid_text = (_read(os.path.join(path, "pid")) or "").strip()
    gc_marked = None
    if directory in ("exited-garbage", "garbage"):
        gc_marked = _float(_read(os.path.join(path, "gcmarked"))) or st.st_ctime
    view = PodView(uuid=uuid, directory=directory, state=state, pid=int(pid_text) if pid_text.isdigit() else None,
                   created=_float(_read(os.path.join(path, "created"))), started=_float(_read(os.path.join(path, "started"))),
                   gc_marked=gc_marked, manifest=raw.encode(), annotations=_pairs(manifest.get("annotations")), apps=apps)
    if state == "running":
        nets = _networks(path)
        view.networks = [n for n, _ in nets]
        view.network_ips = [ip for _, ip in nets]
        view.cgroup = f"/rkt-{uuid}"
    return view


def _networks(pod_path: str) -> list[tuple[str, str]]:
    """(name, ipv4) of each network the pod is attached to, from the net layer's networks.json (as `rkt list`)."""
    text = _read(os.path.join(pod_path, "networks.json"))
    if not text:
        return []
    from pyrkt.net.setup import summary

    try:
        return [(n["netName"], n["ip"]) for n in summary(json.loads(text))]
    except (ValueError, KeyError, TypeError, AttributeError):
        return []


def read_pod(data_dir: str, uuid: str, locks: set[tuple[int, int, int]] | None = None) -> PodView | None:
    """One pod by full UUID wherever it is now, or None if it is gone."""
    pods_dir = os.path.join(data_dir, "pods")
    locks = locked_inodes() if locks is None else locks
    for _attempt in range(3):
        for d in STATE_DIRS:
            if os.path.isdir(os.path.join(pods_dir, d, uuid)):
                view = _read_pod(pods_dir, d, uuid, locks)
                if view is not None and os.path.isdir(os.path.join(pods_dir, d, uuid)):
                    return view
                break  # moved while read: look again
        else:
            return None
        locks = locked_inodes()
    return None


def list_pods(data_dir: str) -> list[PodView]:
    """Every pod now, ordered by creation time (as `rkt list`); pods that vanish while read are left out."""
    pods_dir = os.path.join(data_dir, "pods")
    locks = locked_inodes()
    seen: set[str] = set()
    out: list[PodView] = []
    for d in STATE_DIRS:
        try:
            names = os.listdir(os.path.join(pods_dir, d))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for name in names:
            if len(name) != 36 or name.startswith(".") or name in seen:
                continue
            view = _read_pod(pods_dir, d, name, locks)
            if view is None or not os.path.isdir(os.path.join(pods_dir, d, name)):
                view = read_pod(data_dir, name)
            if view is not None:
                seen.add(name)
                out.append(view)
    out.sort(key=lambda p: (p.created or 0, p.uuid))
    return out


def find_pods(data_dir: str, prefix: str) -> list[PodView]:
    """The pods whose UUID starts with `prefix` (a full UUID is read directly)."""
    prefix = prefix.strip().lower()
    if len(prefix) == 36:
        view = read_pod(data_dir, prefix)
        return [view] if view is not None else []
    return [p for p in list_pods(data_dir) if p.uuid.startswith(prefix)]
