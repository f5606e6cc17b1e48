"""Child processes of the network layer (CNI plugins, iptables), started and awaited separately.

Why not `subprocess`: importing it costs ~3 ms of every `rkt run` on the
default network (signal, selectors, threading), and `subprocess.run` can only
wait where it starts. Here `spawn` starts a program with `os.posix_spawn`
(a vfork: no copy of this process) and returns at once, with its input
already in the pipe; `Child.wait` collects its output and status later. That
lets a pod's CNI ADD run while its containers are created, and the DEL
while they are removed, without threads (a process that created an app has
joined the pod's pid namespace for its children and can start none).

The child gets what subprocess would give it: stdin/stdout/stderr on pipes,
no other inheritable descriptor, SIGPIPE and SIGXFSZ back to their defaults
(Python ignores SIGPIPE).
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    import signal as _signal
    from collections.abc import Mapping, Sequence
else:
    import _signal  # the C module: `signal` builds enums at import (~3 ms)

_PIPE_MAX = 65536  # what a pipe holds before a write blocks (Linux's default)


class ChildError(Exception):
    """The program could not be started, or did not finish in time; one line."""


class Child:
    """A started program: `wait` returns (exit status, stdout, stderr)."""

    __slots__ = ("pid", "_out", "_err", "_in", "_pending", "_timeout", "_result")

    def __init__(self, pid: int, out_fd: int, err_fd: int, in_fd: int, pending: bytes, timeout: float) -> None:
        self.pid = pid
        self._out, self._err, self._in = out_fd, err_fd, in_fd
        self._pending = pending
        self._timeout = timeout
        self._result: tuple[int, bytes, bytes] | None = None

    def exited(self) -> bool:
        """True once it has ended (not reaped: `wait` then returns at once)."""
        if self._result is not None:
            return True
        return os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None

    def detach(self) -> None:
        """Let it finish on its own: its pipes are closed, it is reaped at a later spawn (or by init)."""
        if self._result is None:
            self._close()
            _detached.append(self.pid)
            self._result = (0, b"", b"")

    def _close(self) -> None:
        for fd in (self._out, self._err, self._in):
            if fd >= 0:
                os.close(fd)
        self._out = self._err = self._in = -1

    def wait(self) -> tuple[int, bytes, bytes]:
        """Read its output to the end and reap it; a negative status is the signal that killed it."""
        if self._result is not None:
            return self._result
        import select
        import time

        out_fd, err_fd = self._out, self._err
        chunks: dict[int, list[bytes]] = {out_fd: [], err_fd: []}
        poller = select.poll()
        for fd in chunks:
            poller.register(fd, select.POLLIN | select.POLLHUP)
        if self._in >= 0:
            poller.register(self._in, select.POLLOUT)
        deadline = time.monotonic() + self._timeout
        open_fds = len(chunks) + (self._in >= 0)
        try:
            while open_fds:
                left = deadline - time.monotonic()
                if left <= 0:
                    os.kill(self.pid, _signal.SIGKILL)
                    os.waitpid(self.pid, 0)
                    self._result = (-9, b"", b"")
                    raise ChildError(f"did not finish in {self._timeout:g} s (killed)")
                for fd, _ev in poller.poll(int(left * 1000) + 1):
                    if fd == self._in:
                        try:
                            n = os.write(fd, self._pending)
                        except OSError:  # it exited without reading all of its input
                            n = len(self._pending)
                        self._pending = self._pending[n:]
                        if not self._pending:
                            poller.unregister(fd)
                            os.close(fd)
                            self._in = -1
                            open_fds -= 1
                        continue
                    data = os.read(fd, 65536)
                    if data:
                        chunks[fd].append(data)
                    else:
                        poller.unregister(fd)
                        open_fds -= 1
        finally:
            for fd in (self._out, self._err, self._in):
                if fd >= 0:
                    os.close(fd)
            self._out = self._err = self._in = -1
        _, status = os.waitpid(self.pid, 0)
        self._result = (os.waitstatus_to_exitcode(status), b"".join(chunks[out_fd]), b"".join(chunks[err_fd]))
        return self._result


_detached: list[int] = []  # children left to finish on their own (`Child.detach`), reaped when done


def _reap_detached() -> None:
    for pid in list(_detached):
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            done = pid
        if done:
            _detached.remove(pid)


def _inherited_fds() -> list[int]:
    """Descriptors above 2 a child would inherit (not close-on-exec): they are closed in it."""
    out: list[int] = []
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:
        return out
    for name in names:
        fd = int(name)
        if fd > 2:
            try:
                if os.get_inheritable(fd):
                    out.append(fd)
            except OSError:
                pass  # the directory's own descriptor, closed by now
    return out


def which(name: str, path: str) -> str:
    """The program `name` in the PATH-like `path`, or `name` itself (spawn then says it is missing)."""
    if "/" in name:
        return name
    for d in path.split(":"):
        p = os.path.join(d, name)
        if os.access(p, os.X_OK):
            return p
    return name


def spawn(argv: Sequence[str], env: Mapping[str, str], stdin: bytes = b"", timeout: float = 60.0) -> Child:
    """Start argv[0] (a path) with this environment and input; ChildError if it cannot be started."""
    if _detached:
        _reap_detached()
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    try:
        actions: list[tuple[int, ...]] = [(os.POSIX_SPAWN_DUP2, in_r, 0), (os.POSIX_SPAWN_DUP2, out_w, 1), (os.POSIX_SPAWN_DUP2, err_w, 2)]
        actions += [(os.POSIX_SPAWN_CLOSE, fd) for fd in _inherited_fds()]
        head = stdin[:_PIPE_MAX]
        if head:
            os.write(in_w, head)  # fits in the empty pipe: never blocks
        try:
            pid = os.posix_spawn(argv[0], list(argv), dict(env), file_actions=actions,
                                 setsigdef=(_signal.SIGPIPE, _signal.SIGXFSZ))
        except OSError as exc:
            raise ChildError(f"{argv[0]}: {exc.strerror}") from None
    except BaseException:
        for fd in (in_w, out_r, err_r):
            os.close(fd)
        raise
    finally:
        for fd in (in_r, out_w, err_w):
            os.close(fd)
    rest = stdin[len(head):]
    if not rest:
        os.close(in_w)
        in_w = -1
    else:
        os.set_blocking(in_w, False)
    return Child(pid, out_r, err_r, in_w, rest, timeout)


def run(argv: Sequence[str], env: Mapping[str, str], stdin: bytes = b"", timeout: float = 60.0) -> tuple[int, bytes, bytes]:
    """spawn and wait."""
    return spawn(argv, env, stdin, timeout).wait()
