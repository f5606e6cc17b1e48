"""The container init's liveness from /proc, shared by `state` and `quick`.

Its own module, on built-in modules only: `quick` must not import `state`
(which imports `os`), and `create` should not load `quick`.
"""


def proc_start_time(pid: int) -> "tuple[str, int] | None":
    """(state letter, start time in clock ticks) of a process, or None if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    # the command name may contain spaces and parentheses: split after the last ')'
    rest = data[data.rindex(b")") + 2:].split()
    return rest[0].decode(), int(rest[19])


def init_alive(pid: int, starttime: int) -> bool:
    """Whether the container's init still runs: not gone, not a zombie, not a reused pid."""
    info = proc_start_time(pid) if pid > 0 else None
    if info is None:
        return False
    letter, start = info
    if letter in ("Z", "X", "x"):
        return False
    return starttime == 0 or start == starttime
