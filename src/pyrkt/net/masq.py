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

from pyrkt.net import proc

IPTABLES = "iptables"
_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}


class MasqError(Exception):
    """iptables refused the rule; one line."""


def rule(ip: str, subnet: str, container_id: str, network: str) -> list[str]:
    return ["POSTROUTING", "-s", f"{ip}/32", "!", "-d", subnet, "-m", "comment", "--comment",
            f"rkt pod {container_id} network {network}", "-j", "MASQUERADE"]


def _start(op: str, spec: list[str]) -> proc.Child:
    try:
        return proc.spawn([proc.which(IPTABLES, _ENV["PATH"]), "-w", "-t", "nat", op, *spec], _ENV)
    except proc.ChildError as exc:
        raise MasqError(f"iptables: {exc}") from None


def _wait(child: proc.Child) -> tuple[int, str]:
    try:
        code, out, err = child.wait()
    except proc.ChildError as exc:
        return 1, str(exc)
    return code, (err or out).decode(errors="replace")


def start_add(spec: list[str]) -> proc.Child:
    """Start adding the rule (MasqError if iptables cannot be run); `finish_add` waits for it."""
    return _start("-A", spec)


def finish_add(child: proc.Child) -> None:
    code, text = _wait(child)
    if code != 0:
        raise MasqError("iptables: " + " ".join(text.split())[:300])


def add(spec: list[str]) -> None:
    finish_add(start_add(spec))


def _comment(spec: list[str]) -> str:
    return spec[spec.index("--comment") + 1] if "--comment" in spec else ""


def start_delete(spec: list[str]) -> proc.Child | bool | None:
    """Remove the rule: from nf_tables at once (True), else start `iptables -D`; `finish_delete` waits for it.

    Why nf_tables first: see pyrkt.net.nft (0.3 ms instead of iptables' 13-25 ms).
    """
    from pyrkt.net import nft

    comment = _comment(spec)
    if comment and nft.delete_by_comment("nat", spec[0], comment):
        return True
    try:
        return _start("-D", spec)
    except MasqError:
        return None


def finish_delete(child: proc.Child | bool | None, spec: list[str]) -> str | None:
    if child is True:
        return None
    if child is None or child is False:
        return delete(spec)
    return _deleted(*_wait(child))


def delete(spec: list[str]) -> str | None:
    """Remove the rule (iptables -D); None when done or when it is not there (idempotent), else the error."""
    try:
        child = _start("-D", spec)
    except MasqError as exc:
        return str(exc)
    return _deleted(*_wait(child))


def _deleted(code: int, out: str) -> str | None:
    if code == 0:
        return None
    text = " ".join(out.split())
    if "does a matching rule exist" in text or "No chain/target/match" in text or "Bad rule" in text:
        return None
    return "iptables: " + text[:300]
