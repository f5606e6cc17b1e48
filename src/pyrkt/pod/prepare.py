"""Preparing a pod: images -> pod manifest + what stage1 needs to run each app.

`plan()` is pure given the resolved images (tests call it without root): it
merges the environment in rkt's precedence, fills image mountPoints from
volumes (or implicit empty volumes), applies per-app overrides, and returns
the appc pod manifest and the pod's plan (`pyrkt.pod.plan.PodPlan`, the value
stage1 runs). `write_pod_files` does the I/O: both files, the volumes.
"""

from __future__ import annotations

import os
import posixpath
import time

from pyrkt.image.appc import App
from pyrkt import fastjson  # json.dumps' output through _json alone: `import json` pulls in re (~6 ms)
from pyrkt.pod.grammar import AppSpec, GrammarError, Mount, PodSpec, Volume, check_ac_name, parse_env_file
from pyrkt.pod.plan import AppPlan, MountPlan, PodPlan, PortPlan, Resources

TYPE_CHECKING = False  # typing costs ~4 ms at import, on every `rkt run`; annotations are strings
if TYPE_CHECKING:
    from typing import Any

    from pyrkt.image.render import RunnableImage
    from pyrkt.pod.seccomp_groups import SeccompPlan
    from pyrkt.pod.store import Pod

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# appc's default capability set for apps (what rkt grants without --caps-retain)
DEFAULT_CAPS = (
    "CAP_AUDIT_WRITE", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_KILL", "CAP_MKNOD",
    "CAP_NET_RAW", "CAP_NET_BIND_SERVICE", "CAP_SETUID", "CAP_SETGID", "CAP_SETPCAP", "CAP_SETFCAP", "CAP_SYS_CHROOT",
)


class PrepareError(Exception):
    """One-line error preparing a pod."""


def default_app_name(image_name: str) -> str:
    base = posixpath.basename(image_name.rstrip("/")) or image_name
    return check_ac_name(base.lower(), "app name")


def merge_env(parent: dict[str, str] | None, image: tuple[tuple[str, str], ...], env_file: list[tuple[str, str]],
              set_env: list[tuple[str, str]], app_env: list[tuple[str, str]]) -> dict[str, str]:
    """rkt's precedence, last wins: parent (--inherit-env), image, --set-env-file, --set-env, --environment."""
    env: dict[str, str] = dict(parent or {})
    for layer in (image, env_file, set_env, app_env):
        for k, v in layer:
            env[k] = v
    return env


def _lookup(files: list[str], name: str, field_count: int) -> list[str] | None:
    for path in files:
        try:
            with open(path) as f:
                for line in f:
                    parts = line.rstrip("\n").split(":")
                    if len(parts) >= field_count and parts[0] == name:
                        return parts
        except OSError:
            continue
    return None


def _find_in_rootfs(lowerdirs: tuple[str, ...], rel: str) -> list[str]:
    """Paths of `rel` in the image's layers, top layer first (the one overlayfs would show)."""
    out = []
    for d in reversed(lowerdirs):
        p = os.path.join(d, rel.lstrip("/"))
        if os.path.lexists(p):
            out.append(p)
            break
    return out


def resolve_user(lowerdirs: tuple[str, ...], user: str, group: str) -> tuple[int, int]:
    """User and group by number, name (the image's /etc/passwd, /etc/group) or file path (its owner)."""
    def one(value: str, db: str, idx: int, what: str) -> int:
        if value.isdigit():
            return int(value)
        if value.startswith("/"):
            found = _find_in_rootfs(lowerdirs, value)
            if not found:
                raise PrepareError(f"{what} {value!r}: no such file in the image")
            st = os.lstat(found[0])
            return st.st_uid if what == "user" else st.st_gid
        entry = _lookup(_find_in_rootfs(lowerdirs, db), value, idx + 1)
        if entry is None:
            raise PrepareError(f"{what} {value!r} not found in the image's {db}")
        try:
            return int(entry[idx])
        except ValueError:
            raise PrepareError(f"{what} {value!r}: bad entry in the image's {db}") from None
    return one(user, "/etc/passwd", 2, "user"), one(group, "/etc/group", 2, "group")


