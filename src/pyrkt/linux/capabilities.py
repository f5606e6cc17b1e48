"""Linux capabilities by name, and applying the OCI process capability sets.

The order of operations matters and follows the kernel's rules: the bounding
set is reduced while the process still has CAP_SETPCAP, the user is switched
with PR_SET_KEEPCAPS so permitted capabilities survive setuid, then capset()
sets effective/permitted/inheritable, and ambient capabilities are raised last
(they must be both permitted and inheritable).
"""

from __future__ import annotations

from pyrkt.linux import syscalls

CAPABILITIES: dict[str, int] = {
    "CAP_CHOWN": 0,
    "CAP_DAC_OVERRIDE": 1,
    "CAP_DAC_READ_SEARCH": 2,
    "CAP_FOWNER": 3,
    "CAP_FSETID": 4,
    "CAP_KILL": 5,
    "CAP_SETGID": 6,
    "CAP_SETUID": 7,
    "CAP_SETPCAP": 8,
    "CAP_LINUX_IMMUTABLE": 9,
    "CAP_NET_BIND_SERVICE": 10,
    "CAP_NET_BROADCAST": 11,
    "CAP_NET_ADMIN": 12,
    "CAP_NET_RAW": 13,
    "CAP_IPC_LOCK": 14,
    "CAP_IPC_OWNER": 15,
    "CAP_SYS_MODULE": 16,
    "CAP_SYS_RAWIO": 17,
    "CAP_SYS_CHROOT": 18,
    "CAP_SYS_PTRACE": 19,
    "CAP_SYS_PACCT": 20,
    "CAP_SYS_ADMIN": 21,
    "CAP_SYS_BOOT": 22,
    "CAP_SYS_NICE": 23,
    "CAP_SYS_RESOURCE": 24,
    "CAP_SYS_TIME": 25,
    "CAP_SYS_TTY_CONFIG": 26,
    "CAP_MKNOD": 27,
    "CAP_LEASE": 28,
    "CAP_AUDIT_WRITE": 29,
    "CAP_AUDIT_CONTROL": 30,
    "CAP_SETFCAP": 31,
    "CAP_MAC_OVERRIDE": 32,
    "CAP_MAC_ADMIN": 33,
    "CAP_SYSLOG": 34,
    "CAP_WAKE_ALARM": 35,
    "CAP_BLOCK_SUSPEND": 36,
    "CAP_AUDIT_READ": 37,
    "CAP_PERFMON": 38,
    "CAP_BPF": 39,
    "CAP_CHECKPOINT_RESTORE": 40,
}

CAP_SETPCAP = 8
SETS = ("bounding", "effective", "permitted", "inheritable", "ambient")


class CapabilityError(ValueError):
    pass


def normalize(name: str) -> str:
    """`net_admin`, `NET_ADMIN` and `CAP_NET_ADMIN` all name one capability."""
    upper = name.strip().upper()
    return upper if upper.startswith("CAP_") else "CAP_" + upper


def mask_of(names: list[str] | None, last_cap: int) -> int:
    """Bit mask of capability names. Unknown names are an error; names the
    running kernel does not have (above cap_last_cap) are skipped, as runc does."""
    mask = 0
    for name in names or ():
        number = CAPABILITIES.get(normalize(name))
        if number is None:
            raise CapabilityError(f"unknown capability {name!r}")
        if number <= last_cap:
            mask |= 1 << number
    return mask


def last_cap() -> int:
    try:
        with open("/proc/sys/kernel/cap_last_cap", "rb") as f:
            return int(f.read())
    except OSError:
        return max(CAPABILITIES.values())


class CapabilitySets:
    """The five OCI capability sets as bit masks.

    An absent (or null) set is the EMPTY set, and so is an absent
    `capabilities` object, as in the runtime spec and runc: containerd writes
    `drop: [ALL]` as `"capabilities": {}`, and reading an absent `bounding` as
    "leave it" would let uid 0 regain every capability at its first execve.
    """

    __slots__ = ("bounding", "effective", "permitted", "inheritable", "ambient")

    def __init__(self, spec: dict[str, list[str]] | None, last: int) -> None:
        spec = spec or {}
        self.bounding = mask_of(spec.get("bounding"), last)
        self.effective = mask_of(spec.get("effective"), last)
        self.permitted = mask_of(spec.get("permitted"), last)
        self.inheritable = mask_of(spec.get("inheritable"), last)
        self.ambient = mask_of(spec.get("ambient"), last)

    def drop_bounding(self, last: int) -> None:
        for cap in range(last + 1):
            if not self.bounding & (1 << cap):
                syscalls.prctl(syscalls.PR_CAPBSET_DROP, cap)

    def apply(self, last: int) -> None:
        """Set effective/permitted/inheritable, then raise the ambient set."""
        syscalls.capset(self.effective, self.permitted, self.inheritable)
        syscalls.prctl(syscalls.PR_CAP_AMBIENT, syscalls.PR_CAP_AMBIENT_CLEAR_ALL)
        for cap in range(last + 1):
            if self.ambient & (1 << cap):
                try:
                    syscalls.prctl(syscalls.PR_CAP_AMBIENT, syscalls.PR_CAP_AMBIENT_RAISE, cap)
                except OSError:
                    # not in permitted+inheritable: the kernel refuses, runc ignores it too
                    pass
