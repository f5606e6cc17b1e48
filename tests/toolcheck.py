"""The tools the tests run, and the Debian package (in packages.apt) that provides each.

A missing tool FAILS the test that needs it instead of skipping it: every one is
in packages.apt, so `make install` provides it, and a skip would report a broken
set-up as a green run (issue 9: tests that tell the truth). Skips remain only
for what cannot exist on this machine: a kernel feature, AppArmor, a port
another process holds. `python` modules of the `test` extra (mypy, grpc_tools)
are imported plainly for the same reason. tests/unit/test_toolcheck.py keeps
this table and packages.apt in step.
"""

from __future__ import annotations

import os
import shutil

import pytest

TOOLS: dict[str, str] = {
    "runc": "runc",
    "crun": "crun",
    "strace": "strace",
    "unshare": "util-linux",
    "setpriv": "util-linux",
    "skopeo": "skopeo",
    "umoci": "umoci",
    "docker-registry": "docker-registry",
    "htpasswd": "apache2-utils",
    "openssl": "openssl",
    "gpg": "gnupg",
    "podman": "podman",
    "conmon": "conmon",
    "containerd": "containerd",
    "ctr": "containerd",
    "containerd-shim-runc-v2": "containerd",
    "newuidmap": "uidmap",
    "newgidmap": "uidmap",
    "useradd": "passwd",
    "userdel": "passwd",
    "slirp4netns": "slirp4netns",
    "iptables": "iptables",
    "ip": "iproute2",
}

# files of packages.apt's packages that tests read
FILES: dict[str, str] = {
    "/usr/share/containers/seccomp.json": "golang-github-containers-common",  # the seccomp profile podman uses
    "/usr/lib/cni/ptp": "containernetworking-plugins",  # the CNI plugins (tests/net, the default network)
}


def need_tools(*tools: str) -> None:
    """Fail (not skip) the calling test, fixture or module when a tool is not installed."""
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        packages = sorted({TOOLS.get(t, "?") for t in missing})
        pytest.fail(f"not installed: {' '.join(missing)} (Debian {' '.join(packages)}, listed in packages.apt: "
                    "run `make install`)", pytrace=False)


def need_file(path: str) -> None:
    """Fail when a file a packages.apt package installs is missing."""
    if not os.path.exists(path):
        pytest.fail(f"missing {path} (Debian {FILES.get(path, '?')}: run `make install`)", pytrace=False)


def need_installed(path: str) -> None:
    """Fail when an installed command of the venv is missing: `make test` installs it first."""
    if not os.access(path, os.X_OK):
        pytest.fail(f"{path} is not installed: run `make install` (make test does)", pytrace=False)
