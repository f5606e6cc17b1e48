"""Turning the calling process into the container's process: the last steps before execve.

Shared by the container init (create) and `exec`: rlimits, user and groups,
capabilities, no_new_privs, the executable's lookup in the container's PATH,
signal dispositions, and the final execve. Messages follow runc's wording,
because podman maps "executable file not found in $PATH" to exit 127 and
"permission denied" to 126.
"""

from __future__ import annotations

import os
import stat

from pyrkt.linux import capabilities, syscalls as sc
from pyrkt.oci.config import Process

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class ProcessSetupError(Exception):
    pass


def enter_process_context(proc: Process) -> None:
    """The process's rlimits, umask and working directory (before the user switch: cwd may need root)."""
    if proc.rlimits:
        set_rlimits(proc)
    os.umask(proc.user.umask if proc.user.umask is not None else 0o022)
    try:
        os.chdir(proc.cwd)
    except OSError as exc:
        raise ProcessSetupError(f"chdir to cwd ({proc.cwd!r}) set in config.json failed: {exc.strerror}") from None


def pass_fds(preserve: int) -> None:
    """Close every fd above 2 + `preserve` at execve; fds 3 .. 2 + `preserve` are inherited (--preserve-fds)."""
    sc.close_range_cloexec(3 + preserve)
    for fd in range(3, 3 + preserve):
        try:
            os.set_inheritable(fd, True)
        except OSError:
            pass


def env_map(env: list[str]) -> dict[str, str]:
    """process.env as execve's mapping; an entry without "=" is dropped (as runc does)."""
    out = {}
    for item in env:
        name, eq, value = item.partition("=")
        if eq:
            out[name] = value
    return out


def set_rlimits(proc: Process) -> None:
    import resource

    for rl in proc.rlimits:
        soft, hard = _limit(rl.soft), _limit(rl.hard)
        if hard != -1 and (soft == -1 or soft > hard):
            raise ProcessSetupError(f"rlimit {rl.name}: soft limit {rl.soft} is above hard limit {rl.hard}")
        try:
            resource.setrlimit(rl.resource, (soft, hard))
        except (ValueError, OSError) as exc:
            # CPython reports EPERM from setrlimit as ValueError("not allowed to raise maximum limit")
            _cur_soft, cur_hard = resource.getrlimit(rl.resource)
            if isinstance(exc, ValueError) or exc.errno == 1:
                raise ProcessSetupError(
                    f"rlimit {rl.name}: cannot raise the hard limit to {_show(hard)} above the runtime's own "
                    f"({_show(cur_hard)}): that needs CAP_SYS_RESOURCE, which this runtime does not have"
                ) from None
            raise ProcessSetupError(f"rlimit {rl.name}: {exc.strerror}") from None


def _limit(value: int) -> int:
    # the spec's "unlimited" is 2^64-1; Python's resource module says -1
    return -1 if value >= 2**63 - 1 or value < 0 else value


def _show(value: int) -> str:
    return "unlimited" if value == -1 else str(value)


def set_oom_score_adj(pid: int | str, value: int) -> None:
    try:
        with open(f"/proc/{pid}/oom_score_adj", "w") as f:
            f.write(str(value))
    except OSError as exc:
        if exc.errno in (1, 13):
            raise ProcessSetupError(
                f"oomScoreAdj {value}: lowering the OOM score needs CAP_SYS_RESOURCE, which this runtime does not have"
            ) from None
        raise ProcessSetupError(f"oomScoreAdj {value}: {exc.strerror}") from None


def own_stdio(proc: Process) -> None:
    """Give the process's stdio (its terminal, or the pipes and files it was handed) to its user,
    as runc does: a non-root process could otherwise not reopen /dev/stdout or chmod its tty.
    The owner only (runc keeps the group, a devpts gid=5 tty stays the tty group's); /dev/null is
    left alone; EPERM/EINVAL (an unmapped owner in a user namespace) are not errors."""
    uid = proc.user.uid
    for fd in (0, 1, 2):
        try:
            st = os.fstat(fd)
            if (stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 3)) or st.st_uid == uid:
                continue
            os.fchown(fd, uid, -1)
        except OSError as exc:
            if exc.errno not in (1, 9, 22, 30):  # EPERM, EBADF, EINVAL, EROFS
                raise ProcessSetupError(f"fchown of fd {fd} to uid {uid}: {exc.strerror}") from None


def switch_user(proc: Process, caps: capabilities.CapabilitySets, last_cap: int, in_userns: bool) -> None:
    """Drop the bounding set, become the container user keeping capabilities, apply the sets."""
    own_stdio(proc)
    caps.drop_bounding(last_cap)
    user = proc.user
    sc.prctl(sc.PR_SET_KEEPCAPS, 1)
    try:
        try:
            os.setgroups(user.additional_gids)
        except OSError as exc:
            # setgroups is denied in a user namespace with setgroups=deny (rootless)
            if not (in_userns and exc.errno == 1 and not user.additional_gids):
                raise ProcessSetupError(f"setgroups {user.additional_gids}: {exc.strerror}") from None
        try:
            os.setresgid(user.gid, user.gid, user.gid)
        except OSError as exc:
            raise ProcessSetupError(f"setgid {user.gid}: {exc.strerror} (not mapped in the user namespace?)") from None
        try:
            os.setresuid(user.uid, user.uid, user.uid)
        except OSError as exc:
            raise ProcessSetupError(f"setuid {user.uid}: {exc.strerror} (not mapped in the user namespace?)") from None
    finally:
        sc.prctl(sc.PR_SET_KEEPCAPS, 0)
    caps.apply(last_cap)


def lookup_executable(proc: Process) -> str:
    """Find args[0] as execve will, in the container's PATH; runc's messages."""
    name = proc.args[0]
    if "/" in name:
        _check_executable(name, name)
        return name
    path = proc.env_value("PATH")
    if path is None:
        path = DEFAULT_PATH
    for directory in path.split(":"):
        candidate = os.path.join(directory or ".", name)
        try:
            st = os.stat(candidate)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and os.access(candidate, os.X_OK):
            return candidate
    raise ProcessSetupError(f'exec: "{name}": executable file not found in $PATH')


def _check_executable(name: str, path: str) -> None:
    try:
        st = os.stat(path)
    except OSError as exc:
        raise ProcessSetupError(f'exec: "{name}": stat {path}: {exc.strerror.lower() if exc.strerror else exc}') from None
    if stat.S_ISDIR(st.st_mode):
        raise ProcessSetupError(f'exec: "{name}": is a directory: permission denied')
    if not os.access(path, os.X_OK):
        raise ProcessSetupError(f'exec: "{name}": permission denied')


def restore_signals() -> None:
    """Python ignores SIGPIPE and SIGXFSZ; a container must start with defaults."""
    import _signal as signal  # type: ignore[import-not-found,unused-ignore]  # not signal: bench/README.md "Speed rules"

    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGTERM, signal.SIGCHLD, signal.SIGHUP, signal.SIGWINCH):
        signal.signal(sig, signal.SIG_DFL)


def exec_failure(exc: OSError, name: str) -> str:
    if exc.errno == 2:
        return f'exec: "{name}": no such file or directory'
    if exc.errno == 13:
        return f'exec: "{name}": permission denied'
    if exc.errno == 8:
        return f'exec: "{name}": exec format error'
    return f'exec: "{name}": {exc.strerror}'
