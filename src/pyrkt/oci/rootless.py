"""Rootless mode: what changes when pyrkt-runtime runs without root in the
initial user namespace (an unprivileged user, or rootless podman's user
namespace), following runc's rules.

- state: `$XDG_RUNTIME_DIR/pyrkt-runtime` instead of `/run/pyrkt-runtime`
  when no `--root` is given (runc: `$XDG_RUNTIME_DIR/runc`);
- cgroups: a hierarchy the caller cannot write is skipped when the config
  names no `cgroupsPath` and sets no limit for it; a limit that cannot be
  applied, or an explicit path that cannot be created, is an error
  (`pyrkt.linux.cgroups.rootless`);
- id maps: written directly when the kernel allows it (a single mapping of
  the caller's own ids, with `setgroups` denied first for the gid map, as
  runc does), otherwise through the setuid `newuidmap`/`newgidmap` helpers
  (the ranges of /etc/subuid and /etc/subgid);
- devices are bind-mounted from the host (mknod needs CAP_MKNOD in the
  initial user namespace), sysfs falls back to a bind of /sys.

On the hot path: built-in modules only, and only when the caller is not root.
"""

from __future__ import annotations

import posix

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pyrkt.oci.config import Config, IDMapping

# set by `pyrkt-runtime --rootless true|false` (None: auto, as runc's default)
FORCE: bool | None = None

_in_userns: bool | None = None


def running_in_userns() -> bool:
    """Whether this process is in a user namespace other than the initial one.

    The initial namespace maps the whole id range onto itself
    (`0 0 4294967295`); any other map means a user namespace (runc's
    `userns.RunningInUserNS`).
    """
    global _in_userns
    if _in_userns is None:
        try:
            fd = posix.open("/proc/self/uid_map", posix.O_RDONLY | posix.O_CLOEXEC)
        except OSError:
            _in_userns = False
            return False
        try:
            text = posix.read(fd, 4096).decode()
        finally:
            posix.close(fd)
        _in_userns = text.split() != ["0", "0", "4294967295"]
    return _in_userns


def is_rootless() -> bool:
    """Use the rootless cgroup rules: `--rootless` if given, else not root in the initial user namespace."""
    if FORCE is not None:
        return FORCE
    return posix.geteuid() != 0 or running_in_userns()


def parse_flag(value: str) -> bool | None:
    """`--rootless` takes true, false or auto (runc's values); ValueError otherwise."""
    v = value.strip().lower()
    if v == "auto":
        return None
    from pyrkt.strconv import parse_bool  # the one spelling of a boolean on pyrkt's command lines

    try:
        return parse_bool(v, "--rootless")
    except ValueError:
        raise ValueError(f"invalid --rootless value {value!r}: use true, false or auto") from None


def default_root() -> str:
    """The state root when no --root is given (runc's rule, with our name).

    `$XDG_RUNTIME_DIR/pyrkt-runtime` when that variable is set and the caller
    is not root, or is root of a user namespace whose $USER is not root (or unset)
    (rootless podman's runtime); `/run/pyrkt-runtime` otherwise.
    """
    env = posix.environ
    xdg = env.get(b"XDG_RUNTIME_DIR", b"").decode()
    if xdg.startswith("/"):
        if posix.geteuid() != 0:
            return xdg.rstrip("/") + "/pyrkt-runtime"
        if env.get(b"USER") != b"root" and running_in_userns():  # unset counts as not root (runc)
            return xdg.rstrip("/") + "/pyrkt-runtime"
    return "/run/pyrkt-runtime"


# -- id maps ------------------------------------------------------------


def _single_own(maps: list[IDMapping], own: int) -> bool:
    return len(maps) == 1 and maps[0].host_id == own and maps[0].size == 1


def _write_proc(pid: int, name: str, text: str) -> None:
    fd = posix.open(f"/proc/{pid}/{name}", posix.O_WRONLY | posix.O_CLOEXEC)
    try:
        posix.write(fd, text.encode())
    finally:
        posix.close(fd)


def write_id_maps(pid: int, cfg: Config) -> None:
    """Write the new user namespace's uid and gid maps; RuntimeFailure (one line) if impossible.

    As runc: a direct write first; on EPERM (an unprivileged caller mapping
    more than its own id) the setuid `newuidmap`/`newgidmap`. For the gid map
    of `spec --rootless` (the caller's own gid alone), `setgroups` is set to
    `deny` first: the kernel requires it of a caller without CAP_SETGID, and
    the container then cannot call setgroups(2) (additionalGids are refused).
    """
    from pyrkt.oci.errors import RuntimeFailure

    for name, maps, own, tool in (
        ("uid_map", cfg.uid_mappings, posix.geteuid(), "newuidmap"),
        ("gid_map", cfg.gid_mappings, posix.getegid(), "newgidmap"),
    ):
        if not maps:
            continue
        text = "".join(m.line() for m in maps)
        if name == "gid_map" and posix.geteuid() != 0 and _single_own(maps, own):
            try:
                _write_proc(pid, "setgroups", "deny")
            except OSError:
                pass  # an older kernel without the file; the write below says what is wrong
        try:
            _write_proc(pid, name, text)
            continue
        except OSError as exc:
            if exc.errno != 1:
                raise RuntimeFailure(f"writing {name} ({text.strip()!r}): {exc.strerror}") from None
        _map_with_tool(tool, pid, maps, name, text)


def _map_with_tool(tool: str, pid: int, maps: list[IDMapping], name: str, text: str) -> None:
    import shutil
    import subprocess

    from pyrkt.oci.errors import RuntimeFailure

    path = shutil.which(tool, path="/usr/bin:/bin:/usr/sbin:/sbin")
    if path is None:
        raise RuntimeFailure(
            f"writing {name} ({text.strip()!r}): Operation not permitted, and {tool} is not installed "
            "(an unprivileged user can map only its own id without it: install uidmap)"
        )
    argv = [path, str(pid)]
    for m in maps:
        argv += [str(m.container_id), str(m.host_id), str(m.size)]
    res = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if res.returncode != 0:
        why = (res.stderr.strip().splitlines() or [f"exit status {res.returncode}"])[-1]
        raise RuntimeFailure(f"{tool} {' '.join(argv[1:])}: {why} (check the ranges in /etc/sub{name[0]}id)")
