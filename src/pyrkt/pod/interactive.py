"""`rkt run --interactive` on a terminal: the app gets a pty of its own, wired to ours.

Why a pty and not our terminal itself: the app runs in its own session inside
the pod's pid namespace, so it cannot take our terminal as its controlling
tty; a shell without one has no job control and `tty` says "not a tty". So,
as rkt's stage1 (systemd-nspawn) does, the app gets a pty allocated inside its
container (`process.terminal`, pyrkt.oci's console socket), and `rkt run`
copies bytes between its own stdio and the pty's master, with our terminal in
raw mode (keys such as Ctrl-C reach the app's line discipline unchanged) and
the pty's size following ours on SIGWINCH.

Unlike a plain copy loop, the proxy also watches the app's process (a pidfd):
when the app exits, the pod is over even if a background process it left
behind still holds the pty open.
"""

from __future__ import annotations

import os
import select

TYPE_CHECKING = False
if TYPE_CHECKING:
    import signal
    from socket import socket
else:
    import _signal as signal  # not signal: bench/README.md "Speed rules"


def wanted(interactive: bool) -> bool:
    """A pty only for --interactive with a terminal on stdin; otherwise plain pass-through of stdio."""
    return interactive and os.isatty(0)


def terminal_size() -> tuple[int, int] | None:
    """(rows, columns) of our terminal, from stdin then stdout."""
    for fd in (0, 1):
        try:
            cols, rows = os.get_terminal_size(fd)
            return rows, cols
        except OSError:
            continue
    return None


def console_pair() -> tuple[socket, socket]:
    """(ours, the runtime's): the runtime sends the pty master over the second one."""
    import socket as socket_module

    return socket_module.socketpair(socket_module.AF_UNIX, socket_module.SOCK_STREAM)


def receive_master(ours: socket) -> int:
    from pyrkt.oci.console import receive_master as receive

    try:
        return receive(ours)
    finally:
        ours.close()


def _write_all(fd: int, data: bytes) -> None:
    while data:
        n = os.write(fd, data)
        data = data[n:]


def proxy(master: int, pid: int) -> None:
    """Copy stdin -> master and master -> stdout until the app `pid` has exited and its output is drained."""
    import termios
    import tty

    from pyrkt.oci.console import set_size

    try:
        pidfd = os.pidfd_open(pid)
    except OSError:
        pidfd = -1
    saved = None
    old_winch = None
    if os.isatty(0):
        saved = termios.tcgetattr(0)
        tty.setraw(0, termios.TCSANOW)

        def resize(_signum: int, _frame: object) -> None:
            size = terminal_size()
            if size:
                try:
                    set_size(master, *size)
                except OSError:
                    pass

        resize(0, None)
        old_winch = signal.signal(signal.SIGWINCH, resize)
    watched = [master, 0] + ([pidfd] if pidfd >= 0 else [])
    try:
        while True:
            try:
                ready, _, _ = select.select(watched, [], [])
            except InterruptedError:
                continue
            if master in ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: every slave fd is closed
                    data = b""
                if not data:
                    break
                try:
                    _write_all(1, data)
                except OSError:
                    pass
            if 0 in ready:
                try:
                    data = os.read(0, 65536)
                except OSError:
                    data = b""
                if data:
                    try:
                        _write_all(master, data)
                    except OSError:
                        pass
                else:  # our stdin ended: tell the app (EOF on a pty is ^D at line start)
                    watched.remove(0)
                    try:
                        os.write(master, b"\x04")
                    except OSError:
                        pass
            if pidfd in ready:
                _drain(master)
                break
    finally:
        if saved is not None:
            termios.tcsetattr(0, termios.TCSADRAIN, saved)
        if old_winch is not None:
            signal.signal(signal.SIGWINCH, old_winch)
        if pidfd >= 0:
            os.close(pidfd)
        os.close(master)


def _drain(master: int) -> None:
    """The app has exited: copy what it wrote that we have not read yet, without waiting for more."""
    while True:
        ready, _, _ = select.select([master], [], [], 0.05)
        if not ready:
            return
        try:
            data = os.read(master, 65536)
        except OSError:
            return
        if not data:
            return
        try:
            _write_all(1, data)
        except OSError:
            return
