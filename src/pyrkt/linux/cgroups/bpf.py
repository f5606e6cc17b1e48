"""cgroup v2 device rules: an eBPF program (BPF_PROG_TYPE_CGROUP_DEVICE).

Split from `pyrkt.linux.cgroups` (which re-exports these names) because
only a v2 host with a device list needs it: `create` on a v1 host should not
load ~150 lines it never runs (import time and RSS of every create).
"""

from __future__ import annotations

import os

from pyrkt.linux.cgroups.base import CgroupError, _device_rule

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any


# struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }
# access_type = (access << 16) | type
_DEV_TYPE = {"b": 1, "c": 2}  # BPF_DEVCG_DEV_BLOCK / _CHAR
_DEV_ACC = {"m": 1, "r": 2, "w": 4}  # BPF_DEVCG_ACC_MKNOD / _READ / _WRITE

Insn = tuple[int, int, int, int, int]  # (code, dst, src, off, imm)


def device_filter_program(devices: list[dict[str, Any]]) -> list[Insn]:
    """The eBPF instructions enforcing an OCI device list on cgroup v2.

    Same semantics as writing the list to v1's devices.allow/deny in order
    on a new cgroup: the *last* rule that matches decides, nothing matching
    means allowed.  An allow rule matches when it grants every requested
    access bit, a deny rule when it covers any of them.  The program
    returns 1 to allow, 0 to refuse (EPERM).
    """
    LDX_W, AND32_K, RSH32_K, MOV32_X, JNE_K, JEQ_K, MOV64_K, EXIT = 0x61, 0x54, 0x74, 0xBC, 0x55, 0x15, 0xB7, 0x95
    head: list[Insn] = [
        (LDX_W, 2, 1, 0, 0),  # r2 = ctx->access_type
        (AND32_K, 2, 0, 0, 0xFFFF),  # r2 = type
        (LDX_W, 3, 1, 0, 0),
        (RSH32_K, 3, 0, 0, 16),  # r3 = access
        (LDX_W, 4, 1, 4, 0),  # r4 = major
        (LDX_W, 5, 1, 8, 0),  # r5 = minor
    ]
    blocks: list[list[Insn]] = []
    for d in reversed(devices):
        allow, _rule = _device_rule(d)
        typ = d.get("type") or "a"
        acc = 0
        for ch in d.get("access") or "rwm":
            acc |= _DEV_ACC[ch]
        major, minor = d.get("major"), d.get("minor")
        # conditions, each a jump to the end of this block when it fails;
        # the offsets are filled in once the block's length is known
        conds: list[list[Insn]] = []
        if typ != "a":
            conds.append([(JNE_K, 2, 0, -1, _DEV_TYPE[typ])])
        if acc != 7 or not allow:
            if allow:  # requested & ~acc must be 0
                conds.append([(MOV32_X, 1, 3, 0, 0), (AND32_K, 1, 0, 0, ~acc & 7), (JNE_K, 1, 0, -1, 0)])
            else:  # requested & acc must be non-zero
                conds.append([(MOV32_X, 1, 3, 0, 0), (AND32_K, 1, 0, 0, acc), (JEQ_K, 1, 0, -1, 0)])
        if typ != "a" and major is not None and major != -1:
            conds.append([(JNE_K, 4, 0, -1, int(major))])
        if typ != "a" and minor is not None and minor != -1:
            conds.append([(JNE_K, 5, 0, -1, int(minor))])
        flat = [i for c in conds for i in c] + [(MOV64_K, 0, 0, 0, 1 if allow else 0), (EXIT, 0, 0, 0, 0)]
        block = [(c, dst, src, (len(flat) - k - 1) if off == -1 else off, imm) for k, (c, dst, src, off, imm) in enumerate(flat)]
        blocks.append(block)
        if not conds:
            # matches everything: earlier rules can never decide, and the
            # verifier refuses unreachable instructions
            return head + [i for b in blocks for i in b]
    tail: list[Insn] = [(MOV64_K, 0, 0, 0, 1), (EXIT, 0, 0, 0, 0)]
    return head + [i for b in blocks for i in b] + tail


def _assemble(insns: list[Insn]) -> bytes:
    import struct

    return b"".join(struct.pack("<BBhi", c, (src << 4) | dst, off, imm if imm < 2**31 else imm - 2**32) for c, dst, src, off, imm in insns)


_BPF_PROG_LOAD, _BPF_PROG_ATTACH, _BPF_PROG_DETACH, _BPF_PROG_GET_FD_BY_ID, _BPF_PROG_QUERY = 5, 8, 9, 13, 16
_BPF_PROG_TYPE_CGROUP_DEVICE, _BPF_CGROUP_DEVICE, _BPF_F_ALLOW_MULTI = 15, 6, 2
_SYS_BPF = {"x86_64": 321, "aarch64": 280, "ppc64le": 361, "s390x": 351, "riscv64": 280, "loongarch64": 280}


