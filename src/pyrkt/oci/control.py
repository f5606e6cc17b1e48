"""The runtime's operations on existing containers: state, kill, delete, list.

Split from `operations` (which re-exports them) so that `create` and `run`,
which run for every container, load ~180 fewer lines (import time, RSS). It
checks statuses with `lifecycle` itself and never imports `operations`, so the
two modules do not import each other in a circle.
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found,unused-ignore] # not signal: bench/README.md "Speed rules"
import os
import time

from pyrkt.oci import lifecycle
from pyrkt.oci.errors import RuntimeFailure
from pyrkt.oci.state import ContainerState, NoSuchContainer, StateDir, StateError, open_container, state_json, status_of


def state(root: str, container_id: str) -> dict[str, object]:
    sd, st, status = open_container(root, container_id, shared=True)
    try:
        return state_json(sd, st, status)
    finally:
        sd.close()


def parse_signal(text: str) -> int:
    """A signal by number or name, with or without SIG."""
    if text.isdigit():
        number = int(text)
        if 0 <= number < 65:  # 0: is it alive (runc takes it)
            return number
        raise RuntimeFailure(f"invalid signal {text!r}")
    name = text.upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    if name.startswith("SIGRTMIN+") or name.startswith("SIGRTMAX-"):
        base = _signal.SIGRTMIN if "MIN" in name else _signal.SIGRTMAX
        offset = int(name[9:]) if name[9:].isdigit() else -1
        if offset < 0:
            raise RuntimeFailure(f"invalid signal {text!r}")
        return int(base + offset if "MIN" in name else base - offset)
    import signal

    try:
        return int(signal.Signals[name])
    except KeyError:
        raise RuntimeFailure(f"unknown signal {text!r}") from None


def _container_pids(state: ContainerState) -> list[int]:
    """Every process of the container: from its cgroup, or the pid namespace of its init."""
    if state.cgroup_paths:
        from pyrkt.oci.cgroup import procs_of

        pids = procs_of(state.cgroup_paths)
        if pids:
            return pids
    try:
        init_ns = os.readlink(f"/proc/{state.pid}/ns/pid")
    except OSError:
        return []
    if init_ns == os.readlink("/proc/self/ns/pid"):
        return [state.pid]
    pids = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.readlink(f"/proc/{name}/ns/pid") == init_ns:
                    pids.append(int(name))
            except OSError:
                continue
    return pids


def kill(root: str, container_id: str, sig: int = _signal.SIGTERM, all_processes: bool = False) -> None:
    sd, state, status = open_container(root, container_id, shared=True)
    try:
        lifecycle.check("kill", status, container_id, forced=all_processes)
        assert state is not None
        if status == lifecycle.STOPPED:
            return
        targets = _container_pids(state) if all_processes else [state.pid]
        for pid in targets:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
            except PermissionError as exc:
                raise RuntimeFailure(f"kill {pid}: {exc.strerror}") from None
    finally:
        sd.close()


def _wait_gone(state: ContainerState, timeout: float = 10.0) -> None:
    from pyrkt.oci.state import init_alive

    deadline = time.monotonic() + timeout
    # a pidfd becomes readable when the process exits: wait for that instead of
    # polling /proc with back-off sleeps (which overshoot by up to the last delay)
    try:
        pidfd = os.pidfd_open(state.pid)
    except OSError:
        pidfd = -1
    if pidfd >= 0:
        try:
            if init_alive(state):  # checked after opening: the pidfd is the init's, not a reused pid's
                import select

                select.select([pidfd], [], [], timeout)
        finally:
            os.close(pidfd)
    delay = 0.0005
    while init_alive(state):
        try:
            if os.waitpid(state.pid, os.WNOHANG)[0] == state.pid:
                return
        except ChildProcessError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeFailure(f"container {state.id}: init {state.pid} did not exit after SIGKILL")
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def delete(root: str, container_id: str, force: bool = False) -> None:
    try:
        sd = StateDir(root, container_id)
        sd.open(lock=True)
    except StateError as exc:
        if force and isinstance(exc, NoSuchContainer):
            return  # runc: nothing to delete is not an error with --force (containerd's pod removal)
        raise RuntimeFailure(str(exc)) from None
    try:
        try:
            state = sd.read()
        except StateError:
            # torn by a crash of the machine (state.json is not fsynced): the
            # processes it described died with it
            state = None
        if state is None:
            # we hold the lock, so no create is running: this is a create that died;
            # the cgroups it recorded before making them go with it
            from pyrkt.oci.intent import remove_recorded_cgroups

            remove_recorded_cgroups(sd.path)
            sd.remove()
            return
        status = status_of(sd, state)
        lifecycle.check("delete", status, container_id, forced=force)
        if status != lifecycle.STOPPED:
            for pid in _container_pids(state) or [state.pid]:
                try:
                    os.kill(pid, _signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if status == lifecycle.PAUSED and state.cgroup_paths:
                from pyrkt.oci.cgroup import thaw

                thaw(state.cgroup_paths)
            _wait_gone(state)
        if state.cgroup_paths:
            from pyrkt.oci.cgroup import destroy

            destroy(state.cgroup_paths)
        sd.remove()
        hooks = state.config.get("hooks")
        if hooks and hooks.get("poststop"):  # type: ignore[attr-defined]
            from pyrkt.oci import hooks as oci_hooks

            doc = oci_hooks.state_doc(state.config, state.id, "stopped", 0, state.bundle)
            oci_hooks.run("poststop", hooks, doc, warn_only=True)  # type: ignore[arg-type]
    finally:
        sd.close()


def list_containers(root: str) -> list[dict[str, object]]:
    try:
        names = sorted(os.listdir(root))
    except FileNotFoundError:
        return []
    out = []
    for name in names:
        try:
            sd = StateDir(root, name)
            sd.open(lock=False)
        except (StateError, RuntimeFailure):
            continue
        try:
            st = sd.read()
            status = status_of(sd, st)
            doc = state_json(sd, st, status)
            doc["owner_uid"] = st.owner_uid if st else 0
            out.append(doc)
        except StateError:
            continue
        finally:
            sd.close()
    return out
