"""Build a small busybox root filesystem and OCI bundle from Debian's busybox-static.

The demo, the tests and the benchmarks all start from this: a static busybox
binary, one symlink per applet, and the few files a container expects
(/etc/passwd, /etc/group, the mount points). No network is needed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess

BUSYBOX = "/bin/busybox"


def build_rootfs(rootfs: str, busybox: str = BUSYBOX) -> str:
    if not os.path.exists(busybox):
        raise FileNotFoundError(f"{busybox} not found: install Debian's busybox-static (make install does)")
    for d in ("bin", "sbin", "usr/bin", "usr/sbin", "etc", "proc", "sys", "dev", "tmp", "root", "home", "var"):
        os.makedirs(os.path.join(rootfs, d), exist_ok=True)
    os.chmod(os.path.join(rootfs, "tmp"), 0o1777)
    target = os.path.join(rootfs, "bin", "busybox")
    if not os.path.exists(target):
        shutil.copy2(busybox, target)
    applets = subprocess.run([busybox, "--list"], check=True, capture_output=True, text=True).stdout.split()
    for applet in applets:
        if applet == "busybox":
            continue
        link = os.path.join(rootfs, "bin", applet)
        if not os.path.lexists(link):
            os.symlink("busybox", link)
    files = {
        "etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
        "etc/group": "root:x:0:\ntty:x:5:\nnogroup:x:65534:\n",
        "etc/hostname": "busybox\n",
        "etc/os-release": 'NAME="busybox"\nID=busybox\nPRETTY_NAME="pyrkt busybox example"\n',
    }
    for name, text in files.items():
        path = os.path.join(rootfs, name)
        if not os.path.exists(path):
            with open(path, "w") as f:
                f.write(text)
    return rootfs


def build_bundle(bundle: str, args: list[str], terminal: bool = False, rootfs: str | None = None) -> str:
    """A bundle with runc's default config, running `args` without a terminal."""
    from pyrkt.oci.specgen import default_spec

    os.makedirs(bundle, exist_ok=True)
    root = os.path.join(bundle, "rootfs")
    if rootfs is None:
        build_rootfs(root)
    elif not os.path.exists(root):
        os.symlink(rootfs, root)
    spec = default_spec()
    proc = spec["process"]
    assert isinstance(proc, dict)
    proc["args"] = list(args)
    proc["terminal"] = terminal
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(spec, f, indent=2)
    return bundle


if __name__ == "__main__":
    import sys

    build_bundle(sys.argv[1], sys.argv[2:] or ["sh"])