def _bpf(cmd: int, attr: Any, what: str) -> int:
    import ctypes

    nr = _SYS_BPF.get(os.uname().machine)
    if nr is None:
        raise CgroupError(f"bpf(): unknown syscall number on {os.uname().machine}")
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    rc = libc.syscall(ctypes.c_long(nr), ctypes.c_long(cmd), ctypes.byref(attr), ctypes.c_uint(ctypes.sizeof(attr)))
    if rc < 0:
        err = ctypes.get_errno()
        raise CgroupError(f"{what}: {os.strerror(err)}")
    return int(rc)


def attach_device_filter(cgroup_dir: str, devices: list[dict[str, Any]]) -> None:
    """Load the device program for ``devices`` and attach it to a v2 cgroup.

    The new program is attached before the ones pyrkt attached earlier are
    detached (``update``), so the cgroup is never left without a filter.
    """
    import ctypes

    code = _assemble(device_filter_program(devices))
    insns = ctypes.create_string_buffer(code, len(code))
    license_ = ctypes.create_string_buffer(b"Apache")
    log = ctypes.create_string_buffer(65536)
    load = (ctypes.c_uint8 * 128)()
    ctypes.memmove(ctypes.byref(load, 0), ctypes.byref(ctypes.c_uint32(_BPF_PROG_TYPE_CGROUP_DEVICE)), 4)
    ctypes.memmove(ctypes.byref(load, 4), ctypes.byref(ctypes.c_uint32(len(code) // 8)), 4)
    ctypes.memmove(ctypes.byref(load, 8), ctypes.byref(ctypes.c_uint64(ctypes.addressof(insns))), 8)
    ctypes.memmove(ctypes.byref(load, 16), ctypes.byref(ctypes.c_uint64(ctypes.addressof(license_))), 8)
    ctypes.memmove(ctypes.byref(load, 24), ctypes.byref(ctypes.c_uint32(1)), 4)  # log_level
    ctypes.memmove(ctypes.byref(load, 28), ctypes.byref(ctypes.c_uint32(len(log))), 4)
    ctypes.memmove(ctypes.byref(load, 32), ctypes.byref(ctypes.c_uint64(ctypes.addressof(log))), 8)
    ctypes.memmove(ctypes.byref(load, 48), b"pyrkt_devices", 13)
    ctypes.memmove(ctypes.byref(load, 68), ctypes.byref(ctypes.c_uint32(_BPF_CGROUP_DEVICE)), 4)
    try:
        prog_fd = _bpf(_BPF_PROG_LOAD, load, "bpf(BPF_PROG_LOAD) of the cgroup v2 device filter")
    except CgroupError as e:
        verifier = log.value.decode(errors="replace").strip().splitlines()[-3:]
        raise CgroupError(f"{e} {' | '.join(verifier)}".strip()) from e
    try:
        cg_fd = os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as e:
        os.close(prog_fd)
        raise CgroupError(f"cannot open {cgroup_dir}: {e.strerror}") from e
    try:
        old = _query_device_progs(cg_fd)
        att = (ctypes.c_uint32 * 5)(cg_fd, prog_fd, _BPF_CGROUP_DEVICE, _BPF_F_ALLOW_MULTI, 0)
        _bpf(_BPF_PROG_ATTACH, att, f"bpf(BPF_PROG_ATTACH) of the device filter to {cgroup_dir}")
        for prog_id in old:
            idattr = (ctypes.c_uint32 * 4)(prog_id, 0, 0, 0)
            try:
                old_fd = _bpf(_BPF_PROG_GET_FD_BY_ID, idattr, "bpf(BPF_PROG_GET_FD_BY_ID)")
            except CgroupError:
                continue  # gone meanwhile
            try:
                det = (ctypes.c_uint32 * 5)(cg_fd, old_fd, _BPF_CGROUP_DEVICE, 0, 0)
                _bpf(_BPF_PROG_DETACH, det, f"bpf(BPF_PROG_DETACH) of an older device filter from {cgroup_dir}")
            finally:
                os.close(old_fd)
    finally:
        os.close(cg_fd)
        os.close(prog_fd)


def _query_device_progs(cg_fd: int) -> list[int]:
    """Ids of the device programs attached directly to the cgroup."""
    import ctypes

    ids = (ctypes.c_uint32 * 64)()
    q = (ctypes.c_uint8 * 40)()
    ctypes.memmove(ctypes.byref(q, 0), ctypes.byref(ctypes.c_uint32(cg_fd)), 4)
    ctypes.memmove(ctypes.byref(q, 4), ctypes.byref(ctypes.c_uint32(_BPF_CGROUP_DEVICE)), 4)
    ctypes.memmove(ctypes.byref(q, 16), ctypes.byref(ctypes.c_uint64(ctypes.addressof(ids))), 8)
    ctypes.memmove(ctypes.byref(q, 24), ctypes.byref(ctypes.c_uint32(64)), 4)
    _bpf(_BPF_PROG_QUERY, q, "bpf(BPF_PROG_QUERY)")
    count = int.from_bytes(bytes(q[24:28]), "little")
    return [ids[i] for i in range(min(count, 64))]
