"""What the pods hold of the image store: the trees their apps' overlays stack.

`rkt image rm`/`image gc` refuse an image a live pod (preparing, prepared,
running) names (pyrkt.pod.pods.images_of_live_pods, `--force` overrides).
An exited pod runs no more, so its image may go, as in rkt; but its apps'
rootfs are overlays of the image's trees, and `rkt export` (and `enter`
into a pod that is still there) mounts them again. rkt keeps every tree
that a pod not yet garbage-collected references (preparing, prepared, run
including exited, exited-garbage) when its image gc sweeps the tree store;
so does pyrkt: the trees of these pods are kept by the sweep until `rkt gc`
removes the pod (or `image rm --force`).
"""

from __future__ import annotations

import os

from pyrkt.pod.store import PodError, PodStore

KEEPING_STATES = ("prepare", "prepared", "run", "exited-garbage")


def trees_of_pods(data_dir: str) -> frozenset[str]:
    """Tree names (cas/tree/<name>) that the apps of pods not yet garbage stack as lowerdirs."""
    tree_dir = os.path.join(os.path.abspath(data_dir), "cas", "tree") + "/"
    keys: set[str] = set()
    for pod in PodStore(data_dir).all():
        if pod.directory not in KEEPING_STATES:
            continue
        try:
            runtime = pod.read_json("runtime.json")
            apps = runtime.get("apps", []) if isinstance(runtime, dict) else []
        except (PodError, AttributeError, TypeError):
            continue  # a damaged pod: gc removes it; nothing can mount from it
        for app in apps if isinstance(apps, list) else []:
            for d in (app.get("lowerdirs") or []) if isinstance(app, dict) else []:
                if isinstance(d, str) and d.startswith(tree_dir):
                    keys.add(d[len(tree_dir):].split("/", 1)[0])
    return frozenset(keys)
