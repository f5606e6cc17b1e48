"""A seccomp agent for the tests: what `linux.seccomp.listenerPath` connects to.

Run as ``python seccomp_agent.py LISTEN_FD LOG``: LISTEN_FD is a listening
AF_UNIX stream socket the test made (so there is no start-up race), LOG a file
that gets one JSON line per event. For every connection it receives the
runtime's message -- the container process state JSON with the notification fd
in SCM_RIGHTS (runtime.md, "containerProcessState") -- logs the state and the
number of fds, and answers that fd's notifications (SECCOMP_IOCTL_NOTIF_RECV /
SEND, with fcntl.ioctl on the raw structs):

- mkdir and mkdirat fail with the errno the container's ``listenerMetadata``
  names (``errno=N``),
- ioprio_get returns (IOPRIO_CLASS_BE << 13) | 5, so busybox ``ionice`` prints
  ``best-effort: prio 5`` (a value the kernel would not give: the container only
  shows it if the agent answered),
- anything else returns 0.

Written from the kernel's seccomp_unotify(2) interface and the runtime spec.
"""

from __future__ import annotations

import array
import fcntl
import json
import os
import select
import socket
import struct
import sys
import threading

NOTIF_RECV = 0xC0502100  # _IOWR('!', 0, struct seccomp_notif): 80 bytes
NOTIF_SEND = 0xC0182101  # _IOWR('!', 1, struct seccomp_notif_resp): 24 bytes
NAMES = {
    "x86_64": {83: "mkdir", 258: "mkdirat", 252: "ioprio_get"},
    "aarch64": {34: "mkdirat", 31: "ioprio_get"},
}.get(os.uname().machine, {})
IONICE_VALUE = (2 << 13) | 5

_lock = threading.Lock()


def log(path: str, record: dict[str, object]) -> None:
    with _lock, open(path, "a") as f:
        f.write(json.dumps(record) + "\n")


def answer(fd: int, errno_: int, path: str) -> None:
    """Answer every notification of one filter until no process uses it any more (POLLHUP)."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    while True:
        events = poller.poll()
        if not any(ev & select.POLLIN for _, ev in events):
            break
        buf = bytearray(80)
        try:
            fcntl.ioctl(fd, NOTIF_RECV, buf)
        except OSError:
            continue  # the process was killed while waiting (ENOENT)
        notif_id, pid, _flags, nr = struct.unpack_from("=QIIi", buf)
        name = NAMES.get(nr, str(nr))
        log(path, {"notification": name, "pid": pid})
        if name == "ioprio_get":
            resp = struct.pack("=QqiI", notif_id, IONICE_VALUE, 0, 0)
        elif name in ("mkdir", "mkdirat"):
            resp = struct.pack("=QqiI", notif_id, 0, -errno_, 0)
        else:
            resp = struct.pack("=QqiI", notif_id, 0, 0, 0)
        try:
            fcntl.ioctl(fd, NOTIF_SEND, bytearray(resp))
        except OSError:
            pass
    os.close(fd)


def serve(listen_fd: int, path: str) -> None:
    server = socket.socket(fileno=listen_fd)
    while True:
        conn, _ = server.accept()
        with conn:
            msg, ancdata, _flags, _ = conn.recvmsg(1 << 20, socket.CMSG_SPACE(16 * 4))
            rest = b""
            conn.settimeout(0.2)
            try:  # a large state may come in more than one read
                while chunk := conn.recv(1 << 20):
                    rest += chunk
            except (TimeoutError, OSError):
                pass
        fds = array.array("i")
        for level, kind, data in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
        state = json.loads(msg + rest)
        log(path, {"state": state, "fds": len(fds)})
        metadata = str(state.get("metadata") or "errno=1")
        errno_ = int(metadata.partition("=")[2] or 1)
        for extra in fds[1:]:
            os.close(extra)
        if fds:
            threading.Thread(target=answer, args=(fds[0], errno_, path), daemon=True).start()


if __name__ == "__main__":
    serve(int(sys.argv[1]), sys.argv[2])
