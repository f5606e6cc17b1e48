"""Cgroup management for OCI ``linux.cgroupsPath`` and ``linux.resources``.

Works on cgroup v1 (one hierarchy per controller group, possibly with a
"hybrid" cgroup2 mount at ``/sys/fs/cgroup/unified``) and on pure cgroup v2
(one unified hierarchy at ``/sys/fs/cgroup``).

This module sits on the runtime's start-up path, so it imports only ``os``,
``errno``, ``_signal`` and ``time`` (bench/README.md "Speed rules"), does no work at import time,
and reads ``/proc/self/mountinfo`` / ``/proc/self/cgroup`` only when a manager
is built.  Nothing here forks.

The pure functions (:func:`resolve_inner_path`, :func:`expand_slice`,
:func:`v1_resource_writes`, :func:`v2_resource_writes`, the converters) carry
the rules and are unit-tested without root; :class:`CgroupManager` performs
the writes and turns every failure into a :class:`CgroupError` that names the
file and the value, because a limit that silently did not apply is worse than
a container that does not start.

What a create on a v1 host does not need lives in the package's smaller
modules (v2, bpf, plan, stats), loaded on first use; the package's
``__init__`` names them all. Every line a create loads costs it import time
and RSS.
"""

from __future__ import annotations

import errno
import os
import time

TYPE_CHECKING = False  # bench/README.md "Speed rules"
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

from pyrkt.linux.cgroups.base import (
    CGROUP_ROOT,
    DEFAULT_PARENT,
    DEFAULT_SCOPE_PREFIX,
    DEFAULT_SLICE,
    UNIFIED,
    V2_KEY,
    CgroupError,
    add_pid,
    _device_rule,
    _int,
    _kv,
    _page_size,
    _read,
    _read_opt,
    _throttle,
    _uint,
    _walk_bottom_up,
    _write,
)


# --------------------------------------------------------------------------
# layout detection
# --------------------------------------------------------------------------


class Hierarchy:
    """One mounted cgroup hierarchy.

    ``controllers`` are the v1 controllers (or ``name=...``) co-mounted in it;
    for the cgroup2 hierarchy it is ``("unified",)``.  ``mount_root`` is the
    path inside the hierarchy that is mounted at ``mountpoint`` (``/`` on the
    host, something else inside a container without a cgroup namespace);
    ``own`` is this process's cgroup in the hierarchy, as ``/proc/self/cgroup``
    says.
    """

    __slots__ = ("controllers", "mountpoint", "mount_root", "own")

    def __init__(self, controllers: tuple[str, ...], mountpoint: str, mount_root: str = "/", own: str = "/") -> None:
        self.controllers = tuple(controllers)
        self.mountpoint = mountpoint
        self.mount_root = mount_root
        self.own = own

    def __repr__(self) -> str:
        return f"Hierarchy({self.controllers!r}, {self.mountpoint!r}, {self.mount_root!r}, {self.own!r})"

    def _fields(self) -> tuple[tuple[str, ...], str, str, str]:
        return (self.controllers, self.mountpoint, self.mount_root, self.own)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Hierarchy) and other._fields() == self._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    @property
    def is_v2(self) -> bool:
        return self.controllers == (UNIFIED,)

    def host_dir(self, inner: str) -> str:
        """Directory of the absolute in-hierarchy cgroup path ``inner``."""
        rel = inner
        if self.mount_root != "/" and (inner == self.mount_root or inner.startswith(self.mount_root + "/")):
            rel = inner[len(self.mount_root):] or "/"
        return os.path.normpath(self.mountpoint + "/" + rel.lstrip("/"))


class Layout:
    """Which cgroup version is in charge and where its hierarchies are.

    ``mode`` is ``"v1"`` (including hybrid hosts) or ``"v2"``.
    """

    __slots__ = ("mode", "hierarchies")

    def __init__(self, mode: str, hierarchies: tuple[Hierarchy, ...] = ()) -> None:
        self.mode = mode
        self.hierarchies = tuple(hierarchies)

    def __repr__(self) -> str:
        return f"Layout({self.mode!r}, {self.hierarchies!r})"

    @property
    def hybrid(self) -> bool:
        return self.mode == "v1" and any(h.is_v2 for h in self.hierarchies)


