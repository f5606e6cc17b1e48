"""linux.sysctl: only namespaced keys, and only with the namespace of their own.

A sysctl outside the container's namespaces would change the host, so keys are
checked against the kernel's namespaced sets first (as runc does) and refused
with the reason otherwise.
"""

from __future__ import annotations

from pyrkt.oci.config import Config

IPC_KEYS = frozenset({
    "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
    "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced",
})
UTS_KEYS = frozenset({"kernel.hostname", "kernel.domainname"})


class SysctlError(Exception):
    pass


def check(cfg: Config) -> None:
    """Refuse sysctls the container's namespaces do not isolate (pure, called in create)."""
    new_or_joined = {ns.type for ns in cfg.namespaces}
    for key in cfg.sysctl:
        if key in IPC_KEYS or key.startswith("fs.mqueue."):
            if "ipc" not in new_or_joined:
                raise SysctlError(f"sysctl {key!r} is not allowed: the container has no ipc namespace of its own")
        elif key.startswith("net."):
            if "network" not in new_or_joined:
                raise SysctlError(f"sysctl {key!r} is not allowed: the container shares the host's network namespace")
        elif key in UTS_KEYS:
            if "uts" not in new_or_joined:
                raise SysctlError(f"sysctl {key!r} is not allowed: the container has no uts namespace of its own")
        else:
            raise SysctlError(f"sysctl {key!r} is not in a namespace the container owns, so it cannot be set")


def apply_sysctl(cfg: Config) -> None:
    for key, value in cfg.sysctl.items():
        path = "/proc/sys/" + key.replace(".", "/")
        if ".." in key or "/" in key:
            raise SysctlError(f"sysctl {key!r}: invalid name")
        try:
            with open(path, "w") as f:
                f.write(str(value))
        except OSError as exc:
            raise SysctlError(f"sysctl {key}={value}: {exc.strerror}") from None
