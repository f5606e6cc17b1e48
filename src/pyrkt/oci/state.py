"""Container state on disk: one directory per container under `--root`.

```
<root>/<id>/state.json   the record below, written atomically (temp file, rename; no fsync)
<root>/<id>/quick        what `start` and `delete` need of it, as text (see `quick_lines`)
<root>/<id>/exec.sock    present from create until start: the init waits on it
```
The status is not stored but derived, so it can never be stale: no state.json
yet is `creating`; a dead (or zombie, or reused) init pid is `stopped`; a live
init with exec.sock is `created`; a frozen cgroup is `paused`; else `running`.
Commands on one id are serialised by an flock on its directory.

No fsync: the record describes running processes, and the only crash that
can lose unsynced data (the machine's) also kills every one of them. After
it, a missing or torn state.json belongs to a container whose processes are
gone: `read` reports it as corrupt, `delete` removes it, nothing trusts
it. The rename alone keeps readers from ever seeing a half write while the
machine is up. (fsync cost 2-14 ms of every create here.)
"""

from __future__ import annotations

import errno
import fcntl
import os
import time

from pyrkt import fastjson
from pyrkt.oci import procstat

STATE_FILE = "state.json"
QUICK_FILE = "quick"
EXEC_SOCKET = "exec.sock"
UNIX_PATH_MAX = 107  # sun_path's 108 bytes, less the terminating NUL


def socket_address(directory: str, dir_fd: int, name: str = EXEC_SOCKET) -> str:
    """`directory/name`, or the same file through /proc/self/fd/<dir_fd> when that is too long for AF_UNIX."""
    path = f"{directory}/{name}"
    if len(os.fsencode(path)) <= UNIX_PATH_MAX or dir_fd < 0:
        return path
    return f"/proc/self/fd/{dir_fd}/{name}"


class StateError(Exception):
    """Unknown container, invalid id, or an id that exists already."""


class NoSuchContainer(StateError):
    """The id is valid, and no container has it (`delete --force` of it succeeds, as runc's)."""


def validate_id(container_id: str) -> None:
    """An id names a directory under --root: it must not escape it."""
    if not container_id:
        raise StateError("container id cannot be empty")
    if container_id in (".", "..") or "/" in container_id or "\0" in container_id:
        raise StateError(f"invalid container id {container_id!r}: must not contain '/' or be '.' or '..'")
    if len(container_id) > 1024:
        raise StateError("invalid container id: longer than 1024 characters")
    for ch in container_id:
        if not (ch.isalnum() or ch in "_+-.") or not ch.isascii():
            raise StateError(f"invalid container id {container_id!r}: use letters, digits, '_', '+', '-' and '.'")


def rfc3339_now() -> str:
    """Now in UTC, to the nanosecond, as runc writes `created`.

    Plain arithmetic on the epoch: time.gmtime/strftime go through libc's
    time zone and locale code, which faults ~0.25 MB more of libc and the
    interpreter into every create (RSS).
    """
    secs, frac = divmod(time.time_ns(), 1_000_000_000)
    days, rest = divmod(secs, 86400)
    year, month, day = _civil_from_days(days)
    return f"{year:04d}-{month:02d}-{day:02d}T{rest // 3600:02d}:{rest // 60 % 60:02d}:{rest % 60:02d}.{frac:09d}Z"


def _civil_from_days(days: int) -> tuple[int, int, int]:
    """(year, month, day) of a day count since 1970-01-01, proleptic Gregorian.

    Counts in 400-year eras of 146097 days starting on March 1st, so that
    the leap day ends a year: the day of the era gives the year of the era,
    then the day of that year (from March) the month and day.
    """
    z = days + 719468  # days from 0000-03-01 to 1970-01-01
    era = z // 146097
    doe = z - era * 146097  # [0, 146096]
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365  # [0, 399]
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)  # [0, 365], from March 1st
    mp = (5 * doy + 2) // 153  # [0, 11], March = 0
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (month <= 2), month, day


