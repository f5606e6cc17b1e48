"""A minimal rtnetlink client: the few requests pyrkt's own ptp (pyrkt.net.ptp) makes.

Built-in modules only (`_socket`, `_struct`): `rkt run` on the default
network imports this. Each request is sent with NLM_F_ACK and waits for the
kernel's answer; an error comes back as OSError with the kernel's errno.
A socket opened for another network namespace (`Rtnl(netns_fd)`) stays in
it: the namespace is entered by this thread only while the socket is made.
"""

from __future__ import annotations

import os

import _socket
import _struct

NETLINK_ROUTE = 0
NLMSG_ERROR = 2
NLMSG_DONE = 3
RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK = 16, 17, 18
RTM_NEWADDR = 20
RTM_NEWROUTE = 24
NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE = 0x1, 0x4, 0x200, 0x400
IFLA_ADDRESS, IFLA_IFNAME, IFLA_LINKINFO, IFLA_NET_NS_FD = 1, 3, 18, 28
IFLA_INFO_KIND, IFLA_INFO_DATA, VETH_INFO_PEER = 1, 2, 1
IFA_ADDRESS, IFA_LOCAL, IFA_BROADCAST, IFA_FLAGS = 1, 2, 4, 8
IFA_F_NOPREFIXROUTE = 0x200
RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_PREFSRC = 1, 4, 5, 7
RT_TABLE_MAIN, RTPROT_BOOT, RTN_UNICAST = 254, 3, 1
RT_SCOPE_UNIVERSE, RT_SCOPE_LINK, RT_SCOPE_HOST = 0, 253, 254
IFF_UP = 1
CLONE_NEWNET = 0x40000000

_HDR = _struct.Struct("=IHHII")
_IFINFO = _struct.Struct("=BxHiII")
_IFADDR = _struct.Struct("=BBBBI")
_RTMSG = _struct.Struct("=BBBBBBBBI")


def attr(kind: int, data: bytes) -> bytes:
    """One rtattr, padded to 4 bytes."""
    n = 4 + len(data)
    return _struct.pack("=HH", n, kind) + data + b"\0" * ((4 - n % 4) % 4)


def ifinfo(index: int = 0, flags: int = 0, change: int = 0) -> bytes:
    return _IFINFO.pack(0, 0, index, flags, change)


def ip4(text: str) -> bytes:
    return bytes(int(p) for p in text.split("."))


def name(text: str) -> bytes:
    return text.encode() + b"\0"


def mac(text: str) -> bytes:
    return bytes(int(p, 16) for p in text.split(":"))


class Rtnl:
    """A NETLINK_ROUTE socket, in this thread's network namespace or in the one `netns_fd` names."""

    def __init__(self, netns_fd: int = -1) -> None:
        own = -1
        if netns_fd >= 0:
            from pyrkt.linux import syscalls as sc

            own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            sc.setns(netns_fd, CLONE_NEWNET)
        try:
            self.sock = _socket.socket(_socket.AF_NETLINK, _socket.SOCK_RAW | _socket.SOCK_CLOEXEC, NETLINK_ROUTE)
        finally:
            if own >= 0:
                sc.setns(own, CLONE_NEWNET)
                os.close(own)
        self.sock.bind((0, 0))
        self.seq = 0

    def close(self) -> None:
        self.sock.close()

    def request(self, kind: int, flags: int, body: bytes) -> list[bytes]:
        """Send one request; the payloads of the answers (for a GET), after the kernel's ack. OSError on error."""
        self.seq += 1
        self.sock.sendto(_HDR.pack(_HDR.size + len(body), kind, NLM_F_REQUEST | NLM_F_ACK | flags, self.seq, 0) + body, (0, 0))
        out: list[bytes] = []
        while True:
            data = self.sock.recv(65536)
            pos = 0
            while pos + _HDR.size <= len(data):
                length, mtype, _flags, seq, _pid = _HDR.unpack_from(data, pos)
                if length < _HDR.size:
                    raise OSError(71, "netlink: malformed answer")  # EPROTO
                payload = data[pos + _HDR.size:pos + length]
                pos += (length + 3) & ~3
                if seq != self.seq:
                    continue
                if mtype == NLMSG_ERROR:
                    err = -_struct.unpack_from("=i", payload)[0]
                    if err:
                        raise OSError(err, os.strerror(err))
                    return out
                if mtype == NLMSG_DONE:
                    return out
                out.append(payload)

    def link_index(self, ifname: str) -> int:
        """The index of the link named so in the socket's namespace."""
        answers = self.request(RTM_GETLINK, 0, ifinfo() + attr(IFLA_IFNAME, name(ifname)))
        if not answers:
            raise OSError(19, f"no link {ifname}")  # ENODEV
        return int(_IFINFO.unpack_from(answers[0])[2])

    def add_veth(self, host: str, host_mac: str, peer: str, peer_mac: str, peer_netns_fd: int) -> None:
        """A veth pair (down): `host` here, `peer` in the namespace of `peer_netns_fd`.

        Not up at creation: the kernel refuses IFF_UP for the peer before the pair exists (ENOTCONN).
        """
        peer_msg = ifinfo() + attr(IFLA_IFNAME, name(peer)) + attr(IFLA_ADDRESS, mac(peer_mac)) \
            + attr(IFLA_NET_NS_FD, _struct.pack("=I", peer_netns_fd))
        info = attr(IFLA_INFO_KIND, b"veth") + attr(IFLA_INFO_DATA, attr(VETH_INFO_PEER, peer_msg))
        body = ifinfo() + attr(IFLA_IFNAME, name(host)) + attr(IFLA_ADDRESS, mac(host_mac)) + attr(IFLA_LINKINFO, info)
        self.request(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, body)

    def link_up(self, index: int) -> None:
        self.request(RTM_NEWLINK, 0, ifinfo(index, IFF_UP, IFF_UP))

    def add_addr(self, index: int, address: str, prefix: int, broadcast: str = "", no_prefix_route: bool = False) -> None:
        body = _IFADDR.pack(_socket.AF_INET, prefix, 0, RT_SCOPE_UNIVERSE, index) \
            + attr(IFA_LOCAL, ip4(address)) + attr(IFA_ADDRESS, ip4(address))
        if broadcast:
            body += attr(IFA_BROADCAST, ip4(broadcast))
        if no_prefix_route:
            body += attr(IFA_FLAGS, _struct.pack("=I", IFA_F_NOPREFIXROUTE))
        self.request(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, body)

    def add_route(self, index: int, dst: str, dst_len: int, gateway: str = "", src: str = "",
                  scope: int = RT_SCOPE_UNIVERSE) -> None:
        body = _RTMSG.pack(_socket.AF_INET, dst_len, 0, 0, RT_TABLE_MAIN, RTPROT_BOOT, scope, RTN_UNICAST, 0)
        if dst_len:
            body += attr(RTA_DST, ip4(dst))
        body += attr(RTA_OIF, _struct.pack("=I", index))
        if gateway:
            body += attr(RTA_GATEWAY, ip4(gateway))
        if src:
            body += attr(RTA_PREFSRC, ip4(src))
        self.request(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, body)
