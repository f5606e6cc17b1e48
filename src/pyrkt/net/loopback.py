"""Bring up `lo` in the current network namespace (the pod init does it in its new netns).

Built-in modules only: the pod init runs this before it says it is ready, and
`import socket` (its enums) costs ~10 ms there, `struct` a little more.
"""

from __future__ import annotations

_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 1


def lo_up() -> None:
    import sys

    import _socket
    import fcntl

    s = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM)
    try:
        ifreq = b"lo".ljust(16, b"\0") + bytes(24)  # struct ifreq: the name, then ifr_flags (a short) in the union
        got = fcntl.ioctl(s.fileno(), _SIOCGIFFLAGS, ifreq)
        flags = int.from_bytes(got[16:18], sys.byteorder) | _IFF_UP
        fcntl.ioctl(s.fileno(), _SIOCSIFFLAGS, ifreq[:16] + flags.to_bytes(2, sys.byteorder) + bytes(22))
    finally:
        s.close()