def _unescape_mount(path: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo
    if "\\" not in path:
        return path
    out, i = [], 0
    while i < len(path):
        if path[i] == "\\" and i + 4 <= len(path) and path[i + 1:i + 4].isdigit():
            out.append(chr(int(path[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(path[i])
            i += 1
    return "".join(out)


def parse_mountinfo(text: str) -> list[tuple[str, str, str, str]]:
    """Cgroup mounts of a mountinfo text as ``(fstype, root, mountpoint, super_options)``."""
    found = []
    for line in text.splitlines():
        pre, sep, post = line.partition(" - ")
        if not sep:
            continue
        post_f = post.split()
        if len(post_f) < 3 or post_f[0] not in ("cgroup", "cgroup2"):
            continue
        pre_f = pre.split()
        if len(pre_f) < 5:
            continue
        found.append((post_f[0], _unescape_mount(pre_f[3]), _unescape_mount(pre_f[4]), post_f[2]))
    return found


def parse_proc_cgroup(text: str) -> dict[str, str]:
    """``/proc/<pid>/cgroup`` as controller → path; the v2 entry is keyed ``unified``."""
    own: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        hid, ctrls, path = parts
        if hid == "0" and ctrls == "":
            own[UNIFIED] = path
        else:
            for c in ctrls.split(","):
                if c:
                    own[c] = path
    return own


_V1_OPTS_IGNORED = {"rw", "ro", "xattr", "noprefix", "clone_children", "cpuset_v2_mode", "nsdelegate", "favordynmods"}


def layout_from_text(mountinfo: str, proc_cgroup: str) -> Layout:
    """Build a :class:`Layout` from the texts of mountinfo and /proc/self/cgroup (pure)."""
    own = parse_proc_cgroup(proc_cgroup)
    hier: dict[tuple[str, ...], Hierarchy] = {}
    v2_at_root = False
    for fstype, root, mnt, opts in parse_mountinfo(mountinfo):
        if fstype == "cgroup2":
            key: tuple[str, ...] = (UNIFIED,)
            if mnt == CGROUP_ROOT:
                v2_at_root = True
        else:
            ctrls = [o for o in opts.split(",") if o not in _V1_OPTS_IGNORED and not o.startswith("release_agent=")]
            if not ctrls:
                continue
            key = tuple(ctrls)
        h = Hierarchy(key, mnt, root, own.get(key[0], "/"))
        prev = hier.get(key)
        # Several mounts of one hierarchy (bind mounts): prefer the one under
        # /sys/fs/cgroup, then the one showing the most of the hierarchy.
        if prev is None or (
            (mnt.startswith(CGROUP_ROOT) and not prev.mountpoint.startswith(CGROUP_ROOT))
            or (mnt.startswith(CGROUP_ROOT) == prev.mountpoint.startswith(CGROUP_ROOT) and len(root) < len(prev.mount_root))
        ):
            hier[key] = h
    if v2_at_root:
        return Layout("v2", tuple(h for h in hier.values() if h.is_v2 and h.mountpoint == CGROUP_ROOT))
    return Layout("v1", tuple(hier.values()))


def detect_layout() -> Layout:
    """Read the cgroup layout of this process from /proc (two small reads, no fork)."""
    with open("/proc/self/mountinfo") as f:
        mi = f.read()
    with open("/proc/self/cgroup") as f:
        pc = f.read()
    layout = layout_from_text(mi, pc)
    if not layout.hierarchies:
        raise CgroupError("no cgroup hierarchy is mounted (looked in /proc/self/mountinfo)")
    return layout


# --------------------------------------------------------------------------
# path resolution (pure)
# --------------------------------------------------------------------------


def clean_path(path: str) -> str:
    """Lexically clean ``path`` so that it can never climb above its root.

    Like runc's ``utils.CleanPath``: absolute paths stay absolute, relative
    ones stay relative, and ``..`` cannot escape either.
    """
    if not path:
        return ""
    cleaned = os.path.normpath("/" + path)
    cleaned = "/" + cleaned.lstrip("/")
    if path.startswith("/"):
        return cleaned
    return cleaned.lstrip("/") or "."


def expand_slice(slice_name: str) -> str:
    """Systemd slice name → cgroup path: ``a-b.slice`` → ``/a.slice/a-b.slice``.

    Follows systemd's (and runc's) rules: the name must end in ``.slice``,
    contain no ``/``, and no empty dash-separated component; ``-.slice`` is
    the root.
    """
    suffix = ".slice"
    if not slice_name.endswith(suffix) or len(slice_name) <= len(suffix) or "/" in slice_name:
        raise CgroupError(f"invalid systemd slice name {slice_name!r}")
    base = slice_name[: -len(suffix)]
    if base == "-":
        return "/"
    path, prefix = "", ""
    for comp in base.split("-"):
        if not comp:
            raise CgroupError(f"invalid systemd slice name {slice_name!r}")
        path += "/" + prefix + comp + suffix
        prefix += comp + "-"
    return path


def resolve_inner_path(cgroups_path: str | None, container_id: str, systemd: bool = False) -> str:
    """The cgroup path (inside each hierarchy) for a container.

    - ``systemd=False``: an absolute path is used as given; a relative path is
      relative to the runtime's own cgroup (the caller joins it); an empty or
      missing path gives ``/pyrkt/<id>`` (runc would use a relative ``<id>``:
      pyrkt groups its containers under one parent instead, so they are easy
      to find and never nest inside whatever cgroup the caller ran in).
    - ``systemd=True``: ``slice:prefix:name`` → ``<expanded slice>/<prefix>-<name>.scope``
      (a ``name`` ending in ``.slice`` is used as is, an empty prefix gives
      ``<name>.scope``, an empty slice is ``system.slice``); an empty path is
      ``system.slice:pyrkt:<id>``.  The result is always absolute.
    """
    if systemd:
        spec = cgroups_path or f"{DEFAULT_SLICE}:{DEFAULT_SCOPE_PREFIX}:{container_id}"
        parts = spec.split(":")
        if len(parts) != 3:
            raise CgroupError(
                f'cgroupsPath {spec!r} must have the form "slice:prefix:name" with --systemd-cgroup'
            )
        slice_name, prefix, name = parts
        if not name:
            raise CgroupError(f"cgroupsPath {spec!r}: empty unit name")
        if "/" in prefix or "/" in name:
            raise CgroupError(f"cgroupsPath {spec!r}: prefix and name must not contain '/'")
        parent = expand_slice(slice_name or DEFAULT_SLICE)
        if name.endswith(".slice"):
            unit = name
        elif prefix:
            unit = f"{prefix}-{name}.scope"
        else:
            unit = f"{name}.scope"
        return os.path.normpath(parent.rstrip("/") + "/" + unit)
    if not cgroups_path:
        if not container_id or "/" in container_id or container_id in (".", ".."):
            raise CgroupError(f"invalid container id {container_id!r} for a cgroup name")
        return f"{DEFAULT_PARENT}/{container_id}"
    p = clean_path(cgroups_path)
    if p in ("/", "."):
        raise CgroupError(f"cgroupsPath {cgroups_path!r} names the root cgroup; refusing to use it")
    return p


# --------------------------------------------------------------------------
# resources → file writes (pure)
# --------------------------------------------------------------------------


# The devices every container may use, as runc allows them on top of the
# config's list: mknod of any device, null, zero, full, tty, urandom, random,
# /dev/pts/*, ptmx, and /dev/net/tun (runc 1.2.0 dropped it, 1.2.1 put it
# back after it broke users).  The runtime appends these to the config's rules.
DEFAULT_DEVICE_RULES: tuple[dict[str, Any], ...] = tuple(
    {"allow": True, "type": t, "major": ma, "minor": mi, "access": acc}
    for t, ma, mi, acc in (
        ("c", None, None, "m"),
        ("b", None, None, "m"),
        ("c", 1, 3, "rwm"),
        ("c", 1, 5, "rwm"),
        ("c", 1, 7, "rwm"),
        ("c", 5, 0, "rwm"),
        ("c", 1, 9, "rwm"),
        ("c", 1, 8, "rwm"),
        ("c", 136, None, "rwm"),
        ("c", 5, 2, "rwm"),
        ("c", 10, 200, "rwm"),
    )
)



Write = tuple[str, str, str]  # (controller, file name, value)


def ignored_resource_warnings(resources: dict[str, Any], mode: str) -> list[str]:
    """Messages for the resource fields pyrkt accepts but does not apply.

    ``memory.kernel`` is deprecated by the runtime spec and ignored by runc
    (kernel memory is accounted in the memory limit; separate kmem limits
    are gone from recent kernels and v2); on v2 ``memory.kernelTCP`` has no
    file either.
    """
    mem = resources.get("memory") or {}
    out = []
    if mem.get("kernel"):
        out.append(f"linux.resources.memory.kernel={mem['kernel']} ignored: kernel memory limits are deprecated (as in runc)")
    if mode == "v2" and mem.get("kernelTCP"):
        out.append(f"linux.resources.memory.kernelTCP={mem['kernelTCP']} ignored: cgroup v2 has no separate TCP memory limit")
    return out


def v1_resource_writes(resources: dict[str, Any], current_memory_limit: int | None = None) -> list[Write]:
    """The v1 file writes for an OCI ``linux.resources`` dict, in order.

    ``current_memory_limit`` is the cgroup's present ``memory.limit_in_bytes``
    (needed to order the memory and memory+swap writes so the kernel never
    sees memsw < memory).  ``blkio.weight`` is returned under that name; the
    manager switches to ``blkio.bfq.weight`` when only that file exists.
    Raises :class:`CgroupError` for values v1 cannot express.
    """
    w: list[Write] = []
    mem = resources.get("memory") or {}
    if mem:
        limit = _int("memory", "limit", mem.get("limit", 0) or 0)
        swap = _int("memory", "swap", mem.get("swap", 0) or 0)
        if limit == -1 and swap == 0:
            swap = -1  # unlimited memory means unlimited memory+swap too (runc)
        lw = ("memory", "memory.limit_in_bytes", str(limit))
        sw = ("memory", "memory.memsw.limit_in_bytes", str(swap))
        if limit and swap:
            if swap != -1 and swap < limit:
                raise CgroupError(f"memory.swap={swap} (memory+swap) is below memory.limit={limit}")
            cur = current_memory_limit
            if swap == -1 or cur is None or cur < swap:
                w += [sw, lw]
            else:
                w += [lw, sw]
        elif limit:
            w.append(lw)
        elif swap:
            w.append(sw)
        if mem.get("reservation"):
            w.append(("memory", "memory.soft_limit_in_bytes", str(_int("memory", "reservation", mem["reservation"]))))
        # memory.kernel is deprecated by the runtime spec and ignored by runc
        # (kernel memory accounting cannot be limited separately any more).
        if mem.get("kernelTCP"):
            w.append(("memory", "memory.kmem.tcp.limit_in_bytes", str(_int("memory", "kernelTCP", mem["kernelTCP"]))))
        sw_ = mem.get("swappiness")
        if sw_ is not None and sw_ != -1:
            v = _int("memory", "swappiness", sw_)
            if not 0 <= v <= 100:
                raise CgroupError(f"memory.swappiness must be 0..100, got {v}")
            w.append(("memory", "memory.swappiness", str(v)))
        if mem.get("disableOOMKiller"):
            w.append(("memory", "memory.oom_control", "1"))
        if mem.get("useHierarchy"):
            w.append(("memory", "memory.use_hierarchy", "1"))
    cpu = resources.get("cpu") or {}
    if cpu:
        if cpu.get("shares"):
            w.append(("cpu", "cpu.shares", str(_int("cpu", "shares", cpu["shares"]))))
        # period before quota: the kernel checks quota against the period
        if cpu.get("period"):
            w.append(("cpu", "cpu.cfs_period_us", str(_int("cpu", "period", cpu["period"]))))
        if cpu.get("quota"):
            w.append(("cpu", "cpu.cfs_quota_us", str(_int("cpu", "quota", cpu["quota"]))))
        if cpu.get("burst") is not None:
            w.append(("cpu", "cpu.cfs_burst_us", str(_int("cpu", "burst", cpu["burst"]))))
        if cpu.get("realtimePeriod"):
            w.append(("cpu", "cpu.rt_period_us", str(_int("cpu", "realtimePeriod", cpu["realtimePeriod"]))))
        if cpu.get("realtimeRuntime"):
            w.append(("cpu", "cpu.rt_runtime_us", str(_int("cpu", "realtimeRuntime", cpu["realtimeRuntime"]))))
        if cpu.get("idle") is not None:
            w.append(("cpu", "cpu.idle", str(_int("cpu", "idle", cpu["idle"]))))
        if cpu.get("cpus"):
            w.append(("cpuset", "cpuset.cpus", str(cpu["cpus"])))
        if cpu.get("mems"):
            w.append(("cpuset", "cpuset.mems", str(cpu["mems"])))
    pids = resources.get("pids")
    if pids and pids.get("limit") is not None:
        lim = _int("pids", "limit", pids["limit"])
        w.append(("pids", "pids.max", "max" if lim <= 0 else str(lim)))
    for d in resources.get("devices") or []:
        allow, rule = _device_rule(d)
        w.append(("devices", "devices.allow" if allow else "devices.deny", rule))
    bio = resources.get("blockIO") or {}
    if bio:
        if bio.get("weight"):
            w.append(("blkio", "blkio.weight", str(_int("blockIO", "weight", bio["weight"]))))
        if bio.get("leafWeight"):
            w.append(("blkio", "blkio.leaf_weight", str(_int("blockIO", "leafWeight", bio["leafWeight"]))))
        for e in bio.get("weightDevice") or []:
            dev = f"{_int('blockIO', 'weightDevice.major', e.get('major'))}:{_int('blockIO', 'weightDevice.minor', e.get('minor'))}"
            if e.get("weight"):
                w.append(("blkio", "blkio.weight_device", f"{dev} {_int('blockIO', 'weightDevice.weight', e['weight'])}"))
            if e.get("leafWeight"):
                w.append(("blkio", "blkio.leaf_weight_device", f"{dev} {_int('blockIO', 'weightDevice.leafWeight', e['leafWeight'])}"))
        for key, fname in (
            ("throttleReadBpsDevice", "blkio.throttle.read_bps_device"),
            ("throttleWriteBpsDevice", "blkio.throttle.write_bps_device"),
            ("throttleReadIOPSDevice", "blkio.throttle.read_iops_device"),
            ("throttleWriteIOPSDevice", "blkio.throttle.write_iops_device"),
        ):
            for entry in _throttle(bio.get(key), key):
                w.append(("blkio", fname, entry))
    for e in resources.get("hugepageLimits") or []:
        w.append(("hugetlb", f"hugetlb.{_page_size(e)}.limit_in_bytes", str(_int("hugepageLimits", "limit", e.get("limit")))))
    net = resources.get("network") or {}
    if net.get("classID") is not None:
        w.append(("net_cls", "net_cls.classid", str(_int("network", "classID", net["classID"]))))
    for p in net.get("priorities") or []:
        w.append(("net_prio", "net_prio.ifpriomap", f"{p.get('name')} {_int('network', 'priority', p.get('priority'))}"))
    if resources.get("rdma"):
        for dev, lim in resources["rdma"].items():
            parts = [f"{k}={lim[j]}" for j, k in (("hcaHandles", "hca_handle"), ("hcaObjects", "hca_object")) if lim.get(j) is not None]
            w.append(("rdma", "rdma.max", f"{dev} {' '.join(parts)}"))
    if resources.get("unified"):
        raise CgroupError("linux.resources.unified needs cgroup v2; this host's cgroups are v1")
    return w



# --------------------------------------------------------------------------
# the manager
# --------------------------------------------------------------------------


class CgroupManager:
    """One container's cgroup across every mounted hierarchy.

    Build it with :meth:`for_path` (resolves ``linux.cgroupsPath``) at
    create time, store :meth:`paths` in the container's state, and rebuild it
    with :meth:`from_paths` in later commands (kill, pause, delete…) so they
    never re-resolve against a cgroup layout that may have changed.
    """

    def __init__(self, mode: str, dirs: dict[str, str]) -> None:
        if mode not in ("v1", "v2"):
            raise CgroupError(f"unknown cgroup mode {mode!r}")
        self.mode = mode
        self._dirs = dict(dirs)

    # ---- construction ---------------------------------------------------

    @classmethod
    def for_path(
        cls,
        cgroups_path: str | None,
        container_id: str,
        systemd: bool = False,
        layout: Layout | None = None,
    ) -> "CgroupManager":
        """Resolve the container's cgroup in every hierarchy of ``layout``.

        ``layout`` defaults to :func:`detect_layout`; tests pass their own.
        Relative paths are joined to the runtime's own cgroup in each v1
        hierarchy, and (as runc does on v2) to the *parent* of its own cgroup
        on a v2 host, because a v2 cgroup holding processes cannot have
        controller-enabled children.
        """
        inner = resolve_inner_path(cgroups_path, container_id, systemd)
        layout = layout or detect_layout()
        dirs: dict[str, str] = {}
        for h in layout.hierarchies:
            if inner.startswith("/"):
                full = inner
            else:
                base = h.own
                if layout.mode == "v2":
                    base = os.path.dirname(base.rstrip("/")) or "/"
                full = os.path.normpath(base.rstrip("/") + "/" + inner)
            d = h.host_dir(full)
            for c in h.controllers:
                dirs[c] = d
        if layout.mode == "v2":
            dirs = {UNIFIED: dirs[UNIFIED]}
        return cls(layout.mode, dirs)

    @classmethod
    def from_paths(cls, paths: dict[str, str]) -> "CgroupManager":
        """Rebuild a manager from :meth:`paths` output saved in container state."""
        if not paths:
            raise CgroupError("no cgroup paths recorded")
        dirs = {(UNIFIED if k in (V2_KEY, UNIFIED) else k): v for k, v in paths.items()}
        mode = "v2" if set(dirs) == {UNIFIED} else "v1"
        return cls(mode, dirs)

    def paths(self) -> dict[str, str]:
        """Controller (``memory``, ``name=systemd`` …) → cgroup directory.

        The cgroup2 hierarchy (all of v2, or the hybrid mount) is under the
        key ``""``, as runc records it in its state's ``cgroup_paths``.
        """
        return {(V2_KEY if k == UNIFIED else k): v for k, v in self._dirs.items()}

    # ---- internals ----------------------------------------------------

    def _unique_dirs(self) -> list[str]:
        seen: list[str] = []
        for d in self._dirs.values():
            if d not in seen:
                seen.append(d)
        return seen

    def _dir(self, controller: str) -> str:
        if self.mode == "v2":
            return self._dirs[UNIFIED]
        d = self._dirs.get(controller)
        if d is None:
            raise CgroupError(f"cgroup v1 controller {controller!r} is not mounted on this host")
        return d

    # ---- lifecycle ----------------------------------------------------

    def create(self) -> None:
        """Make the cgroup directory in every hierarchy (parents included).

        v1 cpuset: a new cpuset cgroup starts with empty ``cpus``/``mems`` and
        refuses tasks, so each new level copies them from its parent.
        v2: every controller available in a parent is enabled in its
        ``cgroup.subtree_control`` down to the leaf (failures to enable one
        are tolerated here; writing a limit for it later fails clearly).
        The cgroup2 mount of a hybrid host is only joined: its controllers
        are left alone unless a limit needs one (hugetlb).
        """
        for ctrl, d in self._dirs.items():
            if self.mode == "v1" and ctrl == "cpuset":
                self._mkdir_cpuset(d)
            elif self.mode == "v2":
                self._mkdir_v2(d)
            else:
                self._makedirs(d)

    @staticmethod
    def _makedirs(d: str) -> None:
        try:
            os.makedirs(d, exist_ok=True)
        except OSError as e:
            raise CgroupError(f"cannot create cgroup {d}: {e.strerror}") from e

    @staticmethod
    def _missing_levels(d: str) -> list[str]:
        levels = []
        cur = d
        while not os.path.isdir(cur):
            levels.append(cur)
            parent = os.path.dirname(cur)
            if parent == cur:
                break
            cur = parent
        return list(reversed(levels))

    def _mkdir_cpuset(self, d: str) -> None:
        # every level below the hierarchy's root, existing ones too: an ancestor someone else
        # made may have empty cpus/mems, and a task cannot join below it (ENOSPC); runc fills it
        levels = []
        cur = d
        while os.path.dirname(cur) != cur:
            parent = os.path.dirname(cur)
            if os.path.isdir(parent) and not os.path.exists(os.path.join(parent, "cpuset.cpus")):
                break  # cur is the hierarchy's root
            levels.append(cur)
            cur = parent
        for lvl in reversed(levels):
            if not os.path.isdir(lvl):
                self._makedirs(lvl)
            parent = os.path.dirname(lvl)
            for f in ("cpuset.cpus", "cpuset.mems"):
                mine = _read_opt(os.path.join(lvl, f))
                if mine is not None and not mine.strip():
                    val = _read(os.path.join(parent, f)).strip()
                    _write(os.path.join(lvl, f), val)

    @staticmethod
    def _v2_ancestors(leaf: str) -> list[str]:
        """The leaf's ancestors from the cgroup2 mount's root down to its parent."""
        chain = []
        cur = os.path.dirname(leaf)
        while True:
            chain.append(cur)
            if os.path.ismount(cur) or os.path.dirname(cur) == cur:
                break
            cur = os.path.dirname(cur)
        return list(reversed(chain))

    def _mkdir_v2(self, d: str) -> None:
        self._makedirs(d)
        # enable the available controllers from the root down to the leaf's
        # parent (never on the leaf: it will hold processes), as runc does;
        # each level only offers what its parent enabled, hence top-down
        for lvl in self._v2_ancestors(d):
            ctrls = (_read_opt(os.path.join(lvl, "cgroup.controllers")) or "").split()
            enabled = set((_read_opt(os.path.join(lvl, "cgroup.subtree_control")) or "").split())
            for c in ctrls:
                if c in enabled:
                    continue
                try:
                    _write(os.path.join(lvl, "cgroup.subtree_control"), "+" + c)
                except CgroupError:
                    pass  # e.g. processes in lvl, or a threaded-only controller

    def add(self, pid: int) -> None:
        """Move ``pid`` (all its threads) into the cgroup in every hierarchy."""
        add_pid(self._unique_dirs(), pid)

    def apply(self, resources: dict[str, Any] | None) -> list[str]:
        """Write an OCI ``linux.resources`` dict; the first failing write raises.

        Returns warnings for fields deliberately not applied (the deprecated
        kernel-memory limits, as runc ignores them), for the runtime to log:
        nothing requested is dropped without a word.
        """
        if not resources:
            return []
        warnings = ignored_resource_warnings(resources, self.mode)
        if self.mode == "v2":
            d = self._dirs[UNIFIED]
            from pyrkt.linux.cgroups.v2 import v2_resource_writes

            for fname, val in v2_resource_writes(resources):
                if fname == "io.weight" and not os.path.exists(os.path.join(d, "io.weight")) and os.path.exists(os.path.join(d, "io.bfq.weight")):
                    fname = "io.bfq.weight"
                _write(os.path.join(d, fname), val)
            if resources.get("devices"):
                from pyrkt.linux.cgroups.bpf import attach_device_filter

                attach_device_filter(d, resources["devices"])
            return warnings
        cur = None
        mem = resources.get("memory") or {}
        if "memory" in self._dirs and mem.get("limit") and mem.get("swap"):
            cur = _uint(_read_opt(os.path.join(self._dirs["memory"], "memory.limit_in_bytes")))
        for ctrl, fname, val in v1_resource_writes(resources, cur):
            if ctrl == "hugetlb" and "hugetlb" not in self._dirs and UNIFIED in self._dirs:
                # hybrid host whose hugetlb controller lives on the v2 mount
                path = os.path.join(self._dirs[UNIFIED], fname.replace(".limit_in_bytes", ".max"))
                if not os.path.exists(path):
                    self._enable_v2_controller("hugetlb")
                _write(path, val)
                continue
            d = self._dir(ctrl)
            if fname == "blkio.weight" and not os.path.exists(os.path.join(d, fname)):
                if os.path.exists(os.path.join(d, "blkio.bfq.weight")):
                    fname = "blkio.bfq.weight"
                else:
                    raise CgroupError(f"blockIO.weight={val}: {d} has neither blkio.weight nor blkio.bfq.weight (no CFQ/BFQ scheduler)")
            if fname == "blkio.weight_device" and not os.path.exists(os.path.join(d, fname)) and os.path.exists(os.path.join(d, "blkio.bfq.weight_device")):
                fname = "blkio.bfq.weight_device"  # a kernel with BFQ only (no CFQ): runc writes there
            if fname == "memory.memsw.limit_in_bytes" and not os.path.exists(os.path.join(d, fname)):
                raise CgroupError(f"memory.swap={val}: {d}/{fname} does not exist (swap accounting is off)")
            _write(os.path.join(d, fname), val)
        return warnings

    def _enable_v2_controller(self, ctrl: str) -> None:
        """Enable ``ctrl`` in subtree_control from the v2 root down to the leaf's parent."""
        for lvl in self._v2_ancestors(self._dirs[UNIFIED]):
            if ctrl in (_read_opt(os.path.join(lvl, "cgroup.subtree_control")) or "").split():
                continue
            _write(os.path.join(lvl, "cgroup.subtree_control"), "+" + ctrl)

    # ---- processes ------------------------------------------------------

    def procs(self) -> list[int]:
        """Every pid in the cgroup and its descendants, in any hierarchy, sorted."""
        pids: set[int] = set()
        for d in self._unique_dirs():
            for sub in _walk_bottom_up(d):
                text = _read_opt(os.path.join(sub, "cgroup.procs"))
                for line in (text or "").split():
                    pids.add(int(line))
        return sorted(pids)

    def kill_all(self, sig: int) -> None:
        """Send ``sig`` to every process in the cgroup.

        v2 with SIGKILL uses ``cgroup.kill`` (atomic, no fork race).  Otherwise
        the cgroup is frozen first when a freezer exists, so no process can
        fork a child that escapes the snapshot of pids, then thawed.
        """
        import _signal  # type: ignore[import-not-found,unused-ignore] # not signal: bench/README.md "Speed rules"

        if not self.exists():
            return  # already destroyed: nothing left to signal
        if self.mode == "v2" and sig == _signal.SIGKILL:
            kf = os.path.join(self._dirs[UNIFIED], "cgroup.kill")
            if os.path.exists(kf):
                _write(kf, "1")
                return
        can_freeze = self._has_freezer()
        # a paused container stays paused, except for SIGKILL: frozen v1
        # tasks only die once thawed
        thaw_after = can_freeze and (sig == _signal.SIGKILL or self.state() != "frozen")
        if can_freeze:
            self.freeze()
        try:
            for pid in self.procs():
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
        finally:
            if thaw_after:
                self.thaw()

    # ---- freezer --------------------------------------------------------

    def _has_freezer(self) -> bool:
        if self.mode == "v2":
            return os.path.exists(os.path.join(self._dirs[UNIFIED], "cgroup.freeze"))
        d = self._dirs.get("freezer")
        return d is not None and os.path.exists(os.path.join(d, "freezer.state"))

    def _freeze_file(self) -> str:
        if not self._has_freezer():
            raise CgroupError("no freezer: " + ("cgroup.freeze missing" if self.mode == "v2" else "the v1 freezer controller is not mounted"))
        if self.mode == "v2":
            return os.path.join(self._dirs[UNIFIED], "cgroup.freeze")
        return os.path.join(self._dirs["freezer"], "freezer.state")

    def freeze(self, timeout: float = 5.0) -> None:
        """Freeze every process and wait until the kernel reports it frozen."""
        f = self._freeze_file()
        deadline = time.monotonic() + timeout
        delay = 0.0005
        if self.mode == "v2":
            _write(f, "1")
            while self.state() != "frozen":
                if time.monotonic() > deadline:
                    raise CgroupError(f"{f}: cgroup not frozen after {timeout}s")
                time.sleep(delay)
                delay = min(delay * 2, 0.05)
            return
        while True:
            # v1 may stay FREEZING (e.g. a task in vfork); writing FROZEN again retries
            _write(f, "FROZEN")
            if _read(f).strip() == "FROZEN":
                return
            if time.monotonic() > deadline:
                _write(f, "THAWED")
                raise CgroupError(f"{f}: cgroup still FREEZING after {timeout}s; thawed it again")
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

    def thaw(self) -> None:
        """Let frozen processes run again."""
        f = self._freeze_file()
        _write(f, "0" if self.mode == "v2" else "THAWED")

    def state(self) -> str:
        """``"frozen"`` when every process is frozen, else ``"thawed"`` (FREEZING counts as thawed)."""
        if not self._has_freezer():
            return "thawed"
        if self.mode == "v2":
            ev = _kv(_read_opt(os.path.join(self._dirs[UNIFIED], "cgroup.events")))
            return "frozen" if ev.get("frozen") == 1 else "thawed"
        st = _read(os.path.join(self._dirs["freezer"], "freezer.state")).strip()
        return "frozen" if st == "FROZEN" else "thawed"

    # ---- destroy --------------------------------------------------------

    def destroy(self, timeout: float = 2.0) -> None:
        """Remove the cgroup (and any sub-cgroups), deepest first, everywhere.

        A cgroup with live processes cannot be removed: on EBUSY the
        processes are SIGKILLed and the removal retried until ``timeout``.
        A directory that is already gone is fine, so delete is idempotent.
        Parents (``/pyrkt``) are left for other containers.
        """
        import _signal  # type: ignore[import-not-found,unused-ignore] # not signal: bench/README.md "Speed rules"

        deadline = time.monotonic() + timeout
        killed = False
        delay = 0.001
        for d in self._unique_dirs():
            for sub in _walk_bottom_up(d):
                while True:
                    try:
                        os.rmdir(sub)
                        break
                    except FileNotFoundError:
                        break
                    except OSError as e:
                        if e.errno != errno.EBUSY:
                            raise CgroupError(f"cannot remove cgroup {sub}: {e.strerror}") from e
                        if not killed:
                            killed = True
                            try:
                                self.kill_all(_signal.SIGKILL)
                            except CgroupError:
                                pass
                        if time.monotonic() > deadline:
                            raise CgroupError(f"cannot remove cgroup {sub}: still busy after {timeout}s (pids {self.procs()})") from e
                        time.sleep(delay)
                        delay = min(delay * 2, 0.05)

    def exists(self) -> bool:
        return any(os.path.isdir(d) for d in self._unique_dirs())

    # ---- stats ----------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Resource usage in the shape of runc's ``events --stats`` ``data``.

        Keys: ``cpu`` (``usage``: total/kernel/user/percpu in ns,
        ``throttling``), ``memory`` (``usage``/``swap``/``kernel``
        entries of limit/usage/max/failcnt, ``cache``, ``raw``), ``pids``
        (current/limit), ``hugetlb`` (per page size), ``blkio`` (empty lists
        where the kernel gives nothing).
        """
        from pyrkt.linux.cgroups.stats import stats_v1, stats_v2

        return stats_v2(self) if self.mode == "v2" else stats_v1(self)
