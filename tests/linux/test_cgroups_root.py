"""Real cgroups, as root: limits are enforced by the kernel, not just written."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from pyrkt.linux.cgroups import CgroupError, CgroupManager, Hierarchy, Layout, cgroup_mount_plan, detect_layout
from pyrkt.linux.mounts import Cgroup, Cgroup2, Tmpfs

pytestmark = [pytest.mark.skipif(os.geteuid() != 0, reason="needs root"), pytest.mark.root]


def read(path: str) -> str:
    with open(path) as f:
        return f.read().strip()


def spawn(code: str) -> subprocess.Popen:
    """A python child that waits for a line on stdin before running ``code``,
    so the test can put it in the cgroup first."""
    return subprocess.Popen(
        [sys.executable, "-S", "-c", "import sys, os\nsys.stdin.readline()\n" + code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def wait_until(pred, timeout: float = 10.0) -> bool:
    """Poll ``pred`` (the machine may be busy with other tests): True once it holds."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def counter_value(path) -> int:
    """The counter a child rewrites in place: a read may race a pwrite and see
    half of each (reads do not lock against writes), so read until it parses."""
    while True:
        text = path.read_text().strip()
        try:
            return int(text) if text else 0
        except ValueError:
            time.sleep(0.001)


def go(p: subprocess.Popen) -> None:
    assert p.stdin is not None
    p.stdin.write(b"go\n")
    p.stdin.flush()


@pytest.fixture
def v1(cgroup_parent):
    lay = detect_layout()
    if lay.mode != "v1":
        pytest.skip("host is not cgroup v1")
    return lay


@pytest.fixture
def procs():
    started: list[subprocess.Popen] = []
    yield started
    for p in started:
        if p.poll() is None:
            p.kill()
        p.wait()
        for s in (p.stdin, p.stdout, p.stderr):
            if s:
                s.close()