def _resources(app: App, spec: AppSpec) -> tuple[list[dict[str, Any]], Resources]:
    """The app's isolators (image's, overridden by flags) and the OCI linux.resources they give."""
    isolators = {str(i.get("name")): i for i in app.isolators if isinstance(i, dict)}
    if spec.cpu is not None:
        isolators["resource/cpu"] = {"name": "resource/cpu", "value": {"request": f"{spec.cpu}m", "limit": f"{spec.cpu}m"}}
    if spec.memory is not None:
        isolators["resource/memory"] = {"name": "resource/memory", "value": {"request": str(spec.memory), "limit": str(spec.memory)}}
    if spec.cpu_shares is not None:
        isolators["resource/cpu-shares"] = {"name": "resource/cpu-shares", "value": spec.cpu_shares}
    if spec.oom_score_adj is not None:
        isolators["resource/oom-score-adj"] = {"name": "resource/oom-score-adj", "value": spec.oom_score_adj}
    if spec.caps_retain is not None:
        isolators.pop("os/linux/capabilities-remove-set", None)
        isolators["os/linux/capabilities-retain-set"] = {"name": "os/linux/capabilities-retain-set", "value": {"set": list(spec.caps_retain)}}
    if spec.caps_remove is not None:
        isolators.pop("os/linux/capabilities-retain-set", None)
        isolators["os/linux/capabilities-remove-set"] = {"name": "os/linux/capabilities-remove-set", "value": {"set": list(spec.caps_remove)}}
    if spec.seccomp is not None:
        isolators.pop("os/linux/seccomp-retain-set", None)
        isolators.pop("os/linux/seccomp-remove-set", None)
        value: dict[str, Any] = {"set": list(spec.seccomp.syscalls)}
        if spec.seccomp.errno:
            value["errno"] = spec.seccomp.errno
        isolators[f"os/linux/seccomp-{spec.seccomp.mode}-set"] = {"name": f"os/linux/seccomp-{spec.seccomp.mode}-set", "value": value}
    from pyrkt.pod.grammar import parse_cpu, parse_quantity

    quota = period = shares = memory = None
    for name, iso in isolators.items():
        val = iso.get("value")
        try:
            if name == "resource/cpu" and isinstance(val, dict) and val.get("limit"):
                quota, period = parse_cpu(str(val["limit"])) * 100, 100000
            elif name == "resource/memory" and isinstance(val, dict) and val.get("limit"):
                memory = parse_quantity(str(val["limit"]), "memory isolator")
            elif name == "resource/cpu-shares":
                shares = int(val)  # type: ignore[arg-type]
        except (GrammarError, ValueError, TypeError) as exc:
            raise PrepareError(f"isolator {name}: {exc}") from None
    return list(isolators.values()), Resources(quota, period, shares, memory)


def _caps(isolators: list[dict[str, Any]]) -> list[str]:
    caps = list(DEFAULT_CAPS)
    for iso in isolators:
        val = iso.get("value") or {}
        if iso.get("name") == "os/linux/capabilities-retain-set":
            caps = list(val.get("set", []))
        elif iso.get("name") == "os/linux/capabilities-remove-set":
            caps = [c for c in caps if c not in set(val.get("set", []))]
    return caps


def _seccomp(isolators: list[dict[str, Any]], insecure: bool) -> SeccompPlan:
    """The seccomp filter of an app: its seccomp isolator's, rkt's default, or none (--insecure-options=seccomp)."""
    from pyrkt.pod.seccomp_groups import SeccompSetError, plan_for

    try:
        return plan_for(isolators, insecure)  # checks the errno name too: to_oci() cannot fail later
    except SeccompSetError as exc:
        raise PrepareError(str(exc)) from None


def _implied_nnp(seccomp: SeccompPlan) -> bool:
    """no_new_privs for an app with a seccomp filter, so the runtime loads the filter last, right before execve.

    systemd (rkt's stage1) applies SystemCallFilter= after setting the app's
    user, groups and capabilities, and implies NoNewPrivileges= for every app
    without CAP_SYS_ADMIN (all apps but those retaining it). Without no_new_privs
    pyrkt's runtime must load the filter before it changes user (loading needs
    CAP_SYS_ADMIN then), and a set that blocks setgroups/capset (@systemd/privileged)
    would stop the runtime itself. Root apps that keep CAP_SYS_ADMIN lose nothing
    by it: no_new_privs only stops gaining privileges through setuid bits and file caps.
    """
    return seccomp.mode != "none"


