"""The pod lifecycle: prepare, run, run-prepared, stop, rm, gc, enter, export, status.

Every operation moves a pod between state directories with rename(2) under
its flock (see pyrkt.pod.store). Failures leave the pod where `gc` finds it:
a failed prepare stays in prepare/ unlocked (aborted prepare -> garbage).
"""

from __future__ import annotations

import os
import time

from pyrkt import fastjson
from pyrkt.pod.grammar import GrammarError, PodSpec
from pyrkt.pod.prepare import PrepareError, plan, write_pod_files
from pyrkt.pod.store import Pod, PodError, PodStore
from pyrkt.records import dataclass

# typing and shutil: annotations only / where used (bench/README.md "Speed rules")
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable

    from pyrkt.image.fetch import FetchOptions
    from pyrkt.image.render import RunnableImage
    from pyrkt.pod.plan import PodPlan, RunOverrides

    Log = Callable[[str], None]
    FetchOpts = FetchOptions | Callable[[], FetchOptions]  # a callable: made only when an image is fetched


def _loads(text: str) -> Any:
    """json.loads through pyrkt.fastjson: `import json` (with re) costs ~6 ms of every rkt run."""
    return fastjson.loads(text)


def _check_networks(values: list[str] | None, local_config: str, system_config: str) -> None:
    """Refuse a bad or unknown --net before a pod is made (the networks are joined when it runs)."""
    from pyrkt.net.spec import NetSpecError, mode

    try:
        if mode(values) != "cni":
            return
    except NetSpecError as exc:
        raise PrepareError(str(exc)) from None
    from pyrkt.net.setup import NetError, plan as net_plan

    try:
        net_plan(values, [], local_config, system_config)
    except NetError as exc:
        raise PrepareError(str(exc)) from None


def _resolve_images(data_dir: str, spec: PodSpec, fetch_opts: FetchOpts) -> list[RunnableImage]:
    """Each app's image, looked up in the store once (fetched first if the pull policy says so)."""
    from pyrkt.image.errors import ImageError
    from pyrkt.image.render import runnable
    from pyrkt.image.store import ImageRecord, Store

    store = Store(data_dir)
    out = []
    try:
        for app in spec.apps:
            rec: ImageRecord | None = None
            if spec.pull_policy != "update":
                try:
                    rec = store.resolve(app.image)
                except (ImageError, ValueError):
                    rec = None
            if rec is None:
                if spec.pull_policy == "never":
                    raise PrepareError(f"image {app.image!r} is not in the store (--pull-policy=never)")
                import gc

                from pyrkt.image.fetch import Fetcher  # only when fetching: it costs ~80 ms of imports

                gc.enable()  # rkt run starts without cyclic GC (pyrkt.cli.rkt); a download is unbounded work

                options = fetch_opts() if callable(fetch_opts) else fetch_opts
                options.signature = app.signature
                rec = store.get(Fetcher(store, options).fetch(app.image))
            out.append(runnable(store, rec))
    except ImageError as exc:
        raise PrepareError(str(exc)) from None
    finally:
        store.close()
    return out


def _read_env_files(spec: PodSpec) -> dict[str, str]:
    out = {}
    for path in spec.set_env_files:
        try:
            with open(path) as f:
                out[path] = f.read()
        except OSError as exc:
            raise PrepareError(f"--set-env-file {path}: {exc.strerror}") from None
    return out


def prepare(data_dir: str, spec: PodSpec, fetch_opts: FetchOpts) -> Pod:
    """Create a pod in embryo, prepare it, leave it prepared (locked by nobody). Returns it."""
    return _prepare(data_dir, spec, fetch_opts, for_run=False)[0]


