"""OCI hooks: prestart, createRuntime, createContainer, startContainer, poststart, poststop.

Each hook is run with its `args` (args[0] is argv[0], as in execve) and `env`
only, the container's state JSON on stdin, and an optional `timeout` in
seconds. Where they run (runtime spec, config.md "POSIX-platform Hooks"):

| hook            | run by                                   | namespaces | failure                      |
|-----------------|------------------------------------------|------------|------------------------------|
| prestart        | create (parent), before pivot_root       | runtime    | create fails, container gone |
| createRuntime   | create (parent), before pivot_root       | runtime    | create fails, container gone |
| createContainer | the init itself, before pivot_root       | container  | create fails, container gone |
| startContainer  | the init, after start, before execve     | container  | start fails, init exits      |
| poststart       | start, after the process is running      | runtime    | warning only                 |
| poststop        | delete, after the container is removed   | runtime    | warning only                 |

No `subprocess` here: the init runs hooks after the source tree and most of
the stdlib may be out of sight (startContainer runs after pivot_root), so
this module uses only `os` and builtins once imported.
"""

from __future__ import annotations

import os
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

KINDS = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")


class HookError(Exception):
    pass


def validate(hooks: object) -> None:
    """Check the `hooks` object of config.json (called at create)."""
    if not isinstance(hooks, dict):
        raise HookError("config.json: hooks must be an object")
    for kind, entries in hooks.items():
        if kind not in KINDS:
            raise HookError(f"config.json: hooks.{kind} is not a hook type (one of {', '.join(KINDS)})")
        if not isinstance(entries, list):
            raise HookError(f"config.json: hooks.{kind} must be an array")
        for i, h in enumerate(entries):
            where = f"hooks.{kind}[{i}]"
            if not isinstance(h, dict) or not isinstance(h.get("path"), str) or not h["path"].startswith("/"):
                raise HookError(f"config.json: {where}.path must be an absolute path")
            for key in ("args", "env"):
                v = h.get(key)
                if v is not None and (not isinstance(v, list) or not all(isinstance(x, str) for x in v)):
                    raise HookError(f"config.json: {where}.{key} must be an array of strings")
            t = h.get("timeout")
            if t is not None and (isinstance(t, bool) or not isinstance(t, int) or t <= 0):
                raise HookError(f"config.json: {where}.timeout must be a positive integer (seconds)")


def state_doc(cfg_raw: dict[str, object], container_id: str, status: str, pid: int, bundle: str) -> bytes:
    import json

    from pyrkt import OCI_VERSION

    doc = {
        "ociVersion": cfg_raw.get("ociVersion") or OCI_VERSION,
        "id": container_id,
        "status": status,
        "pid": pid,
        "bundle": bundle,
        "annotations": cfg_raw.get("annotations") or {},
    }
    return json.dumps(doc).encode()


def run_one(kind: str, hook: dict[str, object], state: bytes) -> None:
    path = str(hook["path"])
    args = list(hook.get("args") or [path])  # type: ignore[call-overload]
    env = list(hook.get("env") or [])  # type: ignore[call-overload]
    timeout = hook.get("timeout")
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.dup2(in_r, 0)
            os.dup2(out_w, 1)
            os.dup2(out_w, 2)
            envd = {}
            for item in env:
                k, eq, v = item.partition("=")
                if eq:
                    envd[k] = v
            os.execve(path, args, envd)
        except OSError as exc:
            os.write(2, f"exec {path}: {exc.strerror}\n".encode())
        os._exit(127)
    os.close(in_r)
    os.close(out_w)
    try:
        os.write(in_w, state)
    except OSError:
        pass  # a hook that does not read its stdin
    os.close(in_w)
    os.set_blocking(out_r, False)
    output = b""
    deadline = None if timeout is None else time.monotonic() + float(timeout)  # type: ignore[arg-type]
    status = None
    delay = 0.001
    while status is None:
        try:
            chunk = os.read(out_r, 65536)
            if chunk:
                output = (output + chunk)[-4096:]
        except BlockingIOError:
            pass
        done, st = os.waitpid(pid, os.WNOHANG)
        if done:
            status = st
            break
        if deadline is not None and time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            os.close(out_r)
            raise HookError(f"{kind} hook {path}: timed out after {timeout}s")
        time.sleep(delay)
        delay = min(delay * 2, 0.02)
    try:
        output += os.read(out_r, 65536)
    except BlockingIOError:
        pass
    os.close(out_r)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        last = output.decode(errors="replace").strip().splitlines()
        detail = f": {last[-1]}" if last else ""
        how = f"killed by signal {-code}" if code < 0 else f"exited with status {code}"
        raise HookError(f"{kind} hook {path} {how}{detail}")


def run(kind: str, hooks: Mapping[str, object] | None, state: bytes, warn_only: bool = False) -> None:
    """Run every hook of `kind` in order; the first failure raises (or, with warn_only, is printed and skipped)."""
    for hook in (hooks or {}).get(kind) or []:  # type: ignore[attr-defined]
        try:
            run_one(kind, hook, state)
        except HookError as exc:
            if not warn_only:
                raise
            os.write(2, f"pyrkt-runtime: warning: {exc}\n".encode())


# -- the create handshake between the parent and the init ---------------------

def parent_side(cfg_raw: dict[str, object], hooks: Mapping[str, object], container_id: str, bundle: str, pid: int, sock: object) -> dict[str, object]:
    """In create: the init asked for prestart/createRuntime; run them, let it go on, return its next message."""
    from pyrkt.oci import sync
    from pyrkt.oci.errors import RuntimeFailure

    state = state_doc(cfg_raw, container_id, "creating", pid, bundle)
    try:
        run("prestart", hooks, state)
        run("createRuntime", hooks, state)
    except HookError as exc:
        raise RuntimeFailure(str(exc)) from None
    try:
        sync.send(sock, "go")  # type: ignore[arg-type]
        return sync.recv(sock)  # type: ignore[arg-type]
    except (OSError, sync.SyncError):
        raise RuntimeFailure("container init exited before it was ready") from None


def init_side(sock: object, cfg_raw: dict[str, object], hooks: Mapping[str, object], container_id: str, bundle: str) -> bytes:
    """In the init, before pivot_root: have the parent run its hooks, then run createContainer here.

    Returns the state JSON for startContainer. /proc is still the host's
    here, so /proc/self names the init's host pid.
    """
    from pyrkt.oci import sync

    pid = int(os.readlink("/proc/self"))
    state = state_doc(cfg_raw, container_id, "creating", pid, bundle)
    if hooks.get("prestart") or hooks.get("createRuntime"):
        sync.send(sock, "hooks")  # type: ignore[arg-type]
        msg = sync.recv(sock)  # type: ignore[arg-type]
        if msg.get("type") != "go":
            raise sync.SyncError(f"unexpected message {msg.get('type')!r}")
    if hooks.get("createContainer"):
        root = cfg_raw.get("root")
        path = str(root.get("path", "")) if isinstance(root, dict) else ""
        cwd = os.getcwd()
        os.chdir(os.path.join(bundle, path))  # runc runs them in the rootfs (joined to the bundle if relative)
        try:
            run("createContainer", hooks, state)
        finally:
            os.chdir(cwd)
    return state_doc(cfg_raw, container_id, "created", pid, bundle)
