"""What a killed pod may leave of its networks and processes, by pod uuid (the fault tier's checks).

Counted per pod, not as a snapshot of the host: other tests (and other CNI users) add and remove
veths, rules and leases at the same time. A pod's CNI container id is its uuid: the ipMasq rules
carry it in their comment, host-local's lease files hold it; its host veth is the device of the
route to its leased address (read before gc: the lease says which address).
"""

from __future__ import annotations

import os
import subprocess

IPAM_DIR = "/var/lib/cni/rkt"  # pyrkt.net.config.IPAM_DIR: the built-in networks' leases


def pod_uuids(data: str) -> set[str]:
    """Every pod of the data dir, in any state (embryos' dot names too)."""
    out: set[str] = set()
    pods = os.path.join(data, "pods")
    for state in os.listdir(pods) if os.path.isdir(pods) else []:
        for name in os.listdir(os.path.join(pods, state)):
            name = name.lstrip(".").removesuffix(".new")
            if len(name) == 36:
                out.add(name)
    return out


def leases_of(uuid: str) -> dict[str, str]:
    """Lease file -> address, of the built-in networks' host-local leases held by the pod."""
    out = {}
    for root, _dirs, files in os.walk(IPAM_DIR):
        for f in files:
            path = os.path.join(root, f)
            try:
                with open(path) as fh:
                    if fh.readline().strip() == uuid:
                        out[path] = f
            except OSError:
                pass
    return out


def veths_of(addresses: list[str]) -> set[str]:
    """Host devices routing to the addresses (ptp's host veth of each)."""
    devs = set()
    for line in subprocess.run(["ip", "-4", "-o", "route", "show"], capture_output=True, text=True).stdout.splitlines():
        words = line.split()
        if words and words[0] in addresses and "dev" in words:
            devs.add(words[words.index("dev") + 1])
    return devs


def net_traces(uuids: set[str], veths: set[str]) -> list[str]:
    """What is left of the pods: iptables rules naming them, their leases, their veths, mounts."""
    left = []
    rules = subprocess.run(["iptables-save"], capture_output=True, text=True).stdout.splitlines()
    with open("/proc/self/mountinfo") as f:
        mounts = f.read().splitlines()
    for uuid in uuids:
        left += [f"iptables: {r}" for r in rules if uuid in r]
        left += [f"lease: {p}" for p in leases_of(uuid)]
        left += [f"mount: {m.split()[4]}" for m in mounts if uuid in m]
    for dev in veths:
        if subprocess.run(["ip", "link", "show", "dev", dev], capture_output=True).returncode == 0:
            left.append(f"veth: {dev}")
    return left


def processes_of(data: str) -> list[int]:
    """Processes whose command line names the data dir (a pod init is a clone of `rkt run`)."""
    out = []
    for pid in os.listdir("/proc"):
        if pid.isdigit() and int(pid) != os.getpid():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if data.encode() in f.read().split(b"\0"):
                        out.append(int(pid))
            except OSError:
                pass
    return out
