"""The privileged side's file and process rules: trusted paths, a root-only state dir, the env file, rkt as root.

rkt-run runs with euid 0 and the user's real uid (the launcher keeps it: it
is the user's identity, taken from the kernel, never from the environment).
Everything it writes goes into a directory only root can write (the state
dir), through a directory fd with O_NOFOLLOW|O_EXCL, so a user can neither
plant a symlink nor swap a path under it. Files the user names (`--config`
with `--dry-run`) are opened with the user's privileges.
"""

from __future__ import annotations

import os
import stat

from pyrkt.runner.errors import RunnerError

SAFE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def check_trusted(path: str, what: str) -> None:
    """`path` and every directory above it (symlinks resolved) are root-owned and not group/other-writable."""
    real = os.path.realpath(path)
    cur = real
    while True:
        try:
            st = os.lstat(cur)
        except OSError as exc:
            where = "" if cur == real else f" ({cur})"
            raise RunnerError(f"{what} {path}{where}: {exc.strerror}") from None
        if st.st_uid != 0:
            raise RunnerError(f"{what} {path}: {cur} is not owned by root: refused")
        if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise RunnerError(f"{what} {path}: {cur} is writable by group or others: refused")
        if cur == "/":
            return
        cur = os.path.dirname(cur)


def open_state_dir(path: str) -> int:
    """An fd on the state dir, created 0700 if missing; refused unless it is a real root-owned 0700-ish dir."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        raise RunnerError(f"state dir {path}: {exc.strerror}") from None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        raise RunnerError(f"state dir {path}: {exc.strerror} (a symlink is refused)") from None
    st = os.fstat(fd)
    if st.st_uid != 0 or st.st_mode & 0o077:
        os.close(fd)
        raise RunnerError(f"state dir {path} must be owned by root with mode 0700: refused")
    check_trusted(os.path.dirname(os.path.abspath(path)), "state dir parent")
    return fd


def write_private(dir_fd: int, dir_path: str, prefix: str, data: str) -> str:
    """Create a new 0600 file in the state dir (never an existing name, never through a symlink); its path."""
    rnd = os.urandom(6).hex()
    name = f"{prefix}-{os.getpid()}-{rnd}"
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=dir_fd)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data.encode())
    finally:
        os.close(fd)
    return os.path.join(dir_path, name)


def remove_private(dir_fd: int, path: str) -> None:
    try:
        os.unlink(os.path.basename(path), dir_fd=dir_fd)
    except OSError:
        pass


def read_as_user(path: str, uid: int, gid: int) -> bytes:
    """Read a file the user named with the user's own rights (euid/egid/groups switched, then restored)."""
    if os.geteuid() != 0 or uid == 0:
        return _read_limited(path)
    old_groups = os.getgroups()
    import pwd

    try:
        name = pwd.getpwuid(uid).pw_name
        groups = os.getgrouplist(name, gid)
    except KeyError:
        groups = [gid]
    os.setgroups(groups)
    os.setresgid(-1, gid, -1)
    os.setresuid(-1, uid, -1)
    try:
        return _read_limited(path)
    finally:
        os.setresuid(-1, 0, -1)
        os.setresgid(-1, 0, -1)
        os.setgroups(old_groups)


MAX_POLICY = 1 << 20


def _read_limited(path: str) -> bytes:
    """A policy file is small: /dev/zero or a huge file must not fill a root process's memory."""
    with open(path, "rb") as f:
        data = f.read(MAX_POLICY + 1)
    if len(data) > MAX_POLICY:
        raise RunnerError(f"{path}: larger than {MAX_POLICY} bytes: not a policy file")
    return data


def become_root() -> None:
    """In the child that runs rkt: all ids 0 and no supplementary groups (rkt needs real root)."""
    if os.geteuid() == 0:
        os.setgroups([])
        os.setresgid(0, 0, 0)
        os.setresuid(0, 0, 0)


def exec_rkt(argv: list[str]) -> None:
    """Become rkt (as root, fixed environment, cwd /): when nothing is left to clean up afterwards."""
    become_root()
    os.umask(0o022)
    os.chdir("/")
    os.execve(argv[0], argv, {"PATH": SAFE_PATH})


def run_rkt(argv: list[str], stdin: int | None = None, capture: bool = False) -> tuple[int, bytes]:
    """Run rkt as root with a fixed environment; (exit status, captured stdout).

    fork+exec, not subprocess (its imports cost several ms per rkt-run).
    SIGINT/SIGQUIT are ignored here while rkt runs (the terminal sends them
    to rkt too); SIGTERM/SIGHUP are passed on to it.
    """
    # the C module: `signal` imports enum, functools and collections (~5-15 ms per rkt-run)
    import _signal as signal  # type: ignore[import-not-found]

    env = {"PATH": SAFE_PATH}
    r = w = -1
    if capture:
        r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            if stdin is not None:
                os.dup2(stdin, 0)
            if capture:
                os.dup2(w, 1)
                os.close(r)
            become_root()
            os.umask(0o022)
            os.chdir("/")  # rkt never works in a directory the user chose (the app's cwd is --working-dir)
            os.execve(argv[0], argv, env)
        except BaseException as exc:
            os.write(2, f"rkt-run: cannot run {argv[0]}: {exc}\n".encode())
        os._exit(127)
    old = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGQUIT)}

    def forward(sig: int, _frame: object) -> None:
        try:
            os.kill(pid, sig)
        except OSError:
            pass

    for s in (signal.SIGTERM, signal.SIGHUP):
        old[s] = signal.signal(s, forward)
    out = b""
    if capture:
        os.close(w)
        while True:
            chunk = os.read(r, 65536)
            if not chunk:
                break
            out += chunk
        os.close(r)
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
    for s, h in old.items():
        signal.signal(s, h)
    return os.waitstatus_to_exitcode(status) if status else 0, out


__all__ = ["check_trusted", "open_state_dir", "write_private", "remove_private", "read_as_user", "become_root", "run_rkt"]