def _prepare(data_dir: str, spec: PodSpec, fetch_opts: FetchOpts, for_run: bool) -> tuple[Pod, PodPlan]:
    """Prepare a pod; `for_run` (rkt run): straight from prepare/ to run/, locked, nothing fsynced.

    Why no fsync for `rkt run`: see `Pod.durable`. Why not through prepared/:
    nobody may run-prepared a pod that `rkt run` is about to run, and it saves a
    rename.
    """
    _check_networks(spec.net, spec.local_config, spec.system_config)
    env_files = _read_env_files(spec)
    from pyrkt.image.uselock import ImageUse

    use = ImageUse(data_dir, shared=True)  # until the manifest names the images: image rm/gc wait (uselock)
    images = _resolve_images(data_dir, spec, fetch_opts) if not spec.pod_manifest else []
    store = PodStore(data_dir)
    pod = store.new_embryo()
    pod.durable = not for_run
    try:
        pod.move("prepare")
        if spec.pod_manifest:
            manifest, pod_plan = _from_pod_manifest(data_dir, spec, pod.uuid)
        else:
            manifest, pod_plan = plan(spec, images, pod.uuid, dict(os.environ), env_files)
        pod_plan = write_pod_files(pod, manifest, pod_plan, spec.private_users)
        use.release()
        if pod_plan.no_overlay:
            _copy_rootfses(data_dir, pod, pod_plan)
        if spec.uuid_file_save:
            with open(spec.uuid_file_save, "w") as f:
                f.write(pod.uuid)
        pod.move("run" if for_run else "prepared")
    except BaseException:
        # an aborted prepare: gc moves it to garbage and removes it
        use.release()
        pod.unlock()
        raise
    return pod, pod_plan


def _from_pod_manifest(data_dir: str, spec: PodSpec, uuid: str) -> tuple[dict[str, Any], PodPlan]:
    """--pod-manifest: the apps of a given appc pod manifest (only --net, --no-overlay, --interactive apply)."""
    from pyrkt.pod.grammar import AppSpec, Mount, Volume

    try:
        with open(str(spec.pod_manifest)) as f:
            pm = _loads(f.read())
    except (OSError, ValueError) as exc:
        raise PrepareError(f"--pod-manifest {spec.pod_manifest}: {exc}") from None
    if not isinstance(pm, dict) or pm.get("acKind") != "PodManifest":
        raise PrepareError(f"--pod-manifest {spec.pod_manifest}: not an appc PodManifest")
    sub = PodSpec(net=spec.net, no_overlay=spec.no_overlay, interactive=spec.interactive, pull_policy="new",
                  local_config=spec.local_config, system_config=spec.system_config)
    for v in pm.get("volumes") or []:
        sub.volumes.append(Volume.from_json(v))
    for a in pm.get("apps") or []:
        img = a.get("image") or {}
        ref = img.get("id") or img.get("name")
        if not ref:
            raise PrepareError(f"--pod-manifest {spec.pod_manifest}: an app has no image name or id")
        app = AppSpec(image=str(ref), name=a.get("name"))
        inner = a.get("app") or {}
        if inner.get("exec"):
            app.exec = inner["exec"][0]
            app.args = list(inner["exec"][1:])
        for m in a.get("mounts") or []:
            app.mounts.append(Mount(m["volume"], m["path"]))
        app.environment = [(e["name"], e["value"]) for e in inner.get("environment") or []]
        app.readonly_rootfs = bool(a.get("readOnlyRootFS"))
        sub.apps.append(app)
    def options():  # type: ignore[no-untyped-def]
        from pyrkt.image.fetch import FetchOptions

        return FetchOptions()

    images = _resolve_images(data_dir, sub, options)
    return plan(sub, images, uuid, dict(os.environ), {})


def _copy_rootfses(data_dir: str, pod: Pod, pod_plan: PodPlan) -> None:
    from pyrkt.image.render import render_flat
    from pyrkt.image.store import Store

    store = Store(data_dir)
    try:
        for app in pod_plan.apps:
            render_flat(store, store.get(app.image_id), pod.file("apps", app.name, "rootfs"))
    finally:
        store.close()


def run_prepared(data_dir: str, uuid: str, show_logs: bool = True, overrides: RunOverrides | None = None) -> int:
    """`overrides`: what run-prepared's own flags change (net, hostname, resolv, interactive, ...)."""
    store = PodStore(data_dir)
    pod = store.find(uuid)
    if pod.directory != "prepared":
        raise PodError(f"pod {pod.uuid} is not prepared (state: {pod.state})")
    if not pod.lock():
        raise PodError(f"pod {pod.uuid} is already being run")
    try:  # before the move: a damaged pod, or one refused with these flags, stays prepared
        pod_plan = read_plan(pod)
        if overrides is not None:
            pod_plan = overrides.apply(pod_plan)
        net_mode = _net_mode(pod_plan)
    except PodError:
        pod.unlock()
        raise
    pod.move("run")
    return _run_locked(pod, pod_plan, net_mode, show_logs)


