"""`rkt run --mds-register`: register the pod with `rkt metadata-service`.

The protocol (pyrkt's; rkt's was private to rkt too): HTTP/1.1 over the unix
socket `/run/rkt/metadata-svc.sock` (`PYRKT_MDS_SOCKET` overrides it, for
tests), which only root can reach.

    PUT /pods/<uuid>      {"ip": POD_IPV4, "pid": POD_INIT_PID, "start_time": ITS /proc STARTTIME,
                           "manifest": POD_MANIFEST, "images": {APP: IMAGE_MANIFEST},
                           "image_ids": {APP: IMAGE_ID}}
                          -> 200 {"token": T, "port": P}
    DELETE /pods/<uuid>   -> 200 (unknown: 404)
    GET /pods             -> 200 {UUID: POD_IPV4, ...}

The apps then reach the service at `AC_METADATA_URL=http://HOST_IP:P/T`: the
pod's default gateway, i.e. the host side of its network. The service answers
a request only when it comes from a registered pod's address with that pod's
token, and drops a registration as soon as its pod init (pid + start time) is
gone: that is how a pod unregisters when it exits, and why `gc` finds nothing
stale to remove.

Only `rkt run --mds-register` imports this module (json, http.client).
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pyrkt.pod.plan import PodPlan
    from pyrkt.pod.store import Pod

DEFAULT_SOCKET = "/run/rkt/metadata-svc.sock"
SOCKET_ENV = "PYRKT_MDS_SOCKET"


def socket_path() -> str:
    return os.environ.get(SOCKET_ENV) or DEFAULT_SOCKET


def proc_start_time(pid: int) -> int:
    """Field 22 of /proc/PID/stat: tells a pid from a later process that reuses it."""
    with open(f"/proc/{pid}/stat") as f:
        data = f.read()
    return int(data[data.rindex(")") + 2:].split()[19])


def _hex_ip(text: str) -> str:
    """/proc/net/route's little-endian hex IPv4 -> dotted quad."""
    n = int(text, 16)
    return ".".join(str((n >> s) & 0xFF) for s in (0, 8, 16, 24))


def pod_addresses(pid: int) -> tuple[str, str] | None:
    """(pod IPv4, host-side IPv4) of the network namespace of `pid`, from its routes; None if it has no route out.

    The host side is the default gateway (CNI's ptp and bridge plugins make it
    the host's end of the pod's link); the pod's address is its local
    address on the gateway's interface. Read from /proc/PID/net, which shows
    that process's namespace: nothing is entered.
    """
    try:
        with open(f"/proc/{pid}/net/route") as f:
            rows = [line.split() for line in f.read().splitlines()[1:]]
        with open(f"/proc/{pid}/net/fib_trie") as f:
            trie = f.read().splitlines()
    except OSError:
        return None
    gateway = next((_hex_ip(r[2]) for r in rows if len(r) > 3 and r[1] == "00000000" and r[2] != "00000000"), None)
    if gateway is None:
        return None
    local: list[str] = []
    last = ""
    for line in trie:
        s = line.strip()
        if s.startswith("|--") or s.startswith("+--"):
            last = s.split()[1].split("/")[0]
        elif s == "/32 host LOCAL" and last and not last.startswith("127.") and last not in local:
            local.append(last)
    if not local:
        return None
    prefix = gateway.rsplit(".", 1)[0]
    pod_ip = next((a for a in local if a.rsplit(".", 1)[0] == prefix), local[0])
    return pod_ip, gateway


def recorded_addresses(pod_dir: str) -> tuple[str, str] | None:
    """(pod IPv4, host-side IPv4) from the net layer's record of the pod's networks (networks.json).

    The first attached network whose CNI result has an IPv4 address and a
    gateway: for ptp and bridge the gateway is the host's end of the pod's
    link, where the service's TCP listener (on every address) answers. That
    holds for default-restricted too, which has no default route but
    still reaches the host. None when the pod has no such network.
    """
    from pyrkt.net import cni, setup

    for att in (setup.read(pod_dir) or {}).get("attachments") or []:
        res = att.get("result") or {}
        ip = cni.ip4(res)
        gw = next((str(i["gateway"]) for i in res.get("ips") or [] if "." in str(i.get("gateway", ""))), None)
        if ip and gw:
            return ip[0], gw
    return None


