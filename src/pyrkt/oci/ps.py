"""`ps`: the processes of a container, as runc prints them.

`--format json` prints a JSON array of host pids (what containerd's runc shim
reads); `table` (the default) runs the host's `ps` with the given options
(`-ef` by default) and keeps the header and the lines whose PID column is one
of the container's processes.
"""

from __future__ import annotations

import json
import os
import subprocess

from pyrkt.oci import lifecycle
from pyrkt.oci.errors import RuntimeFailure
from pyrkt.oci.state import open_container


def container_pids(root: str, container_id: str) -> list[int]:
    sd, state, status = open_container(root, container_id, shared=True)
    try:
        if state is None:
            raise RuntimeFailure(f"container {container_id} is not running")
        if status == lifecycle.STOPPED:
            return []  # runc: the header alone (or []), exit 0
        from pyrkt.oci.operations import _container_pids

        return sorted(_container_pids(state))
    finally:
        sd.close()


def ps(root: str, container_id: str, fmt: str, ps_args: list[str]) -> str:
    if fmt not in ("table", "json"):
        raise RuntimeFailure(f"invalid format option {fmt!r}: use table or json")
    pids = container_pids(root, container_id)
    if fmt == "json":
        return json.dumps(pids) + "\n"
    args = ps_args or ["-ef"]
    try:
        out = subprocess.run(["ps", *args], capture_output=True, text=True, env=dict(os.environ, LC_ALL="C"))
    except FileNotFoundError:
        raise RuntimeFailure("ps: the host has no ps command (install procps)") from None
    if out.returncode != 0:
        raise RuntimeFailure(f"ps {' '.join(args)}: {out.stderr.strip() or 'failed'}")
    lines = out.stdout.splitlines()
    if not lines:
        return ""
    header = lines[0].split()
    try:
        col = header.index("PID")
    except ValueError:
        raise RuntimeFailure(f"ps {' '.join(args)}: no PID column in its output") from None
    wanted = set(pids)
    keep = [lines[0]]
    for line in lines[1:]:
        fields = line.split(None, col + 1)
        if len(fields) > col and fields[col].isdigit() and int(fields[col]) in wanted:
            keep.append(line)
    return "\n".join(keep) + "\n"
