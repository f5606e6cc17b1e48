"""Pods on disk: one directory per pod; its state is the directory it is in plus its flock.

    pods/embryo/<uuid>          embryo          (being created, locked)
    pods/prepare/<uuid>         preparing (locked) / aborted prepare (unlocked)
    pods/prepared/<uuid>        prepared
    pods/run/<uuid>             running (locked) / exited (unlocked)
    pods/exited-garbage/<uuid>  exited garbage (unlocked) / deleting (locked)
    pods/garbage/<uuid>         garbage (unlocked) / deleting (locked)

Moves between states are rename(2); the running pod's lock is held by the
process that runs it (and by the pod init it forks, so a pod whose `rkt run`
was killed stays running exactly as long as its processes do). No daemon.
"""

from __future__ import annotations

import errno
import fcntl
import os
import time

from pyrkt.records import dataclass

TYPE_CHECKING = False  # bench/README.md "Speed rules"
if TYPE_CHECKING:
    from typing import Any

STATE_DIRS = ("embryo", "prepare", "prepared", "run", "exited-garbage", "garbage")

# (directory, locked) -> state name (rkt's names)
STATE_TABLE: dict[tuple[str, bool], str] = {
    ("embryo", True): "embryo",
    ("embryo", False): "embryo",
    ("prepare", True): "preparing",
    ("prepare", False): "aborted prepare",
    ("prepared", True): "prepared",
    ("prepared", False): "prepared",
    ("run", True): "running",
    ("run", False): "exited",
    ("exited-garbage", True): "deleting",
    ("exited-garbage", False): "exited garbage",
    ("garbage", True): "deleting",
    ("garbage", False): "garbage",
}

# allowed moves: (from dir, to dir)
TRANSITIONS = {
    ("embryo", "prepare"), ("embryo", "garbage"),
    ("prepare", "prepared"), ("prepare", "run"), ("prepare", "garbage"),
    ("prepared", "run"), ("prepared", "garbage"),
    ("run", "exited-garbage"),
}


def state_of(directory: str, locked: bool) -> str:
    return STATE_TABLE[(directory, locked)]


class PodError(Exception):
    """One-line error about pods."""


