"""`features`: the runtime-spec features document -- what this runtime really does on this host."""

from __future__ import annotations

import os

from pyrkt import OCI_VERSION, __version__

HOOKS = ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"]

MOUNT_OPTIONS = [
    "async", "atime", "bind", "defaults", "dev", "diratime", "dirsync", "exec", "lazytime", "mand", "noatime",
    "nodev", "nodiratime", "noexec", "nolazytime", "nomand", "norelatime",
    "nostrictatime", "nosuid", "nosymfollow", "private", "rbind", "relatime", "remount", "ro", "rprivate",
    "rshared", "rslave", "runbindable", "rw", "shared", "slave", "strictatime", "suid", "sync", "tmpcopyup", "unbindable",
]

NAMESPACES = ["cgroup", "ipc", "mount", "network", "pid", "user", "uts"]


def features() -> dict[str, object]:
    from pyrkt.linux.capabilities import CAPABILITIES, last_cap
    from pyrkt.linux.cgroups import features as cgroup_features
    from pyrkt.linux.seccomp import features as seccomp_features
    from pyrkt.oci.security import apparmor_enabled, selinux_enabled

    last = last_cap()
    namespaces = list(NAMESPACES)
    if os.path.exists("/proc/self/ns/time"):
        namespaces.append("time")
    return {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": OCI_VERSION,
        "hooks": HOOKS,
        "mountOptions": MOUNT_OPTIONS,
        "linux": {
            "namespaces": sorted(namespaces),
            "capabilities": [n for n, v in sorted(CAPABILITIES.items(), key=lambda kv: kv[1]) if v <= last],
            "cgroup": cgroup_features(),
            "seccomp": seccomp_features(),
            "apparmor": {"enabled": apparmor_enabled()},
            "selinux": {"enabled": selinux_enabled()},
            "intelRdt": {"enabled": False},
            "mountExtensions": {"idmap": {"enabled": _has_mount_setattr()}},
        },
        "annotations": {"io.pyrkt.runtime.version": __version__},
    }


def _has_mount_setattr() -> bool:
    """mount_setattr(2) exists (kernel 5.12+): probed with an invalid fd, which gives EBADF, not ENOSYS."""
    import ctypes

    from pyrkt.linux import syscalls as sc

    if sc.libc().syscall(442, -1, b"", 0, None, 0) == 0:  # pragma: no cover
        return True
    return ctypes.get_errno() != 38
