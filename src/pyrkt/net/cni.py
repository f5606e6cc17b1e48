"""The CNI protocol (spec 0.1.0 - 1.0.0): execute plugins, chain them, read results and errors.

A plugin is a program found by its `type` in CNI_PATH, run with CNI_COMMAND
(ADD, DEL, CHECK), CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME, CNI_ARGS and
CNI_PATH in its environment and one network configuration on stdin; it
answers a result (ADD) or nothing (DEL, CHECK) on stdout, and on failure an
error object `{"code", "msg", "details"}` and a non-zero status. A network
configuration list (`.conflist`) runs its plugins in order for ADD, each
given the previous one's result as `prevResult`, and in reverse for DEL.
"""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

DEFAULT_PATH = ("/usr/lib/cni", "/opt/cni/bin")
# versions whose results carry `ips` and that take `prevResult` (CHECK exists from 0.4.0)
_CHAINED = ("0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")


class CniError(Exception):
    """A plugin failed, or could not be run; one line naming the network and the plugin."""

    def __init__(self, network: str, plugin: str, message: str) -> None:
        super().__init__(f"network {network}: plugin {plugin}: {message}")
        self.network = network
        self.plugin = plugin


def find_plugin(kind: str, path: tuple[str, ...]) -> str | None:
    if not kind or "/" in kind:
        return None
    for d in path:
        p = os.path.join(d, kind)
        if os.access(p, os.X_OK) and os.path.isfile(p):
            return p
    return None


def exec_plugin(network: str, conf: dict[str, Any], command: str, container_id: str, netns: str, ifname: str,
                args: str, path: tuple[str, ...]) -> dict[str, Any] | None:
    """Run one plugin once; its parsed result (ADD), or None. Raises CniError with the plugin's own message."""
    kind = str(conf.get("type") or "")
    binary = find_plugin(kind, path)
    if binary is None:
        raise CniError(network, kind or "?", f"not found in CNI_PATH {':'.join(path)}")
    env = {
        "CNI_COMMAND": command, "CNI_CONTAINERID": container_id, "CNI_NETNS": netns, "CNI_IFNAME": ifname,
        "CNI_ARGS": args, "CNI_PATH": ":".join(path), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
    }
    try:
        proc = subprocess.run([binary], input=json.dumps(conf).encode(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=env, close_fds=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CniError(network, kind, str(exc)) from None
    out = proc.stdout.decode(errors="replace").strip()
    if proc.returncode != 0:
        raise CniError(network, kind, _error_text(out, proc.stderr.decode(errors="replace"), proc.returncode))
    if command != "ADD" or not out:
        return None
    try:
        result = json.loads(out)
    except ValueError:
        raise CniError(network, kind, f"result is not JSON: {out[:200]!r}") from None
    if not isinstance(result, dict):
        raise CniError(network, kind, "result is not a JSON object")
    return result


def _error_text(out: str, err: str, code: int) -> str:
    """The spec's error object as one line: `msg` (`details`), else the plugin's stderr."""
    try:
        obj = json.loads(out)
    except ValueError:
        obj = None
    if isinstance(obj, dict) and obj.get("msg"):
        text = str(obj["msg"])
        if obj.get("details"):
            text += f" ({obj['details']})"
    else:
        text = (err.strip() or out or f"exited with status {code}")
    return " ".join(text.split())[:500]


def plugin_conf(netconf: dict[str, Any], plugin: dict[str, Any], prev: dict[str, Any] | None,
                runtime_config: dict[str, Any] | None) -> dict[str, Any]:
    """One plugin's stdin: its own keys plus the list's name and cniVersion, prevResult and runtimeConfig."""
    conf = dict(plugin)
    conf["name"] = netconf["name"]
    conf["cniVersion"] = netconf.get("cniVersion", "0.4.0")
    if prev is not None and str(conf["cniVersion"]) in _CHAINED:
        conf["prevResult"] = prev
    if runtime_config:
        wanted = {k for k, v in (plugin.get("capabilities") or {}).items() if v}
        rc = {k: v for k, v in runtime_config.items() if k in wanted}
        if rc:
            conf["runtimeConfig"] = rc
    return conf


def add(netconf: dict[str, Any], container_id: str, netns: str, ifname: str, args: str,
        path: tuple[str, ...] = DEFAULT_PATH, runtime_config: dict[str, Any] | None = None) -> dict[str, Any]:
    """ADD through every plugin of the list in order; the last result (the network's)."""
    prev: dict[str, Any] | None = None
    for plugin in netconf["plugins"]:
        res = exec_plugin(netconf["name"], plugin_conf(netconf, plugin, prev, runtime_config), "ADD",
                          container_id, netns, ifname, args, path)
        if res is not None:
            prev = res
    return prev or {}


def delete(netconf: dict[str, Any], container_id: str, netns: str, ifname: str, args: str,
           path: tuple[str, ...] = DEFAULT_PATH, runtime_config: dict[str, Any] | None = None,
           result: dict[str, Any] | None = None) -> list[str]:
    """DEL through every plugin in reverse order; every plugin is tried, the errors come back.

    `result` (what ADD gave, when it got that far) is each plugin's prevResult,
    as the spec asks from 0.4.0. A plugin must treat DEL of what it never added
    as success, so this is safe to repeat.
    """
    errors = []
    for plugin in reversed(netconf["plugins"]):
        try:
            exec_plugin(netconf["name"], plugin_conf(netconf, plugin, result, runtime_config), "DEL",
                        container_id, netns, ifname, args, path)
        except CniError as exc:
            errors.append(str(exc))
    return errors


def check(netconf: dict[str, Any], container_id: str, netns: str, ifname: str, args: str, result: dict[str, Any],
          path: tuple[str, ...] = DEFAULT_PATH, runtime_config: dict[str, Any] | None = None) -> None:
    """CHECK (cniVersion 0.4.0 and later): each plugin in order, given the ADD result; CniError if one fails."""
    if str(netconf.get("cniVersion", "")) in ("0.1.0", "0.2.0", "0.3.0", "0.3.1"):
        return
    for plugin in netconf["plugins"]:
        exec_plugin(netconf["name"], plugin_conf(netconf, plugin, result, runtime_config), "CHECK",
                    container_id, netns, ifname, args, path)


def ip4(result: dict[str, Any]) -> tuple[str, str] | None:
    """(address, prefix length) of the result's first IPv4 address, from any result version."""
    for ip in result.get("ips") or []:
        addr = str(ip.get("address", ""))
        if "." in addr and (ip.get("version") in (None, "4")):
            a, _, plen = addr.partition("/")
            return a, plen or "32"
    old = result.get("ip4") or {}
    if old.get("ip"):
        a, _, plen = str(old["ip"]).partition("/")
        return a, plen or "32"
    return None