class PodStore:
    def __init__(self, data_dir: str) -> None:
        self.data_dir = data_dir
        self.pods_dir = os.path.join(data_dir, "pods")

    def ensure(self) -> None:
        for d in STATE_DIRS:
            os.makedirs(os.path.join(self.pods_dir, d), mode=0o750, exist_ok=True)
        os.makedirs(os.path.join(self.data_dir, "locks"), exist_ok=True)

    def path(self, directory: str, uuid: str) -> str:
        return os.path.join(self.pods_dir, directory, uuid)

    def all(self) -> list["Pod"]:
        pods = []
        for d in STATE_DIRS:
            try:
                entries = list(os.scandir(os.path.join(self.pods_dir, d)))
            except (FileNotFoundError, NotADirectoryError):
                continue
            for entry in entries:
                name = entry.name
                if len(name) != 36 or name.startswith("."):
                    continue
                try:
                    if not entry.is_dir(follow_symlinks=False):
                        continue  # a stray file (or link) where a pod dir should be: never a pod
                except OSError:
                    continue
                pods.append(Pod(self, name, d))
        return pods

    def new_embryo(self) -> "Pod":
        self.ensure()
        # made under a dot name and locked before it appears: a visible embryo whose lock
        # nobody holds is then always a dead one, which gc removes at once. A gc may take
        # the dot dir between our mkdir and flock (it cannot tell us from a killed creator):
        # the rename then fails and we start again with another uuid.
        for _attempt in range(8):
            uuid = uuid4()
            hidden = self.path("embryo", f".{uuid}.new")
            os.mkdir(hidden, 0o750)
            pod = Pod(self, uuid, "embryo")
            try:
                pod.fd = os.open(hidden, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
                fcntl.flock(pod.fd, fcntl.LOCK_EX)
                os.rename(hidden, self.path("embryo", uuid))
            except FileNotFoundError:
                pod.unlock()
                continue
            return pod
        raise PodError("cannot create a pod directory: it keeps being removed (a gc loop?)")

    def sweep_hidden_embryos(self) -> None:
        """Remove the dot dirs of embryos whose creator was killed before it named them
        (unlocked: see new_embryo); they are empty, nothing is written there before the rename."""
        d = os.path.join(self.pods_dir, "embryo")
        try:
            names = [n for n in os.listdir(d) if n.startswith(".") and n.endswith(".new")]
        except OSError:
            return
        for name in names:
            path = os.path.join(d, name)
            try:
                fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                os.rmdir(path)
            except OSError:
                pass
            finally:
                os.close(fd)

    def find(self, prefix: str) -> "Pod":
        """A pod by UUID or any unique prefix of it."""
        prefix = prefix.strip().lower()
        if not prefix:
            raise PodError("empty pod UUID")
        matches = [p for p in self.all() if p.uuid.startswith(prefix)]
        uuids = {p.uuid for p in matches}
        if not matches:
            raise PodError(f"no matches found for {prefix!r}")
        if len(uuids) > 1:
            raise PodError(f"ambiguous UUID {prefix!r}: matches {len(uuids)} pods")
        return matches[0]


def uuid4() -> str:
    """A random (version 4) UUID, as `str(uuid.uuid4())`: the uuid module costs ~5 ms to import (it loads platform)."""
    b = bytearray(os.urandom(16))
    b[6] = (b[6] & 0x0F) | 0x40  # version 4
    b[8] = (b[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def read_uuid_file(path: str) -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError as exc:
        raise PodError(f"reading UUID file {path}: {exc.strerror}") from None


@dataclass
class Pod:
    """A pod directory and, while this process holds it, its lock (`fd`).

    `durable`: whether writes and state moves are fsynced. They are by default
    (`rkt prepare`: run-prepared later trusts runtime.json, and a prepared pod
    must survive a crash). `rkt run` clears it for the pod it creates: a pod
    that `rkt run` prepared is never run again, so after a crash nothing acts
    on its files; it is left in prepare/ (an aborted prepare) or run/ (exited),
    which gc removes and list/status/cat-manifest only show.
    """

    store: PodStore
    uuid: str
    directory: str
    fd: int = -1
    durable: bool = True

    @property
    def path(self) -> str:
        return self.store.path(self.directory, self.uuid)

    def file(self, *names: str) -> str:
        return os.path.join(self.path, *names)

    # -- locking ---------------------------------------------------------
    def _open(self) -> int:
        if self.fd < 0:
            self.fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        return self.fd

    def lock(self, shared: bool = False, wait: bool = False) -> bool:
        fd = self._open()
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | (0 if wait else fcntl.LOCK_NB))
            return True
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                return False
            raise

    def unlock(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def is_locked(self) -> bool:
        """True when some process holds the pod's lock (probed without keeping it)."""
        if self.fd >= 0:
            return True
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except FileNotFoundError:
            self.refresh()
            return self.is_locked() if os.path.exists(self.path) else False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return False
        except OSError:
            return True
        finally:
            os.close(fd)

    def refresh(self) -> None:
        """Find the pod again after another process moved it."""
        for d in STATE_DIRS:
            if os.path.exists(self.store.path(d, self.uuid)):
                self.directory = d
                return

    @property
    def state(self) -> str:
        self.refresh()
        return state_of(self.directory, self.is_locked())

    def move(self, to: str) -> None:
        if (self.directory, to) not in TRANSITIONS:
            raise PodError(f"pod {self.uuid}: cannot move from {self.directory} to {to}")
        os.rename(self.path, self.store.path(to, self.uuid))
        self.directory = to
        if not self.durable:
            return
        try:
            fd = os.open(os.path.join(self.store.pods_dir, to), os.O_RDONLY | os.O_DIRECTORY)
            os.fsync(fd)
            os.close(fd)
        except OSError:
            pass

    # -- facts -----------------------------------------------------------
    def read(self, name: str) -> str | None:
        """A pod file a previous run wrote, as text; None if absent. Damage is a PodError naming the file."""
        path = self.file(name)
        try:
            with open(path, "rb") as f:
                raw = f.read()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except IsADirectoryError:
            raise PodError(f"pod {self.uuid}: damaged file {path}: a directory") from None
        try:
            return raw.decode()
        except UnicodeDecodeError:
            raise PodError(f"pod {self.uuid}: damaged file {path}: not UTF-8 text") from None

    def read_json(self, name: str, required: tuple[str, ...] = ()) -> dict[str, Any]:
        """The one parse step for a pod's JSON files (pod manifest, runtime.json): a JSON object
        holding `required`, or a PodError naming the file; an absent file is {} (not yet written)."""
        from pyrkt import fastjson

        text = self.read(name)
        if text is None:
            return {}
        try:
            data = fastjson.loads(text)
        except (ValueError, RecursionError) as exc:
            raise PodError(f"pod {self.uuid}: damaged file {self.file(name)}: {str(exc).splitlines()[0] if str(exc) else 'not JSON'}") from None
        if not isinstance(data, dict):
            raise PodError(f"pod {self.uuid}: damaged file {self.file(name)}: a JSON {type(data).__name__}, not an object")
        missing = [k for k in required if k not in data]
        if missing:
            raise PodError(f"pod {self.uuid}: damaged file {self.file(name)}: no {', '.join(missing)}")
        return data

    def read_time(self, name: str) -> float | None:
        """A time stamp file (created, started, gcmarked): None when absent or damaged, since
        these are facts a crash may lose (written without fsync) and nothing acts on them alone."""
        try:
            v = self.read(name)
            t = float(v) if v else None
        except (PodError, ValueError):
            return None
        return t if t is not None and 0 <= t < 1e11 else None

    def write(self, name: str, data: str | bytes, mode: int = 0o640, sync: bool | None = None) -> None:
        """Atomic replace of a pod file; `sync=False` for facts a crash may lose (times, pids).

        `sync=None`: fsync if the pod is `durable`.
        """
        if sync is None:
            sync = self.durable
        path = self.file(name)
        tmp = f"{path}.{os.getpid()}.tmp"
        raw = data.encode() if isinstance(data, str) else data
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
        try:
            os.write(fd, raw)
            if sync:
                os.fsync(fd)
        except OSError as exc:  # a full disk: say which file (os.write names none)
            from pyrkt.ioerr import named

            os.close(fd)
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise named(exc, path) from None
        os.close(fd)
        os.rename(tmp, path)

    def created(self) -> float | None:
        return self.read_time("created")

    def started(self) -> float | None:
        return self.read_time("started")

    def pid(self) -> int | None:
        try:
            v = self.read("pid")
        except PodError:
            return None
        return int(v) if v and v.strip().isdigit() and len(v) < 20 else None

    def exit_codes(self) -> dict[str, int]:
        out: dict[str, int] = {}
        apps_dir = self.file("apps")
        try:
            names = sorted(os.listdir(apps_dir))
        except (FileNotFoundError, NotADirectoryError):
            return out
        for name in names:
            try:
                with open(os.path.join(apps_dir, name, "exit")) as f:
                    out[name] = int(f.read().strip())
            except (OSError, ValueError):
                pass
        return out

    def gc_marked_time(self) -> float:
        """When the pod was moved to exited-garbage/garbage (the dir's ctime changes on rename)."""
        try:
            return os.stat(self.path).st_ctime
        except FileNotFoundError:
            return time.time()

    def mtime(self) -> float:
        try:
            return os.stat(self.path).st_mtime
        except FileNotFoundError:
            return time.time()