# what stage1 needs of runtime.json, with no default: a file lacking one is damaged
RUNTIME_KEYS = ("apps", "net", "interactive", "hostname", "ipc", "no_overlay")


def read_plan(pod: Pod) -> PodPlan:
    """The plan `rkt prepare` wrote (runtime.json): the only place it is read back; PodError if damaged."""
    from pyrkt.pod.plan import PlanError, PodPlan

    try:
        return PodPlan.from_json(pod.read_json("runtime.json", required=RUNTIME_KEYS))
    except PlanError as exc:
        raise PodError(f"pod {pod.uuid}: damaged file {pod.file('runtime.json')}: {exc}") from None


def _net_mode(pod_plan: PodPlan) -> str:
    """The plan's network mode (host, none or cni: what stage1 does); PodError for what cannot run."""
    if pod_plan.interactive and len(pod_plan.apps) > 1:
        raise PodError("--interactive can only be used with a single app")
    from pyrkt.net.spec import NetSpecError, mode

    try:
        net_mode = mode(None if pod_plan.net is None else list(pod_plan.net))
    except NetSpecError as exc:
        raise PodError(str(exc)) from None
    if pod_plan.ports and net_mode != "cni":
        raise PodError(f"--port needs a CNI network: the pod's network is --net={net_mode}")
    if pod_plan.mds_register and net_mode == "host":
        raise PodError("--mds-register cannot be used with --net=host: the metadata service needs a contained network")
    return net_mode


def _run_locked(pod: Pod, pod_plan: PodPlan, net_mode: str | None, show_logs: bool) -> int:
    """Run a pod in run/ whose lock we hold (released at the end, or on a refusal)."""
    from pyrkt.pod.stage1 import run_pod

    try:
        return run_pod(pod, pod_plan, net_mode or _net_mode(pod_plan), show_logs)
    finally:
        pod.unlock()


def run(data_dir: str, spec: PodSpec, fetch_opts: FetchOpts, show_logs: bool = True) -> int:
    """rkt run: prepare, then run in the foreground; returns the pod's exit status.

    The plan goes to stage1 in memory: runtime.json is written for later
    readers (enter, export, status tools), never read back here.
    """
    pod, pod_plan = _prepare(data_dir, spec, fetch_opts, for_run=True)  # in run/, still locked by us
    return _run_locked(pod, pod_plan, None, show_logs)


# -- status / list -----------------------------------------------------------

@dataclass
class PodInfo:
    uuid: str
    state: str
    created: float | None
    started: float | None
    pid: int | None
    apps: list[dict[str, str]]  # name, image_name, image_id
    exit_codes: dict[str, int]
    networks: str = ""
    network_list: list[dict[str, str]] | None = None


def info(pod: Pod) -> PodInfo:
    state = pod.state
    apps = []
    try:
        for a in pod.read_json("pod").get("apps", []):
            img = a.get("image") or {}
            version = next((lb.get("value") for lb in img.get("labels") or [] if lb.get("name") == "version"), None)
            apps.append({"name": str(a.get("name", "")), "image_name": str(img.get("name", "")) + (f":{version}" if version else ""),
                         "image_id": str(img.get("id", ""))})
    except (PodError, ValueError, AttributeError, TypeError):
        pass  # a damaged manifest: the pod is listed without apps (cat-manifest and status say what is wrong)
    pid = pod.pid()
    nets: list[dict[str, str]] = []
    text = pod.read("networks.json")
    if text:
        try:
            from pyrkt.net.setup import summary

            nets = summary(_loads(text))
        except (ValueError, KeyError, TypeError):
            nets = []
    return PodInfo(pod.uuid, state, pod.created(), pod.started(), pid, apps,
                   pod.exit_codes() if state in ("exited", "exited garbage") else {},
                   ", ".join(f"{n['netName']}:ip4={n['ip']}" for n in nets), nets)  # rkt's fmtNets (rkt/list.go)


