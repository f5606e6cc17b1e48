"""Terminals: a pty allocated inside the container and its master handed out.

The master is opened from the container's own devpts (`/dev/ptmx` after
pivot_root), so the slave's path is valid inside the container. It is sent to
`--console-socket` in one sendmsg with non-empty data (the pty's name) and
exactly one SCM_RIGHTS descriptor, which is what conmon and containerd expect.
"""

from __future__ import annotations

import fcntl
import os
import socket
import struct
import termios

TIOCGPTN = 0x80045430
TIOCSPTLCK = 0x40045431


class ConsoleError(Exception):
    pass


def open_pty() -> tuple[int, str]:
    """Open a new pty from /dev/ptmx; return (master fd, slave path)."""
    try:
        master = os.open("/dev/ptmx", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        raise ConsoleError(f"open /dev/ptmx: {exc.strerror} (is /dev/pts mounted with newinstance?)") from None
    fcntl.ioctl(master, TIOCSPTLCK, struct.pack("i", 0))
    number = struct.unpack("I", fcntl.ioctl(master, TIOCGPTN, b"\0\0\0\0"))[0]
    return master, f"/dev/pts/{number}"


def set_size(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def setup_console(sock: socket.socket, size: tuple[int, int] | None) -> None:
    """In the container: make a pty our controlling terminal and stdio, send the master out."""
    master, slave_path = open_pty()
    slave = os.open(slave_path, os.O_RDWR | os.O_NOCTTY)
    if size and size[0] and size[1]:
        set_size(slave, size[0], size[1])
    try:
        socket.send_fds(sock, [slave_path.encode()], [master])
    except OSError as exc:
        raise ConsoleError(f"sending the terminal to the console socket: {exc.strerror}") from None
    os.close(master)
    os.setsid()
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    if slave > 2:
        os.close(slave)


def receive_master(sock: socket.socket) -> int:
    """On the other side: receive the master fd sent by setup_console."""
    msg, fds, _, _ = socket.recv_fds(sock, 4096, 1)
    if not fds:
        raise ConsoleError("no terminal received from the container")
    return fds[0]