def plan(spec: PodSpec, images: list[RunnableImage], uuid: str, parent_env: dict[str, str] | None = None,
         env_files: dict[str, str] | None = None, check_paths: bool = True) -> tuple[dict[str, Any], PodPlan]:
    """(appc pod manifest, plan) for the pod; raises PrepareError/GrammarError."""
    file_env: list[tuple[str, str]] = []
    for path in spec.set_env_files:
        text = (env_files or {}).get(path)
        if text is None:
            raise PrepareError(f"--set-env-file {path}: not readable")
        file_env.extend(parse_env_file(text, path))
    volumes: dict[str, Volume] = {v.name: v for v in spec.volumes}
    for v in volumes.values():
        if v.kind == "host" and check_paths and not os.path.exists(v.source):
            raise PrepareError(f"--volume {v.name}: host source {v.source} does not exist")
    used_names: set[str] = set()
    man_apps: list[dict[str, Any]] = []
    run_apps: list[AppPlan] = []
    implicit: list[Volume] = []
    for app_spec, img in zip(spec.apps, images):
        image_app = img.manifest.app
        if image_app is None:
            image_app = App()
            if not app_spec.exec:
                raise PrepareError(f"image {img.name} has no app: give --exec")
        name = app_spec.name or default_app_name(img.name)
        if name in used_names:
            raise PrepareError(f"duplicate app name {name!r}: use --name to tell them apart")
        used_names.add(name)
        exec_ = list(image_app.exec)
        if app_spec.exec:
            exec_ = [app_spec.exec]
        exec_ += app_spec.args
        if not exec_:
            raise PrepareError(f"image {img.name} has no exec: give --exec")
        mounts: list[Mount] = list(spec.mounts_all) + list(app_spec.mounts)
        for m in mounts:
            if m.volume not in volumes:
                raise PrepareError(f"--mount volume={m.volume}: no --volume named {m.volume!r}")
        targets = {m.target for m in mounts}
        oci_mounts: list[MountPlan] = []
        mount_ro: dict[str, bool] = {}
        for mp in image_app.mount_points:
            if mp.path in targets:
                continue  # --mount overrides the mount point
            if mp.name not in volumes:
                vol = Volume(mp.name, "empty")
                volumes[mp.name] = vol
                implicit.append(vol)
            mounts.append(Mount(mp.name, mp.path))
            mount_ro[mp.path] = mp.read_only
        for m in mounts:
            vol = volumes[m.volume]
            ro = bool(vol.read_only) or mount_ro.get(m.target, False)
            source = vol.source if vol.kind == "host" else os.path.join("volumes", vol.name)
            oci_mounts.append(MountPlan(vol.name, vol.kind, source, m.target, ro, vol.recursive is not False))
        env_image = image_app.environment
        man_env = merge_env(None, env_image, file_env, spec.set_env, app_spec.environment)
        if "PATH" not in man_env and not (parent_env and spec.inherit_env and "PATH" in parent_env):
            man_env = {"PATH": DEFAULT_PATH, **man_env}
        run_env = merge_env(parent_env if spec.inherit_env else None, tuple(man_env.items()), [], [], [])
        run_env["AC_APP_NAME"] = name
        user = app_spec.user or image_app.user
        group = app_spec.group or image_app.group
        uid, gid = resolve_user(img.lowerdirs, user, group) if check_paths else (0, 0)
        isolators, resources = _resources(image_app, app_spec)
        caps = _caps(isolators)
        seccomp = _seccomp(isolators, spec.insecure_seccomp)
        app_json = App(
            exec=tuple(exec_), user=user, group=group,
            supplementary_gids=app_spec.supplementary_gids if app_spec.supplementary_gids is not None else image_app.supplementary_gids,
            working_directory=app_spec.working_dir or image_app.working_directory,
            environment=tuple(man_env.items()), ports=image_app.ports, mount_points=image_app.mount_points,
            isolators=tuple(isolators),
        ).to_json()
        if app_spec.user_annotations:
            app_json["userAnnotations"] = dict(app_spec.user_annotations)
        if app_spec.user_labels:
            app_json["userLabels"] = dict(app_spec.user_labels)
        man_app: dict[str, Any] = {
            "name": name,
            "image": {"name": img.name, "id": img.image_id, "labels": [{"name": k, "value": v} for k, v in img.manifest.labels]},
            "app": app_json,
        }
        if app_spec.readonly_rootfs:
            man_app["readOnlyRootFS"] = True
        if mounts:
            man_app["mounts"] = [m.to_json() for m in mounts]
        man_apps.append(man_app)
        run_apps.append(AppPlan(
            name=name, image_id=img.image_id, image_name=img.name, lowerdirs=img.lowerdirs,
            args=tuple(exec_), env=tuple(f"{k}={v}" for k, v in run_env.items()), cwd=app_json.get("workingDirectory") or "/",
            uid=uid, gid=gid, gids=tuple(app_json.get("supplementaryGIDs", [])),
            readonly=bool(app_spec.readonly_rootfs), caps=tuple(caps), seccomp=seccomp,
            no_new_privileges=_implied_nnp(seccomp),
            resources=resources, oom_score_adj=app_spec.oom_score_adj, mounts=tuple(oci_mounts),
            stdin=app_spec.stdin, stdout=app_spec.stdout, stderr=app_spec.stderr,
        ))
    all_volumes = list(spec.volumes) + implicit
    manifest: dict[str, Any] = {
        "acVersion": "0.8.11",
        "acKind": "PodManifest",
        "apps": man_apps,
        "volumes": [v.to_json() for v in all_volumes],
        "isolators": [],
        "annotations": [],
        "ports": [],
    }
    from pyrkt.net.dns import resolv_conf
    from pyrkt.net.hosts import entries_text

    pod_plan = PodPlan(
        apps=tuple(run_apps), volumes=tuple(all_volumes), hostname=spec.hostname or f"rkt-{uuid}",
        net=None if spec.net is None else tuple(spec.net), ipc=spec.ipc, interactive=spec.interactive,
        no_overlay=spec.no_overlay, hosts=entries_text(spec.hosts_entries),
        resolv=resolv_conf(spec.dns, spec.dns_search, spec.dns_opt, spec.dns_domain),
        ports=resolve_ports(spec.ports, [a.manifest.app for a in images]),
        local_config=spec.local_config, system_config=spec.system_config, mds_register=spec.mds_register,
    )
    return manifest, pod_plan


