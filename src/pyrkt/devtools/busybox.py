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
import sys

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


def build_aci(path: str, name: str, args: list[str], version: str = "1.0", ports: list[dict[str, object]] | None = None) -> str:
    """An unsigned ACI (a tar of `manifest` and `rootfs/`) whose app runs `args`.

    The tar is written to a temporary name and renamed, so an interrupted
    build never leaves a truncated image that `rkt fetch` would then reject
    with a confusing message.
    """
    import tarfile
    import tempfile

    manifest = {
        "acKind": "ImageManifest",
        "acVersion": "0.8.11",
        "name": name,
        "labels": [
            {"name": "version", "value": version},
            {"name": "os", "value": "linux"},
            {"name": "arch", "value": "amd64"},
        ],
        "app": {"exec": list(args), "user": "0", "group": "0", **({"ports": ports} if ports else {})},
        "annotations": [{"name": "description", "value": "busybox from Debian's busybox-static, built by pyrkt"}],
    }
    with tempfile.TemporaryDirectory() as tmp:
        rootfs = build_rootfs(os.path.join(tmp, "rootfs"))
        with open(os.path.join(tmp, "manifest"), "w") as f:
            json.dump(manifest, f, indent=2)
        part = path + ".part"
        with tarfile.open(part, "w") as tar:
            tar.add(os.path.join(tmp, "manifest"), "manifest")
            tar.add(rootfs, "rootfs")
        os.replace(part, path)
    return path


def main(argv: list[str]) -> int:
    """`python -m pyrkt.devtools.busybox BUNDLE [ARGS…]` or `… --aci FILE NAME [--port=NAME:PROTO:PORT…] [ARGS…]`."""
    if argv[:1] == ["--aci"]:
        ports: list[dict[str, object]] = []
        while len(argv) > 3 and argv[3].startswith("--port="):  # --port=NAME:PROTOCOL:PORT, the app's ports
            pname, proto, num = argv.pop(3)[len("--port="):].split(":")
            ports.append({"name": pname, "protocol": proto, "port": int(num)})
        if len(argv) < 3:
            print("usage: python -m pyrkt.devtools.busybox --aci FILE NAME [ARGS…]", file=sys.stderr)
            return 2
        print(build_aci(argv[1], argv[2], argv[3:] or ["/bin/sh"], ports=ports))
        return 0
    if not argv:
        print("usage: python -m pyrkt.devtools.busybox BUNDLE [ARGS…]", file=sys.stderr)
        return 2
    print(build_bundle(argv[0], argv[1:] or ["sh"]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
