"""IP masquerading of the built-in default network: one iptables rule per pod, made and removed by pyrkt.

Why not ptp's own `ipMasq`: ptp makes a chain per pod and runs iptables 3
times on ADD and 6 on DEL (10-20 ms each here: ~110 ms of every pod), and it
can remove its rule only from inside the pod's netns. One rule in
nat/POSTROUTING, added with one iptables run and deleted with one, needs
neither: `-s POD_IP/32 ! -d SUBNET -j MASQUERADE`, commented with the pod's
UUID so a listing shows whose it is. Networks from net.d that ask for
`ipMasq` keep the plugin's own masquerading.
"""

from __future__ import annotations

import subprocess

IPTABLES = "iptables"


class MasqError(Exception):
    """iptables refused the rule; one line."""


def rule(ip: str, subnet: str, container_id: str, network: str) -> list[str]:
    return ["POSTROUTING", "-s", f"{ip}/32", "!", "-d", subnet, "-m", "comment", "--comment",
            f"rkt pod {container_id} network {network}", "-j", "MASQUERADE"]


def _run(op: str, spec: list[str]) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    try:
        return subprocess.run([IPTABLES, "-w", "-t", "nat", op, *spec], capture_output=True, text=True, env=env, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise MasqError(f"iptables: {exc}") from None


def add(spec: list[str]) -> None:
    p = _run("-A", spec)
    if p.returncode != 0:
        raise MasqError("iptables: " + " ".join((p.stderr or p.stdout).split())[:300])


def start_delete(spec: list[str]) -> subprocess.Popen[str] | None:
    """Start removing the rule (it runs while the plugins' DEL does); `finish_delete` waits for it."""
    try:
        return subprocess.Popen([IPTABLES, "-w", "-t", "nat", "-D", *spec], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
    except OSError:
        return None


def finish_delete(proc: subprocess.Popen[str] | None, spec: list[str]) -> str | None:
    if proc is None:
        return delete(spec)
    out, _ = proc.communicate(timeout=60)
    return _deleted(proc.returncode, out or "")


def delete(spec: list[str]) -> str | None:
    """Remove the rule; None when done or when it is not there (idempotent), else the error."""
    p = _run("-D", spec)
    return _deleted(p.returncode, p.stderr or p.stdout)


def _deleted(code: int, out: str) -> str | None:
    if code == 0:
        return None
    text = " ".join(out.split())
    if "does a matching rule exist" in text or "No chain/target/match" in text or "Bad rule" in text:
        return None
    return "iptables: " + text[:300]