def wait(pod: Pod, timeout: float | None, ready: bool = False) -> None:
    deadline = None if timeout is None or timeout <= 0 else time.monotonic() + timeout
    while True:
        state = pod.state
        if ready and state == "running" and pod.started() is not None:
            return
        if not ready and state in ("exited", "exited garbage", "garbage", "aborted prepare"):
            return
        if deadline is not None and time.monotonic() > deadline:
            raise PodError(f"pod {pod.uuid} did not become {'ready' if ready else 'exited'} in time")
        time.sleep(0.05)


# -- stop / rm / gc ---------------------------------------------------------

def stop(pod: Pod, force: bool = False) -> None:
    state = pod.state
    if state != "running":
        raise PodError(f"pod {pod.uuid} is not running (state: {state})")
    pid = pod.pid()
    if pid is None:
        raise PodError(f"pod {pod.uuid} has no pod init yet")
    try:
        import signal

        os.kill(pid, signal.SIGKILL if force else signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + 30
    while pod.state == "running" and time.monotonic() < deadline:
        time.sleep(0.02)


def _destroy(pod: Pod, log: Log) -> bool:
    """Remove a pod's files: apps' containers and mounts first, lazily. False if something stayed."""
    from pyrkt.pod.stage1 import cleanup_apps

    if not _teardown_networks(pod, log):
        return False
    apps_dir = pod.file("apps")
    names = sorted(os.listdir(apps_dir)) if os.path.isdir(apps_dir) else []
    cleanup_apps(pod.path, names, unmount=True)
    for _ in range(3):
        busy = [n for n in names if os.path.ismount(pod.file("apps", n, "rootfs"))]
        if busy:
            time.sleep(0.1)
            cleanup_apps(pod.path, busy, unmount=True)
            continue
        try:
            import shutil

            shutil.rmtree(pod.path)
            return True
        except OSError as exc:
            err = exc
            time.sleep(0.1)
    else:
        log(f"Unable to remove pod {pod.uuid}: still busy; it will be retried at the next gc")
        return False
    log(f"Unable to remove pod {pod.uuid}: {err}")  # pragma: no cover
    return False


def _teardown_networks(pod: Pod, log: Log) -> bool:
    """CNI DEL of whatever networks the pod may still have (idempotent); False if a plugin failed."""
    if not (os.path.exists(pod.file("networks.json")) or os.path.lexists(pod.file("netns"))):
        return True
    from pyrkt.net.setup import teardown

    errors = teardown(pod.path)
    for err in errors:
        log(f"Tearing down the networks of pod {pod.uuid}: {err}")
    return not errors


def rm(pod: Pod, log: Log) -> None:
    state = pod.state
    if state in ("running", "embryo", "preparing", "deleting"):
        raise PodError(f"pod {pod.uuid} is {state}: cannot remove it")
    if not pod.lock():
        raise PodError(f"pod {pod.uuid} is locked")
    try:
        if pod.directory == "run":
            pod.move("exited-garbage")
        elif pod.directory in ("prepare", "prepared"):
            pod.move("garbage")
        if not _destroy(pod, log):
            raise PodError(f"pod {pod.uuid} could not be removed completely; gc will retry")
    finally:
        pod.unlock()


def gc(data_dir: str, grace_period: float, expire_prepared: float, mark_only: bool, log: Log) -> int:
    """rkt gc: mark exited/aborted/expired pods as garbage, then remove garbage older than the grace period."""
    store = PodStore(data_dir)
    store.ensure()
    store.sweep_hidden_embryos()
    now = time.time()
    failures = 0

    def lock_in_place(pod: Pod) -> bool:
        """Lock the pod where it was listed; False if busy, or moved or removed meanwhile (another
        gc or rm took it first: that one does the work)."""
        try:
            if not pod.lock():
                return False
        except (FileNotFoundError, NotADirectoryError):
            return False
        try:
            same = os.path.samestat(os.fstat(pod.fd), os.stat(pod.path))
        except OSError:
            same = False
        if not same:
            pod.unlock()
        return same

    for pod in store.all():
        if not lock_in_place(pod):
            continue  # running, preparing, or being removed by someone else
        try:
            if pod.directory == "run":
                log(f"Moving pod {pod.uuid!r} to garbage")
                pod.move("exited-garbage")
                pod.write("gcmarked", repr(now))
                _teardown_networks(pod, log)  # the pod is dead (its lock was free): its networks go now
            elif pod.directory == "prepare":
                log(f"Moving failed prepare {pod.uuid!r} to garbage")
                pod.move("garbage")
                pod.write("gcmarked", repr(now))
            elif pod.directory == "prepared" and now - pod.mtime() > expire_prepared:
                log(f"Moving expired prepared pod {pod.uuid!r} to garbage")
                pod.move("garbage")
                pod.write("gcmarked", repr(now))
            elif pod.directory == "embryo":  # unlocked: its creator died (see PodStore.new_embryo)
                pod.move("garbage")
                pod.write("gcmarked", repr(now))
        finally:
            pod.unlock()
    if mark_only:
        return 0
    for pod in store.all():
        if pod.directory not in ("exited-garbage", "garbage"):
            continue
        marked_at = pod.read_time("gcmarked") or pod.gc_marked_time()  # a garbled mark: the rename's time
        if now - marked_at < grace_period:
            continue
        if not lock_in_place(pod):
            continue
        try:
            log(f"Garbage collecting pod {pod.uuid!r}")
            if not _destroy(pod, log):
                failures += 1
        finally:
            pod.unlock()
    return failures


def images_of_live_pods(data_dir: str) -> set[str]:
    """Image IDs the pods being prepared, prepared or running name: `rkt image rm`/`image gc`
    keep these until the pod is gone (or --force), as rkt does. A pod too young to have its
    manifest (being prepared) is covered by the image-use lock it holds shared until the
    manifest is written (pyrkt.image.uselock)."""
    ids: set[str] = set()
    for pod in PodStore(data_dir).all():
        if pod.directory in ("exited-garbage", "garbage") or (pod.directory == "run" and not pod.is_locked()):
            continue  # garbage, or exited: it runs no more
        try:
            for a in pod.read_json("pod").get("apps", []):
                image_id = (a.get("image") or {}).get("id")
                if isinstance(image_id, str):
                    ids.add(image_id)
        except (PodError, AttributeError, TypeError):
            continue
    return ids


# -- enter / export -----------------------------------------------------------

def enter(data_dir: str, prefix: str, app: str | None, cmd: list[str], user: str | None = None,
          group: str | None = None, env: list[str] | None = None, cwd: str | None = None) -> int:
    from pyrkt.pod import enter as lean  # the lean path of `rkt enter` (no grammar, no prepare)

    return lean.enter(data_dir, prefix, app, cmd, user=user, group=group, env=env, cwd=cwd)


def export(data_dir: str, prefix: str, app: str | None, dest: str, overwrite: bool) -> None:
    import tarfile

    from pyrkt.pod.stage1 import mount_overlay, unmount_rootfs

    pod = PodStore(data_dir).find(prefix)
    state = pod.state
    if state not in ("exited", "exited garbage"):
        raise PodError(f"pod {pod.uuid} is {state}: only an exited pod's app can be exported")
    from pyrkt.pod.enter import pick_app

    runtime = pod.read_json("runtime.json", required=("apps",))
    a = pick_app(pod, app, runtime)
    if os.path.exists(dest) and not overwrite:
        raise PodError(f"{dest} already exists (use --overwrite)")
    manifest = pod.read_json("pod", required=("apps",))
    man_app = next(x for x in manifest["apps"] if x["name"] == a["name"])
    image_manifest = {"acKind": "ImageManifest", "acVersion": "0.8.11", "name": man_app["image"]["name"],
                      "labels": man_app["image"].get("labels", []), "app": man_app["app"]}
    mounted = False
    if not runtime.get("no_overlay"):
        mount_overlay(pod.path, a["name"], a["lowerdirs"])
        mounted = True
    tmp = f"{dest}.{os.getpid()}.tmp"
    try:
        import io

        with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
            data = fastjson.dumps(image_manifest).encode()
            ti = tarfile.TarInfo("manifest")
            ti.size = len(data)
            ti.mtime = int(time.time())
            tar.addfile(ti, io.BytesIO(data))
            tar.add(pod.file("apps", a["name"], "rootfs"), arcname="rootfs")
        os.rename(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if mounted:
            unmount_rootfs(pod.path, a["name"])


__all__ = ["GrammarError", "PrepareError", "PodError", "prepare", "run", "run_prepared", "stop", "rm", "gc", "enter", "export", "info"]
