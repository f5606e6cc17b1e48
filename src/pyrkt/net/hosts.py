"""The pod's /etc/hosts: localhost, the pod's host name with its IP, and --hosts-entry lines.

Light (built-ins only): `--net=host` pods use it too.
"""

from __future__ import annotations

import os

DEFAULT_HOSTS = ("127.0.0.1\tlocalhost localhost.localdomain localhost4 localhost4.localdomain4\n"
                 "::1\tlocalhost localhost.localdomain localhost6 localhost6.localdomain6\n")


def entries_text(entries: list[str]) -> str | None:
    """What prepare records from --hosts-entry: None (none), "host", or the extra lines."""
    if not entries:
        return None
    if "host" in entries:
        return "host"
    from pyrkt.net.spec import parse_hosts_entry

    lines = ""
    for entry in entries:
        pair = parse_hosts_entry(entry)
        if pair:
            lines += f"{pair[0]}\t{pair[1]}\n"
    return lines


def choose(recorded: str | None, hostname: str, pod_ip: str | None, apps_rootfs: list[str]) -> str | None:
    """The hosts file text to bind into every app, or None to keep each image's own.

    `recorded`: `entries_text`'s value. Without entries, a pod on a
    CNI network always gets a file (its name must resolve to its address); a
    host/none pod only when some image has no /etc/hosts.
    """
    if recorded == "host":
        with open("/etc/hosts") as f:
            return f.read()
    if recorded is None and pod_ip is None and all(os.path.exists(os.path.join(r, "etc/hosts")) for r in apps_rootfs):
        return None
    own = f"{pod_ip or '127.0.0.1'}\t{hostname}\n"
    return DEFAULT_HOSTS + own + (recorded or "")
