"""Pure cgroup logic: layout parsing, path resolution, resource → file values. No root."""

from __future__ import annotations

import pytest

from pyrkt.linux.cgroups import (
    CgroupError,
    CgroupManager,
    Hierarchy,
    Layout,
    blkio_weight_to_io_weight,
    cgroup_mount_plan,
    clean_path,
    expand_slice,
    layout_from_text,
    memory_swap_to_v2,
    resolve_inner_path,
    shares_to_weight,
    shares_to_weight_linear,
    v1_resource_writes,
    v2_resource_writes,
    ignored_resource_warnings,
    device_filter_program,
)
from pyrkt.linux.mounts import Bind, Cgroup, Cgroup2, Symlink, Tmpfs

HYBRID_MOUNTINFO = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset,clone_children
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
99 31 0:32 /sub /mnt/memory\\040copy rw,relatime - cgroup cgroup rw,memory
"""
HYBRID_PROC = """\
9:name=systemd:/user.slice/session-1.scope
4:memory:/process_api/abc
3:cpuset:/
2:cpu,cpuacct:/x
0::/user.slice/session-1.scope
"""
V2_MOUNTINFO = "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n"
V2_PROC = "0::/user.slice/user-0.slice/session-3.scope\n"


def hybrid() -> Layout:
    return layout_from_text(HYBRID_MOUNTINFO, HYBRID_PROC)


def v2() -> Layout:
    return layout_from_text(V2_MOUNTINFO, V2_PROC)


def test_layout_hybrid():
    lay = hybrid()
    assert lay.mode == "v1" and lay.hybrid
    by = {h.controllers: h for h in lay.hierarchies}
    assert set(by) == {("cpu", "cpuacct"), ("cpuset",), ("memory",), ("name=systemd",), ("unified",)}
    assert by[("memory",)].mountpoint == "/sys/fs/cgroup/memory"  # preferred over the bind mount
    assert by[("memory",)].own == "/process_api/abc"
    assert by[("cpu", "cpuacct")].own == "/x"
    assert by[("unified",)].own == "/user.slice/session-1.scope"


def test_layout_v2():
    lay = v2()
    assert lay.mode == "v2" and not lay.hybrid
    assert [h.controllers for h in lay.hierarchies] == [("unified",)]


def test_mount_root_is_stripped():
    h = Hierarchy(("memory",), "/sys/fs/cgroup/memory", "/docker/abc", "/docker/abc")
    assert h.host_dir("/docker/abc/pyrkt/x") == "/sys/fs/cgroup/memory/pyrkt/x"
    assert h.host_dir("/other") == "/sys/fs/cgroup/memory/other"


@pytest.mark.parametrize(
    "path,want",
    [("", ""), ("/a/b", "/a/b"), ("/a/../../b", "/b"), ("a/b", "a/b"), ("../../a", "a"), ("a/./b/", "a/b"), ("//a//b", "/a/b")],
)
def test_clean_path(path, want):
    assert clean_path(path) == want


@pytest.mark.parametrize(
    "name,want",
    [
        ("system.slice", "/system.slice"),
        ("a-b.slice", "/a.slice/a-b.slice"),
        ("a-b-c.slice", "/a.slice/a-b.slice/a-b-c.slice"),
        ("-.slice", "/"),
    ],
)
def test_expand_slice(name, want):
    assert expand_slice(name) == want


@pytest.mark.parametrize("bad", ["foo", ".slice", "a/b.slice", "a--b.slice", "-a.slice", "a-.slice"])
def test_expand_slice_rejects(bad):
    with pytest.raises(CgroupError, match="slice"):
        expand_slice(bad)


def test_resolve_plain():
    assert resolve_inner_path(None, "c1") == "/pyrkt/c1"
    assert resolve_inner_path("", "c1") == "/pyrkt/c1"
    assert resolve_inner_path("/machine/c1", "c1") == "/machine/c1"
    assert resolve_inner_path("/../../etc", "c1") == "/etc"
    assert resolve_inner_path("rel/c1", "c1") == "rel/c1"
    with pytest.raises(CgroupError, match="root cgroup"):
        resolve_inner_path("/", "c1")
    with pytest.raises(CgroupError, match="container id"):
        resolve_inner_path(None, "../x")


def test_resolve_systemd():
    assert resolve_inner_path("system.slice:docker:abc", "x", systemd=True) == "/system.slice/docker-abc.scope"
    assert resolve_inner_path("machine-pods.slice:crio:abc", "x", systemd=True) == "/machine.slice/machine-pods.slice/crio-abc.scope"
    assert resolve_inner_path(None, "abc", systemd=True) == "/system.slice/pyrkt-abc.scope"
    assert resolve_inner_path(":libpod:abc", "x", systemd=True) == "/system.slice/libpod-abc.scope"
    assert resolve_inner_path("user.slice::abc", "x", systemd=True) == "/user.slice/abc.scope"
    assert resolve_inner_path("system.slice:x:my.slice", "x", systemd=True) == "/system.slice/my.slice"
    with pytest.raises(CgroupError, match="slice:prefix:name"):
        resolve_inner_path("/abs/path", "x", systemd=True)
    with pytest.raises(CgroupError, match="invalid systemd slice"):
        resolve_inner_path("bad:p:n", "x", systemd=True)


def test_for_path_v1_absolute_and_relative():
    m = CgroupManager.for_path("/pyrkt/c1", "c1", layout=hybrid())
    p = m.paths()
    assert p["memory"] == "/sys/fs/cgroup/memory/pyrkt/c1"
    assert p["cpu"] == p["cpuacct"] == "/sys/fs/cgroup/cpu,cpuacct/pyrkt/c1"
    assert p["name=systemd"] == "/sys/fs/cgroup/systemd/pyrkt/c1"
    assert p[""] == "/sys/fs/cgroup/unified/pyrkt/c1"
    rel = CgroupManager.for_path("ctr/c1", "c1", layout=hybrid()).paths()
    assert rel["memory"] == "/sys/fs/cgroup/memory/process_api/abc/ctr/c1"  # under our own cgroup
    assert rel["cpu"] == "/sys/fs/cgroup/cpu,cpuacct/x/ctr/c1"
    assert rel["cpuset"] == "/sys/fs/cgroup/cpuset/ctr/c1"


def test_for_path_v2_relative_uses_parent_of_own():
    m = CgroupManager.for_path("c1", "c1", layout=v2())
    assert m.mode == "v2"
    assert m.paths() == {"": "/sys/fs/cgroup/user.slice/user-0.slice/c1"}
    m = CgroupManager.for_path("a-b.slice:pfx:id", "id", systemd=True, layout=v2())
    assert m.paths() == {"": "/sys/fs/cgroup/a.slice/a-b.slice/pfx-id.scope"}


def test_from_paths_roundtrip():
    m = CgroupManager.for_path(None, "c1", layout=hybrid())
    m2 = CgroupManager.from_paths(m.paths())
    assert m2.mode == "v1" and m2.paths() == m.paths()
    m3 = CgroupManager.from_paths(CgroupManager.for_path(None, "c1", layout=v2()).paths())
    assert m3.mode == "v2"
    assert m3.paths() == {"": "/sys/fs/cgroup/pyrkt/c1"}  # runc's key for the v2 hierarchy
    assert CgroupManager.from_paths({"unified": "/sys/fs/cgroup/x"}).paths() == {"": "/sys/fs/cgroup/x"}
    with pytest.raises(CgroupError):
        CgroupManager.from_paths({})


def test_shares_to_weight():
    assert shares_to_weight(0) == 0  # unset
    assert shares_to_weight(2) == 1
    assert shares_to_weight(1024) == 100  # v1 default → v2 default (current runc/crun)
    assert shares_to_weight(512) == 59
    assert shares_to_weight(2048) == 174
    assert shares_to_weight(262144) == 10000
    assert shares_to_weight(10**9) == 10000
    ws = [shares_to_weight(s) for s in range(2, 262145, 97)]
    assert ws == sorted(ws) and 1 <= min(ws) and max(ws) <= 10000
    assert shares_to_weight_linear(1024) == 39  # the older mapping
    assert shares_to_weight_linear(262144) == 10000
    assert blkio_weight_to_io_weight(10) == 1
    assert blkio_weight_to_io_weight(1000) == 10000
    assert blkio_weight_to_io_weight(500) == 1 + 490 * 9999 // 990


def test_memory_swap_to_v2():
    assert memory_swap_to_v2(0, -1) == -1  # unlimited memory, swap unset → unlimited swap
    assert memory_swap_to_v2(-1, 100) == -1
    assert memory_swap_to_v2(0, 100) is None  # unset: leave memory.swap.max alone
    assert memory_swap_to_v2(300, 100) == 200
    assert memory_swap_to_v2(100, 100) == 0  # swap == limit: no swap at all
    with pytest.raises(CgroupError, match="below memory.limit"):
        memory_swap_to_v2(50, 100)
    with pytest.raises(CgroupError, match="needs a memory.limit"):
        memory_swap_to_v2(300, 0)


def test_v2_writes():
    w = dict(
        v2_resource_writes(
            {
                "memory": {"limit": 100, "swap": 300, "reservation": 50},
                "cpu": {"shares": 1024, "quota": 50000, "period": 100000, "cpus": "0-1", "mems": "0"},
                "pids": {"limit": 0},
                "blockIO": {"weight": 1000, "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1000}]},
                "hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}],
                "unified": {"memory.high": "90"},
            }
        )
    )
    assert w == {
        "memory.swap.max": "200",
        "memory.max": "100",
        "memory.low": "50",
        "cpu.weight": "100",
        "cpu.max": "50000 100000",
        "cpuset.cpus": "0-1",
        "cpuset.mems": "0",
        "pids.max": "max",
        "io.weight": "10000",
        "io.max": "8:0 rbps=1000",
        "hugetlb.2MB.max": "4194304",
        "memory.high": "90",
    }
    assert dict(v2_resource_writes({"cpu": {"quota": -1}}))["cpu.max"] == "max"
    assert dict(v2_resource_writes({"cpu": {"period": 1000}}))["cpu.max"] == "max 1000"
    assert dict(v2_resource_writes({"memory": {"limit": -1}})) == {"memory.swap.max": "max", "memory.max": "max"}
    assert dict(v2_resource_writes({"memory": {"limit": 100, "swap": 100}})) == {"memory.swap.max": "0", "memory.max": "100"}
    assert dict(v2_resource_writes({"memory": {"limit": 100}})) == {"memory.max": "100"}


@pytest.mark.parametrize(
    "res,msg",
    [
        ({"devices": [{"allow": "yes", "access": "rwm"}]}, "'allow'"),
        ({"cpu": {"realtimeRuntime": 5}}, "realtime"),
        ({"memory": {"swappiness": 10}}, "swappiness"),
        ({"memory": {"disableOOMKiller": True}}, "disableOOMKiller"),
        ({"unified": {"../x": "1"}}, "invalid file name"),
        ({"memory": {"limit": "10M"}}, "memory.limit must be an integer"),
    ],
)
def test_v2_refusals(res, msg):
    with pytest.raises(CgroupError, match=msg):
        v2_resource_writes(res)


def test_v1_writes_and_memory_order():
    res = {"memory": {"limit": 100 << 20, "swap": 200 << 20}}
    # growing: memsw first so memory never exceeds memsw
    assert [f for _, f, _ in v1_resource_writes(res, current_memory_limit=50 << 20)] == [
        "memory.memsw.limit_in_bytes",
        "memory.limit_in_bytes",
    ]
    # shrinking below the current limit: memory first
    assert [f for _, f, _ in v1_resource_writes(res, current_memory_limit=300 << 20)] == [
        "memory.limit_in_bytes",
        "memory.memsw.limit_in_bytes",
    ]
    w = v1_resource_writes({"memory": {"limit": -1}})
    assert ("memory", "memory.memsw.limit_in_bytes", "-1") in w
    w = v1_resource_writes(
        {
            "cpu": {"shares": 512, "quota": 20000, "period": 100000, "realtimeRuntime": 1000, "realtimePeriod": 10000, "cpus": "0"},
            "pids": {"limit": 7},
            "devices": [
                {"allow": False, "access": "rwm"},
                {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rw"},
                {"allow": True, "type": "c", "major": 136, "access": "rwm"},
            ],
            "blockIO": {"weight": 300, "throttleWriteIOPSDevice": [{"major": 8, "minor": 16, "rate": 50}]},
            "hugepageLimits": [{"pageSize": "2MB", "limit": 0}],
            "memory": {"swappiness": 0, "disableOOMKiller": True, "kernel": 123},
        }
    )
    assert w == [
        ("memory", "memory.swappiness", "0"),
        ("memory", "memory.oom_control", "1"),
        ("cpu", "cpu.shares", "512"),
        ("cpu", "cpu.cfs_period_us", "100000"),
        ("cpu", "cpu.cfs_quota_us", "20000"),
        ("cpu", "cpu.rt_period_us", "10000"),
        ("cpu", "cpu.rt_runtime_us", "1000"),
        ("cpuset", "cpuset.cpus", "0"),
        ("pids", "pids.max", "7"),
        ("devices", "devices.deny", "a *:* rwm"),
        ("devices", "devices.allow", "c 1:3 rw"),
        ("devices", "devices.allow", "c 136:* rwm"),
        ("blkio", "blkio.weight", "300"),
        ("blkio", "blkio.throttle.write_iops_device", "8:16 50"),
        ("hugetlb", "hugetlb.2MB.limit_in_bytes", "0"),
    ]


@pytest.mark.parametrize(
    "res,msg",
    [
        ({"unified": {"memory.high": "1"}}, "needs cgroup v2"),
        ({"memory": {"limit": 200, "swap": 100}}, "below memory.limit"),
        ({"memory": {"swappiness": 101}}, "0..100"),
        ({"devices": [{"access": "rwm"}]}, "'allow'"),
        ({"devices": [{"allow": True, "type": "x"}]}, "type must be"),
        ({"devices": [{"allow": True, "type": "c", "access": "rwx"}]}, "access"),
        ({"hugepageLimits": [{"pageSize": "../x", "limit": 1}]}, "pageSize"),
    ],
)
def test_v1_refusals(res, msg):
    with pytest.raises(CgroupError, match=msg):
        v1_resource_writes(res)


def test_mount_plan_v1_comounted_with_symlinks():
    lay = hybrid()
    m = CgroupManager.for_path("/pyrkt/c1", "c1", layout=lay)
    plan = cgroup_mount_plan(m, layout=lay)
    assert plan[0] == Tmpfs("/sys/fs/cgroup")
    assert Cgroup("/sys/fs/cgroup/cpu,cpuacct", "cpu,cpuacct") in plan
    assert Cgroup("/sys/fs/cgroup/systemd", "name=systemd") in plan
    assert Cgroup2("/sys/fs/cgroup/unified") in plan
    assert Symlink("cpu,cpuacct", "/sys/fs/cgroup/cpu") in plan
    assert Symlink("cpu,cpuacct", "/sys/fs/cgroup/cpuacct") in plan
    # symlinks come after every mount (the tmpfs must exist first)
    kinds = [type(op).__name__ for op in plan]
    assert kinds.index("Symlink") > max(i for i, k in enumerate(kinds) if k != "Symlink")
    nons = cgroup_mount_plan(m, cgroupns=False, layout=lay)
    assert Bind("/sys/fs/cgroup/memory/pyrkt/c1", "/sys/fs/cgroup/memory") in nons


def test_mount_plan_v2():
    m = CgroupManager.for_path("/pyrkt/c1", "c1", layout=v2())
    assert cgroup_mount_plan(m) == [Cgroup2("/sys/fs/cgroup")]
    assert cgroup_mount_plan(m, cgroupns=False) == [Bind("/sys/fs/cgroup/pyrkt/c1", "/sys/fs/cgroup")]


def test_ignored_fields_are_reported():
    assert ignored_resource_warnings({"memory": {"limit": 1}}, "v1") == []
    w = ignored_resource_warnings({"memory": {"kernel": 1 << 20, "kernelTCP": 1 << 20}}, "v2")
    assert len(w) == 2 and "memory.kernel=1048576 ignored" in w[0] and "kernelTCP" in w[1]
    assert len(ignored_resource_warnings({"memory": {"kernel": 1, "kernelTCP": 1}}, "v1")) == 1


def run_bpf(prog, typ: str, major: int, minor: int, access: str) -> int:
    """A tiny interpreter for the instructions device_filter_program emits."""
    acc = sum({"m": 1, "r": 2, "w": 4}[c] for c in access)
    ctx = [(acc << 16) | {"b": 1, "c": 2}[typ], major, minor]
    r = [0] * 11
    pc = 0
    while True:
        code, dst, src, off, imm = prog[pc]
        pc += 1
        if code == 0x61:
            r[dst] = ctx[off // 4]
        elif code == 0x54:
            r[dst] &= imm & 0xFFFFFFFF
        elif code == 0x74:
            r[dst] >>= imm
        elif code == 0xBC:
            r[dst] = r[src]
        elif code == 0xB7:
            r[dst] = imm
        elif code == 0x55:
            pc += off if r[dst] != imm else 0
        elif code == 0x15:
            pc += off if r[dst] == imm else 0
        elif code == 0x95:
            return r[0]
        else:  # pragma: no cover
            raise AssertionError(hex(code))


def test_device_filter_semantics():
    rules = [
        {"allow": False, "access": "rwm"},
        {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
        {"allow": True, "type": "c", "major": 136, "access": "rw"},
        {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "r"},
        {"allow": True, "type": "b", "access": "m"},
    ]
    prog = device_filter_program(rules)
    assert run_bpf(prog, "c", 1, 3, "rw") == 1
    assert run_bpf(prog, "c", 136, 7, "rw") == 1
    assert run_bpf(prog, "c", 136, 7, "m") == 0
    assert run_bpf(prog, "c", 1, 5, "r") == 1
    assert run_bpf(prog, "c", 1, 5, "rw") == 0  # write not granted
    assert run_bpf(prog, "b", 8, 0, "m") == 1
    assert run_bpf(prog, "b", 8, 0, "r") == 0
    assert run_bpf(prog, "c", 1, 7, "r") == 0  # denied by the first rule
    # a later deny wins over an earlier allow, for the bits it covers
    prog = device_filter_program([{"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
                                  {"allow": False, "type": "c", "major": 1, "minor": 3, "access": "w"}])
    assert run_bpf(prog, "c", 1, 3, "r") == 1
    assert run_bpf(prog, "c", 1, 3, "rw") == 0
    assert run_bpf(prog, "c", 4, 1, "rw") == 1  # nothing matches: allowed, as in a new v1 cgroup
    # an allow-all rule ends the program (no unreachable code for the verifier)
    prog = device_filter_program([{"allow": False, "access": "rwm"}, {"allow": True, "access": "rwm"}])
    assert prog[-1][0] == 0x95 and prog[-2] == (0xB7, 0, 0, 0, 1) and len(prog) == 8


def test_features():
    from pyrkt.linux.cgroups import features

    assert features(hybrid()) == {"v1": True, "v2": False, "systemd": True, "systemdUser": False, "rdma": False}
    assert features(v2())["v2"] is True
