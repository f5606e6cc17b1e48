"""The shared leaf of the cgroups package: constants, the error, file helpers, value checks.

Every other module of the package imports from here and this imports only
``os`` and ``errno``, so no module of the package needs the package's
``__init__`` (or each other) for these and there is no import circle.
"""

from __future__ import annotations

import errno
import os

TYPE_CHECKING = False  # bench/README.md "Speed rules"
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Iterator

CGROUP_ROOT = "/sys/fs/cgroup"
UNIFIED = "unified"  # internal name of the cgroup2 hierarchy (v2 and hybrid)
V2_KEY = ""  # its key in paths(), as in runc's state.json cgroup_paths
DEFAULT_PARENT = "/pyrkt"
DEFAULT_SLICE = "system.slice"
DEFAULT_SCOPE_PREFIX = "pyrkt"
MAX_UINT64 = 2**64 - 1


class CgroupError(Exception):
    """A cgroup operation failed; the message names the file and the value."""


# --------------------------------------------------------------------------
# value checks shared by the v1 and v2 resource writes (pure)
# --------------------------------------------------------------------------


def _int(section: str, key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise CgroupError(f"linux.resources.{section}.{key} must be an integer, got {value!r}")
    return value


def _device_rule(d: dict[str, Any]) -> tuple[bool, str]:
    allow = d.get("allow")
    if not isinstance(allow, bool):
        raise CgroupError(f"linux.resources.devices entry {d!r}: 'allow' must be true or false")
    typ = d.get("type") or "a"
    if typ not in ("a", "b", "c"):
        raise CgroupError(f"linux.resources.devices entry {d!r}: type must be a, b or c")
    access = d.get("access") or "rwm"
    if not access or set(access) - set("rwm"):
        raise CgroupError(f"linux.resources.devices entry {d!r}: access must be made of r, w, m")
    if typ == "a":
        return allow, f"a *:* {access}"
    major = d.get("major")
    minor = d.get("minor")
    maj = "*" if major is None or major == -1 else str(_int("devices", "major", major))
    mnr = "*" if minor is None or minor == -1 else str(_int("devices", "minor", minor))
    return allow, f"{typ} {maj}:{mnr} {access}"



def _throttle(entries: Any, key: str) -> list[str]:
    out = []
    for e in entries or []:
        out.append(f"{_int('blockIO', key + '.major', e.get('major'))}:{_int('blockIO', key + '.minor', e.get('minor'))} {_int('blockIO', key + '.rate', e.get('rate'))}")
    return out


def _page_size(entry: dict[str, Any]) -> str:
    ps = entry.get("pageSize")
    if not isinstance(ps, str) or not ps or "/" in ps:
        raise CgroupError(f"linux.resources.hugepageLimits entry {entry!r}: invalid pageSize")
    return ps


# --------------------------------------------------------------------------
# file helpers
# --------------------------------------------------------------------------


def _write(path: str, value: str) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    except OSError as e:
        raise CgroupError(f"cannot open {path} to write {value!r}: {e.strerror}") from e
    try:
        os.write(fd, value.encode())
    except OSError as e:
        raise CgroupError(f"writing {value!r} to {path} failed: {e.strerror}") from e
    finally:
        os.close(fd)


def add_pid(dirs: "Iterator[str] | list[str]", pid: int) -> None:
    """Move ``pid`` (all its threads) into the ``cgroup.procs`` of each directory.

    EINVAL can mean the task is still TASK_NEW (just forked): retried, as
    runc does. Here, in the leaf, for `CgroupManager.add` and for the exec
    path (pyrkt.oci.exec), which joins a container's cgroups without the
    manager's import (~1 ms on every `rkt enter` of a worker pod).
    """
    for d in dirs:
        path = os.path.join(d, "cgroup.procs")
        for attempt in range(5):
            try:
                _write(path, str(pid))
                break
            except CgroupError as e:
                cause = e.__cause__
                if attempt == 4 or not isinstance(cause, OSError) or cause.errno != errno.EINVAL:
                    raise
                import time

                time.sleep(0.01)


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError as e:
        raise CgroupError(f"cannot read {path}: {e.strerror}") from e


def _read_opt(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    except OSError as e:
        if e.errno == errno.ENODEV:
            return None
        raise CgroupError(f"cannot read {path}: {e.strerror}") from e


def _uint(text: str | None) -> int:
    if text is None:
        return 0
    t = text.strip()
    if not t or t == "max":
        return MAX_UINT64 if t == "max" else 0
    try:
        return int(t)
    except ValueError:
        return 0


def _kv(text: str | None) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in (text or "").splitlines():
        parts = line.split()
        if len(parts) == 2:
            try:
                out[parts[0]] = int(parts[1])
            except ValueError:
                pass
    return out


def _walk_bottom_up(top: str) -> Iterator[str]:
    try:
        entries = list(os.scandir(top))
    except FileNotFoundError:
        return
    for e in entries:
        if e.is_dir(follow_symlinks=False):
            yield from _walk_bottom_up(e.path)
    yield top
