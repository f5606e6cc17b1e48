"""The host end of a built-in network's veth pair (pyrkt.net.ptp's), deleted with `ip link del`.

Why a child process: the kernel takes 15-30 ms to delete a veth pair here,
and a netlink request waits for all of it. The pair is unregistered (gone from
the host: not listed, its routes flushed) within a few ms; the rest is RCU
grace periods before the memory is freed. Run as `ip` (a small C program),
the deletion goes on while the pod's containers and mounts are removed, and
`rkt run` waits only until the pair is unregistered; `ip` finishes alone.
The container end and the host route to the pod go with the pair.

Only the link whose name AND MAC address the ADD recorded is deleted (a name
alone could be a later pod's: veth names are random).
"""

from __future__ import annotations

import os

from pyrkt.net import proc

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

IP = "ip"
_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}


def host_side(result: dict[str, Any]) -> tuple[str, str] | None:
    """(name, mac) of the result's host interface: the one without a sandbox."""
    for iface in result.get("interfaces") or []:
        if isinstance(iface, dict) and not iface.get("sandbox") and iface.get("name") and iface.get("mac"):
            return str(iface["name"]), str(iface["mac"]).lower()
    return None


class Deleting:
    """`ip link del` of one host veth, started."""

    __slots__ = ("name", "child")

    def __init__(self, name: str, child: proc.Child) -> None:
        self.name, self.child = name, child


def start_delete(result: dict[str, Any], planned: dict[str, str] | None = None) -> Deleting | None:
    """Start deleting the result's host veth if it is there with its MAC; None when it is not (or `ip` is missing).

    `planned`: pyrkt.net.ptp's names for the pair, used when the ADD ended before its result.
    """
    side = host_side(result) or ((planned["host"], planned["host_mac"]) if planned else None)
    if side is None or "/" in side[0] or side[0].startswith("."):
        return None
    try:
        with open(f"/sys/class/net/{side[0]}/address") as f:
            if f.read().strip().lower() != side[1]:
                return None
    except OSError:
        return None
    try:
        return Deleting(side[0], proc.spawn([proc.which(IP, _ENV["PATH"]), "link", "del", "dev", side[0]], _ENV))
    except proc.ChildError:  # no `ip`: the same request from here, waiting for it
        from pyrkt.net import netlink

        rtnl = netlink.Rtnl()
        try:
            rtnl.request(netlink.RTM_DELLINK, 0, netlink.ifinfo() + netlink.attr(netlink.IFLA_IFNAME, netlink.name(side[0])))
        except OSError:
            pass  # gone meanwhile, or the next teardown (rkt gc) finds it again
        finally:
            rtnl.close()
        return None


def finish_delete(deleting: Deleting, timeout: float = 60.0) -> str | None:
    """None when the pair is gone (also when it went meanwhile), else the error.

    Gone means unregistered: no longer listed, its addresses and routes
    flushed (its /sys/class/net entry goes with them). The kernel then waits
    for RCU grace periods (15-25 ms here) before it frees the devices and
    answers `ip`; that wait is `ip`'s alone: it is left to finish on its own.
    """
    import time

    child, sysfs = deleting.child, f"/sys/class/net/{deleting.name}"
    deadline = time.monotonic() + timeout
    while os.path.lexists(sysfs):
        if child.exited():
            code, out, err = child.wait()
            if not os.path.lexists(sysfs):
                return None
            text = " ".join((err or out).decode(errors="replace").split())
            if code == 0 or "Cannot find device" in text:
                return None
            return f"ip link del: {text[:300] or f'exit status {code}'}"
        if time.monotonic() > deadline:
            child.detach()
            return f"ip link del: {deleting.name} still there after {timeout:g} s"
        time.sleep(0.0005)
    child.detach()
    return None