class ContainerState:
    """What a later command needs to know about a container."""

    __slots__ = ("id", "pid", "bundle", "rootfs", "created", "starttime", "annotations", "config", "cgroup_paths", "owner_uid", "extra")

    def __init__(
        self,
        id: str,
        pid: int,
        bundle: str,
        rootfs: str,
        created: str,
        starttime: int,
        annotations: dict[str, str],
        config: dict[str, object],
        cgroup_paths: dict[str, str] | None = None,
        owner_uid: int = 0,
        extra: dict[str, object] | None = None,
    ) -> None:
        self.id = id
        self.pid = pid
        self.bundle = bundle
        self.rootfs = rootfs
        self.created = created
        self.starttime = starttime
        self.annotations = annotations
        self.config = config
        self.cgroup_paths = cgroup_paths or {}
        self.owner_uid = owner_uid
        self.extra = extra or {}

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "pid": self.pid,
            "bundle": self.bundle,
            "rootfs": self.rootfs,
            "created": self.created,
            "starttime": self.starttime,
            "annotations": self.annotations,
            "cgroup_paths": self.cgroup_paths,
            "owner_uid": self.owner_uid,
            "extra": self.extra,
            "config": self.config,
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> "ContainerState":
        return cls(
            id=str(data["id"]),
            pid=int(data["pid"]),  # type: ignore[call-overload]
            bundle=str(data["bundle"]),
            rootfs=str(data.get("rootfs", "")),
            created=str(data.get("created", "")),
            starttime=int(data.get("starttime", 0)),  # type: ignore[call-overload]
            annotations=dict(data.get("annotations") or {}),  # type: ignore[call-overload]
            config=dict(data.get("config") or {}),  # type: ignore[call-overload]
            cgroup_paths=dict(data.get("cgroup_paths") or {}),  # type: ignore[call-overload]
            owner_uid=int(data.get("owner_uid", 0)),  # type: ignore[call-overload]
            extra=dict(data.get("extra") or {}),  # type: ignore[call-overload]
        )

    def oci_version(self) -> str:
        from pyrkt import OCI_VERSION

        return str(self.config.get("ociVersion") or OCI_VERSION)


