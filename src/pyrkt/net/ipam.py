"""Address leases of the built-in networks, in host-local's own format and with its lock.

pyrkt's ptp (pyrkt.net.ptp) leases here instead of executing host-local: the
directory `<dataDir>/<network>/` holds one file per leased address (named by
the address, holding `CONTAINERID\\r\\nIFNAME`), `last_reserved_ip.0` (where
the next search starts) and `lock`, which both take with flock(2) for every
change. So host-local and pyrkt can lease from one directory at the same time
(a pod made by an older pyrkt, or deleted through the plugin, is released the
same way), and the guarantees stay host-wide: one address, one pod.
"""

from __future__ import annotations

import os

LAST = "last_reserved_ip.0"


class IpamError(Exception):
    """No address left, or the lease directory cannot be used; one line."""


def _int(ip: str) -> int:
    a, b, c, d = (int(p) for p in ip.split("."))
    return (a << 24) | (b << 16) | (c << 8) | d


def _text(n: int) -> str:
    return f"{n >> 24 & 255}.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"


def subnet_range(subnet: str) -> tuple[int, int, int, int]:
    """(network, prefix length, first, last) of host-local's default range: network+1 .. broadcast-1."""
    base, _, plen = subnet.partition("/")
    bits = int(plen)
    mask = (0xFFFFFFFF << (32 - bits)) & 0xFFFFFFFF
    net = _int(base) & mask
    return net, bits, net + 1, (net | (~mask & 0xFFFFFFFF)) - 1


def gateway(subnet: str) -> str:
    """host-local's default gateway: the subnet's first address."""
    return _text(subnet_range(subnet)[0] + 1)


class _Locked:
    def __init__(self, directory: str) -> None:
        self.directory = directory

    def __enter__(self) -> _Locked:
        import fcntl

        os.makedirs(self.directory, mode=0o755, exist_ok=True)
        self.fd = os.open(os.path.join(self.directory, "lock"), os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)  # drops the flock


def reserve(data_dir: str, network: str, subnet: str, container_id: str, ifname: str) -> tuple[str, int]:
    """Lease the next free address of the subnet (after the last one leased, as host-local does); (address, prefix)."""
    directory = os.path.join(data_dir, network)
    net, bits, first, last = subnet_range(subnet)
    gw = first
    try:
        with _Locked(directory):
            try:
                with open(os.path.join(directory, LAST)) as f:
                    start = _int(f.read().strip()) + 1
            except (OSError, ValueError):
                start = first
            if not first <= start <= last:
                start = first
            size = last - first + 1
            for i in range(size):
                cand = first + (start - first + i) % size
                if cand == gw:
                    continue
                ip = _text(cand)
                try:
                    fd = os.open(os.path.join(directory, ip), os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
                except FileExistsError:
                    continue
                try:
                    os.write(fd, f"{container_id.strip()}\r\n{ifname}".encode())
                finally:
                    os.close(fd)
                tmp = os.path.join(directory, LAST + ".tmp")
                with open(tmp, "w") as f:
                    f.write(ip)
                os.rename(tmp, os.path.join(directory, LAST))
                return ip, bits
    except OSError as exc:
        raise IpamError(f"leases in {directory}: {exc.strerror}") from None
    raise IpamError(f"no IP addresses available in range set: {_text(first)}-{_text(last)}")


def release(data_dir: str, network: str, container_id: str, ifname: str) -> None:
    """Drop every lease of this container and interface (none: nothing to do); IpamError if the directory fails."""
    directory = os.path.join(data_dir, network)
    if not os.path.isdir(directory):
        return
    want = f"{container_id.strip()}\r\n{ifname}"
    try:
        with _Locked(directory):
            for entry in os.listdir(directory):
                if entry in ("lock", LAST) or entry.startswith(".") or not entry[0].isdigit():
                    continue
                path = os.path.join(directory, entry)
                try:
                    with open(path, "rb") as f:  # binary: text mode would read its \r\n as \n
                        held = f.read().decode(errors="replace").strip()
                except OSError:
                    continue
                if held == want or held == container_id.strip():  # the older format: the id alone
                    os.unlink(path)
    except OSError as exc:
        raise IpamError(f"leases in {directory}: {exc.strerror}") from None