def _request(method: str, path: str, body: bytes | None = None, timeout: float = 10) -> tuple[int, bytes]:
    import http.client
    import socket

    class UnixConnection(http.client.HTTPConnection):
        def connect(self) -> None:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(timeout)
            s.connect(socket_path())
            self.sock = s

    conn = UnixConnection("localhost", timeout=timeout)
    try:
        conn.request(method, path, body=body, headers={"Content-Type": "application/json"} if body is not None else {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


class RegistrationError(Exception):
    """One line: why the pod could not register."""


def register_with(uuid: str, ip: str, pid: int, manifest: dict[str, object], images: dict[str, object],
                  image_ids: dict[str, str]) -> tuple[str, int]:
    """Register a pod; returns (token, TCP port of the service)."""
    import json

    body = json.dumps({"ip": ip, "pid": pid, "start_time": proc_start_time(pid), "manifest": manifest,
                       "images": images, "image_ids": image_ids}).encode()
    try:
        status, data = _request("PUT", f"/pods/{uuid}", body)
    except (FileNotFoundError, ConnectionRefusedError):
        raise RegistrationError(f"--mds-register: no metadata service is listening on {socket_path()} "
                                "(start `rkt metadata-service`, or run without --mds-register)") from None
    except OSError as exc:
        raise RegistrationError(f"--mds-register: {socket_path()}: {exc}") from None
    if status != 200:
        raise RegistrationError(f"--mds-register: the metadata service refused the pod: {data.decode(errors='replace').strip()}")
    answer = json.loads(data)
    return str(answer["token"]), int(answer["port"])


def unregister(uuid: str) -> None:
    """Drop the pod's registration as it exits (the service also drops it once the pod init is gone)."""
    try:
        _request("DELETE", f"/pods/{uuid}", timeout=3)
    except Exception:  # no service, or a broken answer: nothing to drop, and the pod is exiting anyway
        pass


def register(pod: Pod, plan: PodPlan, net: str, init_pid: int) -> str:
    """The stage1 hook: register the pod whose init is `init_pid`; returns the apps' AC_METADATA_URL=… entry.

    Called once the pod's network namespace has its network (the routes it
    reads) and before the apps' configs are written. `net`: the pod's network mode.
    """
    import json

    from pyrkt.pod.stage1 import Stage1Error

    if net == "host":
        raise Stage1Error("--mds-register cannot be used with --net=host: the metadata service needs a contained network")
    try:
        _request("GET", "/pods", timeout=5)  # is a service there at all: say so before anything else
    except OSError:
        raise Stage1Error(f"--mds-register: no metadata service is listening on {socket_path()} "
                          "(start `rkt metadata-service`, or run without --mds-register)") from None
    addrs = recorded_addresses(pod.path) or pod_addresses(init_pid)
    if addrs is None:
        raise Stage1Error("--mds-register: the pod has no route to the host (it needs a contained network such as the default CNI network)")
    pod_ip, host_ip = addrs
    manifest = json.loads(pod.read("pod") or "{}")
    from pyrkt.image.store import Store

    store = Store(pod.store.data_dir)
    try:
        images = {a.name: json.loads(store.get(a.image_id).manifest) for a in plan.apps}
    finally:
        store.close()
    try:
        token, port = register_with(pod.uuid, pod_ip, init_pid, manifest, images, {a.name: a.image_id for a in plan.apps})
    except RegistrationError as exc:
        raise Stage1Error(str(exc)) from None
    return f"AC_METADATA_URL=http://{host_ip}:{port}/{token}"