def resolve_ports(ports: list[str], apps: list[App | None]) -> tuple[PortPlan, ...]:
    """--port values against the ports the images declare (ACI app.ports; Docker's `80-tcp`)."""
    if not ports:
        return ()
    from pyrkt.net.spec import parse_port

    out: list[PortPlan] = []
    for text in ports:
        req = parse_port(text)
        found = next((p for a in apps if a is not None for p in a.ports if p.name == req.name), None)
        if found is None:
            names = sorted({p.name for a in apps if a is not None for p in a.ports})
            raise PrepareError(f"--port {text}: no app declares a port named {req.name!r}"
                               + (f" (declared: {', '.join(names)})" if names else " (the images declare no ports)"))
        if any(o.host_port == req.host_port and o.protocol == found.protocol for o in out):
            raise PrepareError(f"--port {text}: host port {req.host_port} is forwarded twice")
        out.append(PortPlan(req.name, found.protocol, found.port, req.host_port, req.host_ip))
    return tuple(out)


def create_volumes(pod_dir: str, volumes: tuple[Volume, ...], shift: int = 0) -> None:
    """Empty volumes, owned by their uid/gid as the pod sees them (`shift`: the --private-users range's host root)."""
    base = os.path.join(pod_dir, "volumes")
    os.makedirs(base, exist_ok=True)
    for v in volumes:
        if v.kind != "empty":
            continue
        path = os.path.join(base, v.name)
        os.makedirs(path, exist_ok=True)
        os.chmod(path, int(v.mode, 8))
        os.chown(path, shift + v.uid, shift + v.gid)


def write_pod_files(pod: Pod, manifest: dict[str, Any], plan: PodPlan, private_users: bool = False) -> PodPlan:
    """Write the pod manifest and runtime.json (for run-prepared), the apps' dirs and volumes.

    Returns the plan to run: with `private_users` (--private-users), the host
    uid range chosen now, so the empty volumes can be owned by it.
    """
    shift = 0
    if private_users:
        # the pod's host uid range is chosen now, so its empty volumes can be owned by it
        from pyrkt.pod import userns

        try:
            userns.check_supported()
            rng = userns.choose(os.path.dirname(os.path.dirname(pod.path)))
        except userns.UsernsError as exc:
            raise PrepareError(str(exc)) from None
        from pyrkt.records import replace

        plan = replace(plan, private_users=rng)
        shift = rng.shift
        # the apps' inits reach their bundles as the pod's root (host gid `shift`): let that group
        # through the pod dir (0750), and nobody else (see userns.expose)
        os.chown(pod.path, 0, shift)
    pod.write("pod", fastjson.dumps(manifest))
    pod.write("runtime.json", fastjson.dumps(plan.to_json()))
    pod.write("created", repr(time.time()), sync=False)
    for app in plan.apps:
        os.makedirs(pod.file("apps", app.name), exist_ok=True)
    create_volumes(pod.path, plan.volumes, shift)
    return plan