def test_create_add_apply_v1(v1, cgroup_parent, procs):
    m = CgroupManager.for_path(cgroup_parent + "/c1", "c1")
    m.create()
    d = m.paths()
    assert all(os.path.isdir(x) for x in d.values())
    # cpuset of the new levels was copied from the parent, so tasks can join
    assert read(d["cpuset"] + "/cpuset.cpus") == read("/sys/fs/cgroup/cpuset/cpuset.cpus")
    p = subprocess.Popen(["sleep", "30"])
    procs.append(p)
    m.add(p.pid)
    assert m.procs() == [p.pid]
    with open(f"/proc/{p.pid}/cgroup") as f:
        # joined in every hierarchy, named=systemd and the hybrid v2 one included
        assert {line.split(":", 2)[2] for line in f.read().splitlines()} == {cgroup_parent + "/c1"}
    m.apply(
        {
            "memory": {"limit": 64 << 20, "swap": 96 << 20, "reservation": 32 << 20, "swappiness": 10},
            "cpu": {"shares": 512, "quota": 25000, "period": 50000, "cpus": "0"},
            "pids": {"limit": 10},
            "devices": [
                {"allow": False, "access": "rwm"},
                {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
                {"allow": True, "type": "c", "major": 136, "access": "rw"},
            ],
            "blockIO": {"throttleReadBpsDevice": [{"major": 7, "minor": 0, "rate": 1048576}]},
        }
    )
    assert read(d["memory"] + "/memory.limit_in_bytes") == str(64 << 20)
    assert read(d["memory"] + "/memory.memsw.limit_in_bytes") == str(96 << 20)
    assert read(d["memory"] + "/memory.soft_limit_in_bytes") == str(32 << 20)
    assert read(d["memory"] + "/memory.swappiness") == "10"
    assert read(d["cpu"] + "/cpu.shares") == "512"
    assert read(d["cpu"] + "/cpu.cfs_quota_us") == "25000"
    assert read(d["cpu"] + "/cpu.cfs_period_us") == "50000"
    assert read(d["cpuset"] + "/cpuset.cpus") == "0"
    assert read(d["pids"] + "/pids.max") == "10"
    assert read(d["devices"] + "/devices.list").split("\n") == ["c 1:3 rwm", "c 136:* rw"]
    assert "7:0 1048576" in read(d["blkio"] + "/blkio.throttle.read_bps_device")
    # an update that raises memory above the current memsw limit works (write order)
    m.apply({"memory": {"limit": 200 << 20, "swap": 300 << 20}})
    assert read(d["memory"] + "/memory.limit_in_bytes") == str(200 << 20)
    assert m.apply({"memory": {"limit": 16 << 20, "swap": 16 << 20, "kernel": 1 << 20}}) == [
        "linux.resources.memory.kernel=1048576 ignored: kernel memory limits are deprecated (as in runc)"
    ]
    assert read(d["memory"] + "/memory.memsw.limit_in_bytes") == str(16 << 20)
    st = m.stats()
    assert st["memory"]["usage"]["limit"] == 16 << 20
    assert st["pids"] == {"current": 1, "limit": 10}
    # a later command rebuilds the manager from the stored paths
    m2 = CgroupManager.from_paths(m.paths())
    assert m2.procs() == [p.pid]
    m2.destroy()
    assert p.wait(5) == -signal.SIGKILL
    assert not m.exists()


def test_write_failure_names_file_and_value(v1, cgroup_parent):
    m = CgroupManager.for_path(cgroup_parent + "/bad", "bad")
    m.create()
    with pytest.raises(CgroupError) as ei:
        m.apply({"cpu": {"cpus": "4095"}})
    assert "cpuset.cpus" in str(ei.value) and "'4095'" in str(ei.value)
    d = m.paths()["blkio"]
    wfile = "blkio.weight" if os.path.exists(d + "/blkio.weight") else "blkio.bfq.weight"
    if os.path.exists(d + "/" + wfile):
        m.apply({"blockIO": {"weight": 500}})  # falls back to BFQ's file when CFQ's is absent
        assert read(f"{d}/{wfile}") in ("500", "default 500")
        with pytest.raises(CgroupError, match="'5000' to .*" + wfile):
            m.apply({"blockIO": {"weight": 5000}})
    else:
        with pytest.raises(CgroupError, match="blkio.weight"):
            m.apply({"blockIO": {"weight": 500}})
    m.destroy()


def test_memory_limit_oom_kills(v1, cgroup_parent, procs):
    m = CgroupManager.for_path(cgroup_parent + "/oom", "oom")
    m.create()
    m.apply({"memory": {"limit": 32 << 20, "swap": 32 << 20}})
    p = spawn("b = b'x' * (256 << 20)\nprint('survived', len(b))")
    procs.append(p)
    m.add(p.pid)
    go(p)
    assert p.wait(20) == -signal.SIGKILL
    assert b"survived" not in p.stdout.read()
    assert "oom_kill 1" in read(m.paths()["memory"] + "/memory.oom_control")
    mem = m.stats()["memory"]
    assert mem["usage"]["limit"] == 32 << 20
    # the peak reached the limit (this 6.x kernel leaves memory.failcnt at 0)
    assert mem["usage"]["max"] == 32 << 20, mem
    m.destroy()


def test_pids_limit_fork_fails(v1, cgroup_parent, procs):
    m = CgroupManager.for_path(cgroup_parent + "/pids", "pids")
    m.create()
    m.apply({"pids": {"limit": 4}})
    code = """
r, w = os.pipe()
kids, err = [], None
for i in range(10):
    try:
        pid = os.fork()
    except OSError as e:
        err = e.errno
        break
    if pid == 0:
        os.close(w)
        os.read(r, 1)
        os._exit(0)
    kids.append(pid)
os.close(w)
for k in kids:
    os.waitpid(k, 0)
print(len(kids), err)
"""
    p = spawn(code)
    procs.append(p)
    m.add(p.pid)
    go(p)
    out, _ = p.communicate(timeout=20)
    import errno

    assert out.split() == [b"3", str(errno.EAGAIN).encode()]
    m.destroy()


def test_freeze_thaw_stops_progress(v1, cgroup_parent, procs, tmp_path):
    counter = tmp_path / "n"
    counter.write_text("%20d" % 0)
    m = CgroupManager.for_path(cgroup_parent + "/frz", "frz")
    m.create()
    p = spawn(f"fd = os.open({str(counter)!r}, os.O_WRONLY)\nn = 0\nwhile True:\n    n += 1\n    os.pwrite(fd, b'%20d' % n, 0)\n")
    procs.append(p)
    m.add(p.pid)
    go(p)

    def n() -> int:
        return counter_value(counter)

    assert wait_until(lambda: n() > 0)
    assert m.state() == "thawed"
    m.freeze()
    assert m.state() == "frozen"
    a = n()
    time.sleep(0.2)
    assert n() == a
    m.thaw()
    assert m.state() == "thawed"
    assert wait_until(lambda: n() > a)
    m.destroy()


def test_kill_all_and_recursive_procs(v1, cgroup_parent, procs):
    m = CgroupManager.for_path(cgroup_parent + "/kill", "kill")
    m.create()
    a = subprocess.Popen(["sleep", "30"])
    b = subprocess.Popen(["sleep", "30"])
    procs += [a, b]
    m.add(a.pid)
    # b sits in a sub-cgroup of the container (as a nested runtime would do)
    sub = CgroupManager.for_path(cgroup_parent + "/kill/inner", "inner")
    sub.create()
    sub.add(b.pid)
    assert m.procs() == sorted([a.pid, b.pid])
    # a paused container stays paused for a catchable signal …
    m.freeze()
    m.kill_all(signal.SIGTERM)
    assert m.state() == "frozen"
    time.sleep(0.05)
    assert a.poll() is None and b.poll() is None
    m.thaw()  # … and gets it on resume
    assert a.wait(5) == -signal.SIGTERM
    assert b.wait(5) == -signal.SIGTERM
    m.destroy()  # removes the sub-cgroup too
    assert not m.exists() and not sub.exists()


def test_destroy_kills_busy_cgroup(v1, cgroup_parent, procs):
    m = CgroupManager.for_path(cgroup_parent + "/busy", "busy")
    m.create()
    p = subprocess.Popen(["sleep", "30"])
    procs.append(p)
    m.add(p.pid)
    m.freeze()  # even a frozen cgroup goes away
    m.destroy()
    assert p.wait(5) == -signal.SIGKILL
    assert not m.exists()
    m.destroy()  # idempotent
    assert m.procs() == [] and m.state() == "thawed"
    m.kill_all(signal.SIGKILL)  # nothing left to signal: not an error


def test_stats_cpu_usage(v1, cgroup_parent, procs):
    m = CgroupManager.for_path(cgroup_parent + "/cpu", "cpu")
    m.create()
    p = spawn("import time\nt = time.process_time()\nwhile time.process_time() - t < 0.2:\n    pass\n")
    procs.append(p)
    m.add(p.pid)
    go(p)
    assert p.wait(10) == 0
    st = m.stats()
    assert st["cpu"]["usage"]["total"] >= 100_000_000  # ns
    assert set(st) >= {"cpu", "memory", "pids", "blkio", "hugetlb"}
    m.destroy()


def test_mount_plan_this_host(v1, cgroup_parent):
    m = CgroupManager.for_path(cgroup_parent + "/mp", "mp")
    plan = cgroup_mount_plan(m)
    assert plan[0] == Tmpfs("/sys/fs/cgroup")
    assert Cgroup("/sys/fs/cgroup/memory", "memory") in plan


# ---- cgroup v2, on the host's cgroup2 mount (hybrid: /sys/fs/cgroup/unified) ----


def test_v2_lifecycle(unified_parent, procs, tmp_path):
    h, name = unified_parent
    lay = Layout("v2", (Hierarchy(("unified",), h.mountpoint, h.mount_root, h.own),))
    m = CgroupManager.for_path(name + "/c", "c", layout=lay)
    assert m.mode == "v2"
    m.create()
    d = m.paths()[""]
    counter = tmp_path / "n"
    counter.write_text("%20d" % 0)
    p = spawn(f"fd = os.open({str(counter)!r}, os.O_WRONLY)\nn = 0\nwhile True:\n    n += 1\n    os.pwrite(fd, b'%20d' % n, 0)\n")
    procs.append(p)
    m.add(p.pid)
    go(p)
    assert m.procs() == [p.pid]
    # every controller the root offers is enabled down to the leaf's parent
    offered = read(h.mountpoint + "/cgroup.controllers").split()
    assert read(d + "/cgroup.controllers").split() == offered
    assert read(os.path.dirname(d) + "/cgroup.subtree_control").split() == offered
    if "hugetlb" in offered and os.path.exists(d + "/hugetlb.2MB.max"):
        m.apply({"hugepageLimits": [{"pageSize": "2MB", "limit": 2 << 20}]})
        assert read(d + "/hugetlb.2MB.max") == str(2 << 20)
    m.apply({"unified": {"cgroup.max.descendants": "3"}})
    assert read(d + "/cgroup.max.descendants") == "3"
    with pytest.raises(CgroupError, match="memory.max"):
        m.apply({"memory": {"limit": 1 << 30}})  # no memory controller on this v2 mount
    assert wait_until(lambda: counter_value(counter) > 0)
    m.freeze()
    assert m.state() == "frozen"
    a = counter_value(counter)
    time.sleep(0.2)
    assert counter_value(counter) == a
    m.thaw()
    assert m.state() == "thawed"
    assert wait_until(lambda: counter_value(counter) > a)
    st = m.stats()
    assert st["cpu"]["usage"]["total"] > 0
    m.kill_all(signal.SIGKILL)  # cgroup.kill
    assert p.wait(5) == -signal.SIGKILL
    m.destroy()
    assert not os.path.exists(d)
    assert cgroup_mount_plan(m) == [Cgroup2("/sys/fs/cgroup")]


def test_hybrid_hugetlb_on_unified(v1, cgroup_parent, unified_root_lock):
    lay = detect_layout()
    if not lay.hybrid or any("hugetlb" in h.controllers for h in lay.hierarchies):
        pytest.skip("hugetlb is not on the hybrid cgroup2 mount here")
    root = next(h for h in lay.hierarchies if h.is_v2).mountpoint
    if "hugetlb" not in read(root + "/cgroup.controllers").split() or not os.path.isdir("/sys/kernel/mm/hugepages/hugepages-2048kB"):
        pytest.skip("no hugetlb controller / 2MB pages")
    was = read(root + "/cgroup.subtree_control").split()
    m = CgroupManager.for_path(cgroup_parent + "/huge", "huge")
    m.create()
    try:
        m.apply({"hugepageLimits": [{"pageSize": "2MB", "limit": 4 << 20}]})
        assert read(m.paths()[""] + "/hugetlb.2MB.max") == str(4 << 20)
    finally:
        m.destroy()
        os.rmdir(os.path.dirname(m.paths()[""]))
        if "hugetlb" not in was:
            with open(root + "/cgroup.subtree_control", "w") as f:
                f.write("-hugetlb")


OPEN_DEVICES = """
res = []
for path, flags in (("/dev/null", os.O_RDWR), ("/dev/zero", os.O_RDONLY), ("/dev/zero", os.O_RDWR), ("/dev/full", os.O_RDONLY)):
    try:
        os.close(os.open(path, flags))
        res.append("ok")
    except OSError as e:
        res.append(e.errno)
print(res)
"""


def test_v2_device_rules_enforced_by_ebpf(unified_parent, procs):
    import errno

    h, name = unified_parent
    lay = Layout("v2", (Hierarchy(("unified",), h.mountpoint, h.mount_root, h.own),))
    m = CgroupManager.for_path(name + "/dev", "dev", layout=lay)
    m.create()

    def opens() -> list:
        p = spawn(OPEN_DEVICES)
        procs.append(p)
        m.add(p.pid)
        go(p)
        out, _ = p.communicate(timeout=10)
        return eval(out)

    m.apply({"devices": [
        {"allow": False, "access": "rwm"},
        {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
        {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "r"},
    ]})
    assert opens() == ["ok", "ok", errno.EPERM, errno.EPERM]
    # update: the new, wider program replaces the old one instead of stacking
    m.apply({"devices": [{"allow": True, "access": "rwm"}]})
    assert opens() == ["ok", "ok", "ok", "ok"]
    m.destroy()


def test_systemd_slice_path_written_directly(v1, procs, remove_cgroup_later):
    """--systemd-cgroup paths become nested slice directories and a scope,
    created directly (no systemd needed), and go away on destroy."""
    import secrets

    top = f"pyrkttest{secrets.token_hex(3)}"
    remove_cgroup_later(f"/{top}.slice")
    m = CgroupManager.for_path(f"{top}-pods.slice:pfx:ctr1", "ctr1", systemd=True)
    want = f"/{top}.slice/{top}-pods.slice/pfx-ctr1.scope"
    assert m.paths()["memory"] == "/sys/fs/cgroup/memory" + want
    m.create()
    p = subprocess.Popen(["sleep", "30"])
    procs.append(p)
    m.add(p.pid)
    with open(f"/proc/{p.pid}/cgroup") as f:
        assert {line.split(":", 2)[2] for line in f.read().splitlines()} == {want}
    m.destroy()
    assert not m.exists()