class StateDir:
    """The directory of one container; holds its lock while open."""

    def __init__(self, root: str, container_id: str) -> None:
        validate_id(container_id)
        self.root = root
        self.id = container_id
        self.path = os.path.join(root, container_id)
        self.fd = -1

    # -- creation and locking -------------------------------------------
    def create(self) -> None:
        """Make the directory (failing if the id exists) and lock it."""
        try:
            os.mkdir(self.path, 0o711)
        except FileExistsError:
            raise StateError(f"container with id exists: {self.id}") from None
        except FileNotFoundError:
            os.makedirs(self.root, 0o711, exist_ok=True)
            try:
                os.mkdir(self.path, 0o711)
            except FileExistsError:
                raise StateError(f"container with id exists: {self.id}") from None
        self.fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        fcntl.flock(self.fd, fcntl.LOCK_EX)

    def open(self, lock: bool = True, shared: bool = False) -> None:
        """Open an existing container's directory, optionally locking it."""
        try:
            self.fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except (FileNotFoundError, NotADirectoryError):
            raise NoSuchContainer(f"container does not exist: {self.id}") from None
        if lock:
            fcntl.flock(self.fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    # -- state file -------------------------------------------------------
    def write(self, state: ContainerState) -> None:
        quick = quick_lines(state)
        if quick is not None:
            # before state.json, the commit point: whoever sees that sees this whole
            fd = os.open(os.path.join(self.path, QUICK_FILE), os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
            try:
                os.write(fd, quick.encode())
            finally:
                os.close(fd)
        data = fastjson.dumps(state.to_json(), compact=True).encode()
        tmp = os.path.join(self.path, ".state.json.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, data)  # no fsync: see the module's docstring
        except OSError as exc:
            from pyrkt.ioerr import named

            raise named(exc, tmp) from None
        finally:
            os.close(fd)
        os.rename(tmp, os.path.join(self.path, STATE_FILE))

    def read(self) -> ContainerState | None:
        """The record, or None while the container is still being created."""
        path = os.path.join(self.path, STATE_FILE)
        try:
            with open(path, "rb") as f:
                data = fastjson.loads(f.read())
            if not isinstance(data, dict):
                raise ValueError(f"a JSON {type(data).__name__}, not an object")
            return ContainerState.from_json(data)
        except FileNotFoundError:
            return None
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
            # torn, garbled or of the wrong shape: one line naming the file, never a traceback
            what = f"no {exc}" if isinstance(exc, KeyError) else str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise StateError(f"container {self.id}: corrupt state file {path}: {what}") from None

    @property
    def exec_socket(self) -> str:
        return os.path.join(self.path, EXEC_SOCKET)

    @property
    def exec_socket_address(self) -> str:
        """exec.sock as bind()/connect() can take it: an AF_UNIX address holds 107 bytes,
        a --root of containerd's or podman's with a 64-character id does not fit, so a
        long one goes through the directory's open fd (runc has no such limit)."""
        return socket_address(self.path, self.fd)

    def remove(self) -> None:
        """Remove the directory and what is in it (a flat directory)."""
        try:
            names = os.listdir(self.path)
        except FileNotFoundError:
            return
        for name in names:
            try:
                os.unlink(os.path.join(self.path, name))
            except FileNotFoundError:
                pass
        try:
            os.rmdir(self.path)
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                raise
        self.close()


def quick_lines(state: ContainerState) -> str | None:
    """The `quick` file: what `pyrkt.oci.quick` needs, readable without `_json`.

    Line 1: init pid, its start time, whether poststart and poststop hooks
    exist (0/1); then one cgroup directory per line. None (no file, so the
    full path runs) if a directory has a newline in it.
    """
    hooks = state.config.get("hooks")
    if not isinstance(hooks, dict):
        hooks = {}
    dirs = sorted(set(state.cgroup_paths.values()))
    if any("\n" in d for d in dirs):
        return None
    head = f"{state.pid} {state.starttime} {int(bool(hooks.get('poststart')))} {int(bool(hooks.get('poststop')))}"
    return "\n".join([head, *dirs]) + "\n"


def init_alive(state: ContainerState) -> bool:
    return procstat.init_alive(state.pid, state.starttime)


def open_container(root: str, container_id: str, shared: bool = False) -> tuple[StateDir, ContainerState | None, str]:
    """The container's state directory, locked (shared or not), its state and status.

    The caller closes the StateDir; an unknown or invalid id is a RuntimeFailure.
    """
    from pyrkt.oci.errors import RuntimeFailure

    try:
        sd = StateDir(root, container_id)
        sd.open(lock=True, shared=shared)
        state = sd.read()
    except StateError as exc:
        raise RuntimeFailure(str(exc)) from None
    try:
        return sd, state, status_of(sd, state)
    except BaseException:
        sd.close()
        raise


def status_of(sd: StateDir, state: ContainerState | None) -> str:
    from pyrkt.oci import lifecycle  # here: create, which runs for every container, never needs it

    if state is None:
        return lifecycle.CREATING
    if not init_alive(state):
        return lifecycle.STOPPED
    if os.path.exists(sd.exec_socket):
        return lifecycle.CREATED
    if state.cgroup_paths and _frozen(state.cgroup_paths):
        return lifecycle.PAUSED
    return lifecycle.RUNNING


def _frozen(paths: dict[str, str]) -> bool:
    freezer = paths.get("freezer")
    try:
        if freezer:
            with open(os.path.join(freezer, "freezer.state")) as f:
                return f.read().strip() in ("FROZEN", "FREEZING")
        unified = paths.get("")
        if unified:
            with open(os.path.join(unified, "cgroup.freeze")) as f:
                return f.read().strip() == "1"
    except OSError:
        return False
    return False


def state_json(sd: StateDir, state: ContainerState | None, status: str) -> dict[str, object]:
    """The runtime-spec state document, with runc's extra fields."""
    from pyrkt import OCI_VERSION
    from pyrkt.oci import lifecycle

    if state is None:
        return {"ociVersion": OCI_VERSION, "id": sd.id, "status": status, "pid": 0, "bundle": "", "annotations": {}}
    doc: dict[str, object] = {
        "ociVersion": state.oci_version(),
        "id": state.id,
        "pid": state.pid if status != lifecycle.STOPPED else 0,
        "status": status,
        "bundle": state.bundle,
        "rootfs": state.rootfs,
        "created": state.created,
        "owner": "",
    }
    if state.annotations:
        doc["annotations"] = state.annotations
    return doc
