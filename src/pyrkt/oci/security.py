"""The config.json fields that depend on what this kernel offers.

`process.apparmorProfile`, `process.selinuxLabel`, `linux.mountLabel`,
`linux.personality`, `linux.intelRdt` and `linux.timeOffsets` are applied when
the kernel has the feature and refused with one clear line otherwise: a
container that asked for confinement never runs without it in silence.

`check(cfg)` runs in `create` (and `exec`) before anything is forked; the
`apply_*` functions run in the container's process right before execve.
"""

from __future__ import annotations

import os

PERSONALITY_DOMAINS = {"LINUX": 0x0000, "LINUX32": 0x0008}


class SecurityError(Exception):
    pass


def apparmor_enabled() -> bool:
    try:
        with open("/sys/module/apparmor/parameters/enabled") as f:
            return f.read().strip() == "Y"
    except OSError:
        return False


def selinux_enabled() -> bool:
    return os.path.exists("/sys/fs/selinux/enforce")


def intel_rdt_available() -> bool:
    return os.path.isdir("/sys/fs/resctrl/info")


def check_process(apparmor: object, selinux: object) -> None:
    if apparmor and not apparmor_enabled():
        raise SecurityError(
            f"process.apparmorProfile {apparmor!r}: AppArmor is not enabled in this kernel (/sys/module/apparmor/parameters/enabled)"
        )
    if selinux and not selinux_enabled():
        raise SecurityError(f"process.selinuxLabel {selinux!r}: SELinux is not enabled in this kernel (/sys/fs/selinux)")


def personality_value(spec: object) -> int | None:
    """The personality(2) argument for linux.personality, or None when absent."""
    if not spec:
        return None
    if not isinstance(spec, dict):
        raise SecurityError("config.json: linux.personality must be an object")
    domain = spec.get("domain")
    if domain not in PERSONALITY_DOMAINS:
        raise SecurityError(f"config.json: linux.personality.domain {domain!r} must be LINUX or LINUX32")
    if spec.get("flags"):
        raise SecurityError(f"config.json: linux.personality.flags {spec.get('flags')!r}: no personality flags are supported (runc supports none either)")
    return PERSONALITY_DOMAINS[str(domain)]


def check(cfg: object) -> None:
    """Refuse what this kernel cannot do, before any process exists."""
    proc = cfg.process  # type: ignore[attr-defined]
    check_process(proc.apparmor_profile, proc.selinux_label)
    if cfg.mount_label and not selinux_enabled():  # type: ignore[attr-defined]
        raise SecurityError(f"linux.mountLabel {cfg.mount_label!r}: SELinux is not enabled in this kernel (/sys/fs/selinux)")  # type: ignore[attr-defined]
    if cfg.intel_rdt:  # type: ignore[attr-defined]
        if not intel_rdt_available():
            raise SecurityError("linux.intelRdt: resctrl is not mounted on this host (/sys/fs/resctrl): Intel RDT is unavailable")
        raise SecurityError("linux.intelRdt: not supported by pyrkt-runtime yet")
    personality_value(cfg.personality)  # type: ignore[attr-defined]
    offsets = cfg.time_offsets  # type: ignore[attr-defined]
    if offsets:
        if cfg.ns("time") is None or cfg.ns_path("time"):  # type: ignore[attr-defined]
            raise SecurityError("config.json: linux.timeOffsets needs a new time namespace (linux.namespaces type time without path)")
        time_offsets_text(offsets)
    if cfg.ns("time") is not None and not os.path.exists("/proc/self/ns/time"):  # type: ignore[attr-defined]
        raise SecurityError("config.json: time namespace requested but this kernel has no time namespaces")


def time_offsets_text(offsets: object) -> str:
    """The /proc/PID/timens_offsets text for linux.timeOffsets."""
    if not isinstance(offsets, dict):
        raise SecurityError("config.json: linux.timeOffsets must be an object")
    lines = []
    for clock, value in offsets.items():
        if clock not in ("monotonic", "boottime"):
            raise SecurityError(f"config.json: linux.timeOffsets.{clock}: only monotonic and boottime clocks can be offset")
        if not isinstance(value, dict):
            raise SecurityError(f"config.json: linux.timeOffsets.{clock} must be an object")
        secs, nanos = value.get("secs", 0), value.get("nanosecs", 0)
        if not isinstance(secs, int) or not isinstance(nanos, int) or not 0 <= nanos < 1_000_000_000:
            raise SecurityError(f"config.json: linux.timeOffsets.{clock}: secs must be an integer and nanosecs in [0, 1e9)")
        lines.append(f"{clock} {secs} {nanos}\n")
    return "".join(lines)


def apply_process(apparmor: object, selinux: object) -> None:
    """In the container process: label the next execve (AppArmor or SELinux)."""
    if apparmor:
        _write_attr("apparmor/exec", f"exec {apparmor}", "attr/exec")
    if selinux:
        _write_attr("exec", str(selinux))


def _write_attr(name: str, value: str, fallback: str | None = None) -> None:
    path = f"/proc/thread-self/attr/{name}"
    if fallback and not os.path.exists(path):
        path = f"/proc/thread-self/{fallback}"
    try:
        with open(path, "w") as f:
            f.write(value)
    except OSError as exc:
        raise SecurityError(f"setting the security label {value!r} ({path}): {exc.strerror}") from None


def apply_personality(value: int | None) -> None:
    if value is None:
        return
    from pyrkt.linux import syscalls as sc

    sc.personality(value)


def enter_time_namespace(cfg: object) -> int:
    """In create, right before clone: make the child's time namespace (new, with
    linux.timeOffsets written, or joined by path). setns/unshare of a time
    namespace only apply to children; returns an fd of our own to go back to."""
    from pyrkt.linux import syscalls as sc

    own = os.open("/proc/self/ns/time", os.O_RDONLY | os.O_CLOEXEC)
    path = cfg.ns_path("time")  # type: ignore[attr-defined]
    try:
        if path:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                sc.setns(fd, sc.CLONE_NEWTIME)
            finally:
                os.close(fd)
            return own
        sc.unshare(sc.CLONE_NEWTIME)
        text = time_offsets_text(cfg.time_offsets or {})  # type: ignore[attr-defined]
        if text:
            try:
                with open("/proc/self/timens_offsets", "w") as f:
                    f.write(text)
            except OSError as exc:
                raise SecurityError(f"linux.timeOffsets: writing timens_offsets: {exc.strerror}") from None
    except OSError as exc:
        os.close(own)
        raise SecurityError(f"time namespace: {exc.strerror or exc}") from None
    except BaseException:
        os.close(own)
        raise
    return own


def leave_time_namespace(own: int) -> None:
    """Back in create after clone: our next children (hooks) run in our own time namespace again."""
    from pyrkt.linux import syscalls as sc

    try:
        sc.setns(own, sc.CLONE_NEWTIME)
    finally:
        os.close(own)
