"""`rkt enter`: run one more command in a running pod's app, on the lean path.

Why a module of its own: `pyrkt.pod.pods` imports the pod grammar, prepare
and the appc/reference code for `rkt run` (~4 ms before any work), none of
which an enter needs; and rkt-run's worker pods enter once per user command,
where the whole command is timed against a fresh pod (issue 14: at most half
of it). What an enter needs is the pod's directory and lock (pyrkt.pod.store),
its runtime.json (the app names) and the OCI `exec` of the app's container.
A full UUID is looked up in pods/run/ directly; a prefix scans every state
directory as `PodStore.find` does.
"""

from __future__ import annotations

import os
import stat

from pyrkt.pod.store import Pod, PodError, PodStore

TYPE_CHECKING = False  # typing costs ~4 ms at import
if TYPE_CHECKING:
    from typing import Any


def _find(data_dir: str, prefix: str) -> Pod:
    store = PodStore(data_dir)
    uuid = prefix.strip().lower()
    if len(uuid) == 36:
        try:
            if stat.S_ISDIR(os.lstat(store.path("run", uuid)).st_mode):  # never through a stray link
                return Pod(store, uuid, "run")
        except OSError:
            pass
    return store.find(prefix)


def pick_app(pod: Pod, app: str | None, runtime: dict[str, Any] | None = None) -> dict[str, Any]:
    """The app of runtime.json (read here unless given) that `--app` names, or the pod's only one."""
    if runtime is None:
        runtime = pod.read_json("runtime.json", required=("apps",))
    apps = runtime.get("apps", [])
    if app:
        for a in apps:
            if a["name"] == app:
                return a  # type: ignore[no-any-return]
        raise PodError(f"pod {pod.uuid} has no app named {app!r}")
    if len(apps) != 1:
        raise PodError(f"pod {pod.uuid} has {len(apps)} apps: choose one with --app ({', '.join(a['name'] for a in apps)})")
    return apps[0]  # type: ignore[no-any-return]


def enter(data_dir: str, prefix: str, app: str | None, cmd: list[str], user: str | None = None,
          group: str | None = None, env: list[str] | None = None, cwd: str | None = None) -> int:
    """Run `cmd` (default /bin/bash, else /bin/sh) in the app's container; its exit status."""
    import sys

    from pyrkt.linux.cgroups import warm as cgroup_warm

    # the exec places its process in the app's cgroups; on a cgroup v1 host the first such
    # write waits for an RCU grace period (5-15 ms here): started now, it passes during the imports
    cgroup_warm.start()
    from pyrkt.oci.errors import RuntimeFailure
    from pyrkt.oci.exec import ExecOptions, execute
    from pyrkt.pod.stage1 import oci_root

    pod = _find(data_dir, prefix)
    state = pod.state
    if state != "running":
        raise PodError(f"pod {pod.uuid} is not running (state: {state}): cannot enter it")
    a = pick_app(pod, app)
    if not cmd:
        rootfs = pod.file("apps", a["name"], "rootfs")
        cmd = ["/bin/bash"] if os.path.lexists(os.path.join(rootfs, "bin/bash")) else ["/bin/sh"]
    if group is not None and user is None:
        raise PodError("enter: --group needs --user")
    tty = sys.stdin.isatty() and sys.stdout.isatty()
    ids = f"{user}:{group}" if user is not None and group is not None else user
    try:
        return execute(oci_root(pod.path), a["name"], ExecOptions(args=cmd, tty=tty, user=ids, env=env, cwd=cwd))
    except RuntimeFailure as exc:
        raise PodError(f"entering app {a['name']}: {exc}") from None


__all__ = ["enter", "pick_app"]
