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

import os

from pyrkt import fastjson  # json through _json alone: `import json` pulls in re (~6 ms of every pod)
from pyrkt.net import proc

TYPE_CHECKING = False  # typing costs ~3 ms at import, on every `rkt run` on a CNI network
if TYPE_CHECKING:
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


class Running:
    """One plugin started (`start_plugin`); `finish_plugin` waits for it."""

    __slots__ = ("network", "kind", "command", "child")

    def __init__(self, network: str, kind: str, command: str, child: proc.Child) -> None:
        self.network, self.kind, self.command, self.child = network, kind, command, child


def start_plugin(network: str, conf: dict[str, Any], command: str, container_id: str, netns: str, ifname: str,
                 args: str, path: tuple[str, ...]) -> Running:
    """Start one plugin; CniError if it is not in CNI_PATH or cannot be run."""
    kind = str(conf.get("type") or "")
    binary = find_plugin(kind, path)
    if binary is None:
        raise CniError(network, kind or "?", f"not found in CNI_PATH {':'.join(path)}")
    env = {
        "CNI_COMMAND": command, "CNI_CONTAINERID": container_id, "CNI_NETNS": netns, "CNI_IFNAME": ifname,
        "CNI_ARGS": args, "CNI_PATH": ":".join(path), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
    }
    try:
        child = proc.spawn([binary], env, fastjson.dumps(conf).encode())
    except proc.ChildError as exc:
        raise CniError(network, kind, str(exc)) from None
    return Running(network, kind, command, child)


def finish_plugin(run: Running) -> dict[str, Any] | None:
    """The plugin's parsed result (ADD), or None; CniError with the plugin's own message."""
    network, kind = run.network, run.kind
    try:
        code, stdout, stderr = run.child.wait()
    except proc.ChildError as exc:
        raise CniError(network, kind, str(exc)) from None
    out = stdout.decode(errors="replace").strip()
    if code != 0:
        raise CniError(network, kind, _error_text(out, stderr.decode(errors="replace"), code))
    if run.command != "ADD" or not out:
        return None
    try:
        result = fastjson.loads(out)
    except ValueError:
        raise CniError(network, kind, f"result is not JSON: {out[:200]!r}") from None
    if not isinstance(result, dict):
        raise CniError(network, kind, "result is not a JSON object")
    return result


def exec_plugin(network: str, conf: dict[str, Any], command: str, container_id: str, netns: str, ifname: str,
                args: str, path: tuple[str, ...]) -> dict[str, Any] | None:
    """Run one plugin once; its parsed result (ADD), or None. Raises CniError with the plugin's own message."""
    return finish_plugin(start_plugin(network, conf, command, container_id, netns, ifname, args, path))


def _error_text(out: str, err: str, code: int) -> str:
    """The spec's error object as one line: `msg` (`details`), else the plugin's stderr."""
    try:
        obj = fastjson.loads(out)
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


class Chain:
    """One command through a list's plugins, one after another, the first already running.

    ADD runs them in order, each given the previous one's result as
    prevResult; DEL in reverse, each given what ADD gave (when it got that
    far), and every plugin is tried, its error kept. `start_add` and
    `start_delete` return as soon as the first plugin is started, so the
    caller can do other work while it runs; `finish` runs the rest.
    """

    __slots__ = ("netconf", "command", "container_id", "netns", "ifname", "args", "path", "runtime_config",
                 "prev", "todo", "running", "errors")

    def __init__(self, netconf: dict[str, Any], command: str, container_id: str, netns: str, ifname: str, args: str,
                 path: tuple[str, ...], runtime_config: dict[str, Any] | None, prev: dict[str, Any] | None) -> None:
        self.netconf, self.command, self.container_id = netconf, command, container_id
        self.netns, self.ifname, self.args, self.path, self.runtime_config = netns, ifname, args, path, runtime_config
        self.prev = prev
        plugins = list(netconf["plugins"])
        self.todo = plugins if command == "ADD" else plugins[::-1]
        self.running: Running | None = None
        self.errors: list[str] = []

    def _next(self) -> None:
        """Start the next plugin (DEL: one that cannot start is an error, and the next is tried)."""
        while self.todo:
            conf = plugin_conf(self.netconf, self.todo.pop(0), self.prev, self.runtime_config)
            try:
                self.running = start_plugin(self.netconf["name"], conf, self.command, self.container_id, self.netns,
                                            self.ifname, self.args, self.path)
                return
            except CniError as exc:
                if self.command == "ADD":
                    raise
                self.errors.append(str(exc))

    def finish(self) -> None:
        while self.running is not None:
            run, self.running = self.running, None
            try:
                res = finish_plugin(run)
            except CniError as exc:
                if self.command == "ADD":
                    raise
                self.errors.append(str(exc))
                res = None
            if res is not None and self.command == "ADD":
                self.prev = res
            self._next()


def start_add(netconf: dict[str, Any], container_id: str, netns: str, ifname: str, args: str,
              path: tuple[str, ...] = DEFAULT_PATH, runtime_config: dict[str, Any] | None = None,
              prev: dict[str, Any] | None = None) -> Chain:
    """Start ADD through the list (see Chain); CniError if its first plugin cannot be started.

    `prev`: the result of what came before the list's first plugin (pyrkt.net.ptp's), its prevResult.
    """
    chain = Chain(netconf, "ADD", container_id, netns, ifname, args, path, runtime_config, prev)
    chain._next()
    return chain


def finish_add(chain: Chain) -> dict[str, Any]:
    """Run the rest of the ADD; the last result (the network's). CniError naming the plugin that failed."""
    chain.finish()
    return chain.prev or {}


def add(netconf: dict[str, Any], container_id: str, netns: str, ifname: str, args: str,
        path: tuple[str, ...] = DEFAULT_PATH, runtime_config: dict[str, Any] | None = None) -> dict[str, Any]:
    """ADD through every plugin of the list in order; the last result (the network's)."""
    return finish_add(start_add(netconf, container_id, netns, ifname, args, path, runtime_config))


def start_delete(netconf: dict[str, Any], container_id: str, netns: str, ifname: str, args: str,
                 path: tuple[str, ...] = DEFAULT_PATH, runtime_config: dict[str, Any] | None = None,
                 result: dict[str, Any] | None = None) -> Chain:
    """Start DEL through the list in reverse (see Chain); never raises: `finish_delete` returns the errors."""
    chain = Chain(netconf, "DEL", container_id, netns, ifname, args, path, runtime_config, result)
    chain._next()
    return chain


def finish_delete(chain: Chain) -> list[str]:
    chain.finish()
    return chain.errors


def delete(netconf: dict[str, Any], container_id: str, netns: str, ifname: str, args: str,
           path: tuple[str, ...] = DEFAULT_PATH, runtime_config: dict[str, Any] | None = None,
           result: dict[str, Any] | None = None) -> list[str]:
    """DEL through every plugin in reverse order; every plugin is tried, the errors come back.

    `result` (what ADD gave, when it got that far) is each plugin's prevResult,
    as the spec asks from 0.4.0. A plugin must treat DEL of what it never added
    as success, so this is safe to repeat.
    """
    return finish_delete(start_delete(netconf, container_id, netns, ifname, args, path, runtime_config, result))


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
