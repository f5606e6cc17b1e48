"""`start` and `delete` in their common case, on built-in modules only.

Why this module exists: every `pyrkt-runtime` command pays for the
interpreter (~10 ms here) and then for its imports. `os` alone costs ~1.6 ms
(it imports `_collections_abc`, `posixpath` and `stat`), and the CLI,
`operations`, `state` and `linux.cgroups` another ~5 ms: more than what
`start` and `delete` do for a plain container. So these two verbs first come
here, where only `posix`, `fcntl` and `_socket` (compiled into the
interpreter) are used: what they need of the state is in the small text
file `quick` beside state.json (`state.quick_lines`), so not even `_json`
(a shared library to load, ~0.7 ms) is.

Only the plain case is handled: `start` of a created container without
hooks, `delete` of a stopped one without poststop hooks. Anything else -- a
live container to kill, a paused one, hooks, a missing or corrupt state, an
unexpected error before the point of no return, a container created by a
version without the `quick` file -- makes the function return
False, and the caller runs the full implementation in `operations`, which
gives every other behaviour and every error message. What was done before
returning False is idempotent for it (a cgroup already removed is fine).

The status rules are the lifecycle table's (`statuses`, the leaf that
`lifecycle` reads too): `_status` tells the statuses this lane can see, and
a verb goes on only in the one status it handles and only while the table
allows it there (tests/integration/test_quick_agrees.py runs both lanes on the
same containers). The helpers both paths need (`proc_start_time`,
`init_alive`) are shared with `state` through `procstat`.
"""

import posix

from pyrkt.oci.procstat import init_alive
from pyrkt.oci.statuses import ALLOWED, CREATED, RUNNING, STOPPED

STATE_FILE = "state.json"
QUICK_FILE = "quick"  # see state.quick_lines
EXEC_SOCKET = "exec.sock"
_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+-.")


class QuickFailure(Exception):
    """The operation was committed (the container was told to start) and then failed:
    the message is final, the full implementation must not run again."""


def _plain_id(container_id: str) -> bool:
    """An id `state.validate_id` accepts for sure; anything else goes the full way (and its errors)."""
    return 0 < len(container_id) <= 1024 and container_id not in (".", "..") and all(c in _ID_CHARS for c in container_id)


class _Record:
    """What the `quick` file says (written with state.json: `state.quick_lines`)."""

    __slots__ = ("pid", "starttime", "poststart", "poststop", "cgroups")

    def __init__(self, text: str) -> None:
        lines = text.split("\n")
        pid, starttime, poststart, poststop = (int(x) for x in lines[0].split(" "))  # ValueError if not exactly so
        if lines[-1] != "":
            raise ValueError("torn")
        self.pid, self.starttime = pid, starttime
        self.poststart, self.poststop = poststart != 0, poststop != 0
        self.cgroups = lines[1:-1]
        for d in self.cgroups:  # garbled: never rmdir a directory that is not a cgroup's
            if not d.startswith("/sys/fs/cgroup/") or "/." in d:
                raise ValueError("not a cgroup directory")


def _read_record(path: str) -> "_Record | None":
    """The record of a created container (None: no such file, or no state.json yet: full path)."""
    try:
        with open(f"{path}/{QUICK_FILE}", "rb") as f:
            record = _Record(f.read().decode())
        with open(f"{path}/{STATE_FILE}", "rb") as f:  # the commit point, written after the record
            doc = f.read()
    except (OSError, ValueError):
        return None
    pid = b'"pid":%d' % record.pid  # the record agrees with it (a garbled one does not: full path)
    at = doc.find(pid)
    if at < 0 or doc[at + len(pid):at + len(pid) + 1].isdigit():
        return None
    return record


# the one status each verb handles here (its plain case); any other goes the full way
HANDLES = {"start": CREATED, "delete": STOPPED}


def _status(path: str, rec: _Record) -> str:
    """The status as far as this lane can tell (state.status_of tells the rest).

    stopped: the init is gone; created: alive, its exec socket still there;
    running otherwise -- or paused, which only the cgroups could tell: the
    table allows neither start nor delete in either (a test checks it stays so).
    """
    if not init_alive(rec.pid, rec.starttime):
        return STOPPED
    try:
        posix.stat(f"{path}/{EXEC_SOCKET}")
    except OSError:
        return RUNNING
    return CREATED


def _applies(op: str, path: str, rec: "_Record | None") -> bool:
    """Whether `op` is this lane's to do: its status is the one it handles, and the table allows it there."""
    if rec is None:
        return False  # no record (or still being created): the full path
    status = _status(path, rec)
    return status == HANDLES[op] and (op, status) in ALLOWED


def _lock(path: str) -> int:
    """The container directory, opened and flocked (-1: no such container, let the full path say so)."""
    import fcntl

    try:
        fd = posix.open(path, posix.O_RDONLY | posix.O_DIRECTORY | posix.O_CLOEXEC)
    except OSError:
        return -1
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    except OSError:
        posix.close(fd)
        return -1
    return fd


def _open_locked(root: str, container_id: str) -> tuple[str, int] | None:
    """The container's state directory and its held lock; None when the quick path does not apply."""
    if not _plain_id(container_id):
        return None
    path = f"{root}/{container_id}"
    fd = _lock(path)
    return None if fd < 0 else (path, fd)


def delete(root: str, container_id: str) -> bool:
    """Delete a stopped container; False (and the full path) for anything else.

    A stopped container needs no signal and no wait: its cgroups are
    removed with one rmdir each (a busy or nested cgroup fails it: the full
    path then kills and walks), then its state directory.
    """
    opened = _open_locked(root, container_id)
    if opened is None:
        return False
    path, fd = opened
    try:
        rec = _read_record(path)
        if rec is None or rec.poststop or not _applies("delete", path, rec):
            return False
        for d in rec.cgroups:
            try:
                posix.rmdir(d)
            except FileNotFoundError:
                pass
            except OSError:
                return False
        for name in posix.listdir(path):
            try:
                posix.unlink(f"{path}/{name}")
            except FileNotFoundError:
                pass
        posix.rmdir(path)
        return True
    except OSError:
        return False
    finally:
        posix.close(fd)


def start(root: str, container_id: str) -> bool:
    """Start a created container without hooks; False (untouched) for anything else.

    Raises QuickFailure once the init has been told to start and then
    reports a failure (its execve failed): that is the command's result.
    """
    opened = _open_locked(root, container_id)
    if opened is None:
        return False
    path, fd = opened
    try:
        rec = _read_record(path)
        if rec is None or rec.poststart or not _applies("start", path, rec):
            return False
        sock_path = f"{path}/{EXEC_SOCKET}"
        if len(sock_path.encode()) > 107:  # too long for AF_UNIX: through the locked directory's fd (state.socket_address)
            sock_path = f"/proc/self/fd/{fd}/{EXEC_SOCKET}"
        import _socket

        conn = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        try:
            try:
                conn.connect(sock_path)
            except OSError:
                return False  # not created (no socket), or its init is gone: the full path says which
            try:
                conn.send(b"\0")
                reply = conn.recv(4096)  # EOF once execve has closed the init's end
            except OSError as exc:
                from pyrkt.oci.errors import describe

                raise QuickFailure(f"cannot start container {container_id}: {describe(exc)}") from None
        finally:
            conn.close()
        try:
            posix.unlink(sock_path)
        except FileNotFoundError:
            pass
        if reply:
            raise QuickFailure(f"unable to start container process: {reply.decode(errors='replace')}")
        return True
    finally:
        posix.close(fd)
