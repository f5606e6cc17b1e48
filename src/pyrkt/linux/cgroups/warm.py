"""Start the kernel's cgroup RCU grace period early, from a thread, during the imports.

The first write to any `cgroup.procs` after a quiet while waits for an RCU
grace period (5-15 ms here: the global cgroup threadgroup rwsem leaves its
fast mode); a second write right after costs ~0.1 ms. `create` pays it when
it places the container's init. So the launcher's fast lane calls `start()`
before it imports the runtime: a thread re-writes this process's own pid
into the `cgroup.procs` of the cgroup it is already in -- which moves it
nowhere (the kernel migrates nothing when source and destination are the
same) -- and the grace period runs while the main thread imports and
prepares; by the time the init is placed the rwsem is in its slow mode and
the write does not wait.

`wait()` must be called before a raw clone(2): the clone copies only the
calling thread, and a child born while the other thread held the GIL (or
was about to take it) would block forever on it. It waits until the thread's
state is gone (`_thread._set_sentinel`, as `threading.Thread.join` does),
after which the thread never touches the interpreter again.

Built-in modules only (`posix`, `_thread`): it runs before anything else.
"""

from __future__ import annotations

import _thread
import posix

TYPE_CHECKING = False
if TYPE_CHECKING:
    from _thread import LockType

_sentinel: list[LockType] = []
written: list[str] = []  # the file written (for tests), once the write returned


def own_procs_files(proc_cgroup: str, base: str = "/sys/fs/cgroup") -> list[str]:
    """The `cgroup.procs` files of this process's own cgroups, cgroup2 first (pure)."""
    v2, v1 = [], []
    for line in proc_cgroup.splitlines():
        hid, _, rest = line.partition(":")
        ctrls, _, path = rest.partition(":")
        if not path.startswith("/") or ".." in path.split("/"):
            continue
        path = path.rstrip("/")
        if hid == "0" and not ctrls:
            v2 += [f"{base}/unified{path}/cgroup.procs", f"{base}{path}/cgroup.procs"]
        elif ctrls:
            first = ctrls.split(",")[0]
            name = first[5:] if first.startswith("name=") else first
            v1.append(f"{base}/{name}{path}/cgroup.procs")
    return v2 + v1


def start() -> bool:
    """Start the thread; False (nothing started) when no own cgroup.procs is writable."""
    if _sentinel:
        return True
    try:
        fd = posix.open("/proc/self/cgroup", posix.O_RDONLY | posix.O_CLOEXEC)
        try:
            text = posix.read(fd, 65536).decode()
        finally:
            posix.close(fd)
    except OSError:
        return False
    try:
        posix.stat("/sys/fs/cgroup/cgroup.procs")  # cgroup2 mounted at /sys/fs/cgroup: a v2 host
        v2_host = True
    except OSError:
        v2_host = False
    if v2_host:
        # cgroup v2 alone: the init is cloned into its cgroup (clone3 with
        # CLONE_INTO_CGROUP), no write waits, and wait() would only make the
        # clone wait for this write's own grace period (measured: 61 ms with
        # the thread, 48 ms without, for run -d + delete)
        return False
    for path in own_procs_files(text):
        try:
            fd = posix.open(path, posix.O_WRONLY | posix.O_CLOEXEC)
            break
        except OSError:
            continue
    else:
        return False
    _one_malloc_arena()
    data = str(posix.getpid()).encode()
    started = _thread.allocate_lock()
    started.acquire()

    def work() -> None:
        lock = _thread._set_sentinel()  # type: ignore[attr-defined]  # released (if held) when this thread's state is deleted
        lock.acquire()
        _sentinel.append(lock)
        started.release()
        try:
            posix.write(fd, data)  # the GIL is released for the whole wait
            written.append(path)
        except OSError:
            pass
        finally:
            posix.close(fd)

    try:
        _thread.start_new_thread(work, ())
    except RuntimeError:
        posix.close(fd)
        return False
    # block (GIL released) until the thread runs: otherwise it would wait for
    # the interpreter's 5 ms switch interval before it could start its write
    started.acquire()
    return True


def _one_malloc_arena() -> None:
    """mallopt(M_ARENA_MAX, 1): the thread's few mallocs use the main arena instead of
    faulting in one of its own (~0.2 MB more peak RSS otherwise)."""
    try:
        from _ctypes import FUNCFLAG_CDECL, CFuncPtr, dlopen

        class Func(CFuncPtr):
            _flags_ = FUNCFLAG_CDECL

        class Libc:
            _handle = dlopen(None, 0)  # type: ignore[arg-type]

        Func(("mallopt", Libc))(-8, 1)  # type: ignore[arg-type]  # M_ARENA_MAX
    except (ImportError, AttributeError, OSError):
        pass


def wait() -> None:
    """Return once the thread (if any) is gone: call before a raw clone(2)."""
    if _sentinel:
        lock = _sentinel[0]
        lock.acquire()
        lock.release()
