"""The host end of a built-in network's veth pair, deleted by pyrkt while ptp's DEL releases the address.

Why: ptp's DEL runs host-local's DEL (a second Go program, ~8 ms) and only
then deletes the veth pair, which the kernel takes 15-30 ms to do here (RCU
grace periods). Both sit between a pod's last app exiting and `rkt run`
returning. Deleting the pair from the host side (`ip link del`, a C program)
while ptp's DEL runs without CNI_NETNS (then it only releases the lease, as
the plugin does when the namespace is gone) overlaps the two; the container
end and the host route to the pod go with the pair, so the plugin has nothing
left to do in the namespace.

Only for the built-in networks (ptp without ipMasq: pyrkt masquerades them
itself), only while the pod's netns is still bound (its pair is alive), and
only for the link whose name AND MAC address the ADD result gave (a name
alone could be a later pod's, veth names being random).
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


def start_delete(result: dict[str, Any], planned: dict[str, str] | None = None) -> proc.Child | None:
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
        return proc.spawn([proc.which(IP, _ENV["PATH"]), "link", "del", "dev", side[0]], _ENV)
    except proc.ChildError:
        return None


def finish_delete(child: proc.Child) -> str | None:
    """None when the pair is gone (also when it went meanwhile), else the error."""
    try:
        code, out, err = child.wait()
    except proc.ChildError as exc:
        return f"ip link del: {exc}"
    text = " ".join((err or out).decode(errors="replace").split())
    if code == 0 or "Cannot find device" in text:
        return None
    return f"ip link del: {text[:300]}"
