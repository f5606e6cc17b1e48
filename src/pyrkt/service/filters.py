"""The API's PodFilter and ImageFilter, as pure functions over the views.

rkt's rules: inside one filter every non-empty field must hold (AND); a pod or
image is returned when any filter holds (OR); no filter returns everything.
The "any of" and "all of" of each field are as api.proto says. Filters arrive
as protobuf messages; only their field names are used here, so the unit tests
can pass plain objects.
"""

from __future__ import annotations

from typing import Any

from pyrkt.service.imageview import ImageView
from pyrkt.service.podview import PodView


def _cgroup_contains(pod_cgroup: str, cgroup: str) -> bool:
    """`cgroup` is the pod's or lies inside it.

    pyrkt has no cgroup for the pod as a whole: each app has `/rkt-<uuid>-<app>`
    (see pyrkt.pod.stage1), and the pod reports the prefix `/rkt-<uuid>` they
    share. So an app's cgroup, or one below it, belongs to the pod.
    """
    if not pod_cgroup:
        return False
    if cgroup == pod_cgroup:
        return True
    return cgroup.startswith(pod_cgroup) and cgroup[len(pod_cgroup)] in "-/"


def pod_matches(pod: PodView, f: Any) -> bool:
    if f.ids and pod.uuid not in f.ids:
        return False
    if f.states and pod.state_number not in f.states:
        return False
    if f.app_names and not set(f.app_names) <= {a.name for a in pod.apps}:
        return False
    if f.image_ids and not set(f.image_ids) <= {a.image_id for a in pod.apps}:
        return False
    if f.network_names and not set(f.network_names) <= set(pod.networks):
        return False
    if f.annotations:
        have = set(pod.annotations)
        if not all((kv.Key, kv.value) in have for kv in f.annotations):
            return False
    if f.cgroups and pod.cgroup not in f.cgroups:
        return False
    if f.pod_sub_cgroups and not any(_cgroup_contains(pod.cgroup, c) for c in f.pod_sub_cgroups):
        return False
    return True


def base_name(name: str) -> str:
    """`coreos.com/etcd` -> `etcd` (rkt's base name: the last path element)."""
    return name.rsplit("/", 1)[-1]


def image_matches(img: ImageView, f: Any) -> bool:
    if f.ids and img.id not in f.ids:
        return False
    if f.prefixes and not any(img.name.startswith(p) for p in f.prefixes):
        return False
    if f.base_names and base_name(img.name) not in f.base_names:
        return False
    if f.keywords and not any(k in img.name for k in f.keywords):
        return False
    if f.labels:
        have = set(img.labels)
        if not all((kv.Key, kv.value) in have for kv in f.labels):
            return False
    if f.imported_after and not img.import_time > f.imported_after:
        return False
    if f.imported_before and not img.import_time < f.imported_before:
        return False
    if f.annotations:
        have = set(img.annotations)
        if not all((kv.Key, kv.value) in have for kv in f.annotations):
            return False
    if f.full_names and img.name not in f.full_names:
        return False
    return True


def any_filter(item: Any, filters: Any, match: Any) -> bool:
    return not filters or any(match(item, f) for f in filters)
