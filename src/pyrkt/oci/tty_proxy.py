"""`run` in the foreground with a terminal: copy between our stdio and the container's pty.

The local terminal is put in raw mode so keys reach the container unchanged
(Ctrl-C becomes the container's SIGINT, through its own line discipline), and
its size follows ours on SIGWINCH.
"""

from __future__ import annotations

import os
import select
import signal


def proxy(master: int, pid: int) -> None:
    import termios
    import tty

    from pyrkt.oci.console import set_size

    stdin_tty = os.isatty(0)
    saved = None
    if stdin_tty:
        saved = termios.tcgetattr(0)
        tty.setraw(0)

        def resize(_s: int, _f: object) -> None:
            try:
                rows, cols = os.get_terminal_size(0)
                set_size(master, rows, cols)
            except OSError:
                pass

        resize(0, None)
        signal.signal(signal.SIGWINCH, resize)
    try:
        fds = [master, 0]
        while True:
            try:
                ready, _, _ = select.select(fds, [], [])
            except InterruptedError:
                continue
            if master in ready:
                try:
                    data = os.read(master, 65536)
                except OSError:
                    data = b""
                if not data:
                    break
                os.write(1, data)
            if 0 in ready:
                data = os.read(0, 65536)
                if not data:
                    fds.remove(0)
                    os.write(master, b"\x04")
                else:
                    os.write(master, data)
    finally:
        if saved is not None:
            termios.tcsetattr(0, termios.TCSADRAIN, saved)
        os.close(master)
