"""The start-up budget of the hot commands, checked on the INSTALLED launchers.

`rkt run` and `pyrkt-runtime create/run/start/delete` are started once per pod or
container operation, so their paths keep to built-in and a few small modules
(bench/README.md says why: `_signal` not `signal`, `pyrkt.records` not
`dataclasses`, `pyrkt.fastjson` not `json`, ...). Until now that budget lived
only in comments. Each test runs the real command through its launcher under
`python -I -S -X importtime` (stderr to a file, never a pipe: a detached init
would keep a pipe open) and fails if a module of FORBIDDEN was imported.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "image"))

from imagebuild import aci_bytes, aci_manifest, busybox_entries  # noqa: E402
from toolcheck import need_file  # noqa: E402

BIN = os.path.join(sys.prefix, "bin")
PYTHON = os.path.join(BIN, "python")

# Modules whose import costs milliseconds (or builds enums / compiles regexes at import):
# none of them may be on a hot path. Their C parts (_json, _sqlite3, _hashlib, _signal,
# _socket) are allowed.
FORBIDDEN = frozenset({
    "dataclasses", "typing", "re", "json", "hashlib", "sqlite3", "enum", "inspect", "signal", "socket",
    "subprocess", "tempfile", "shutil", "logging", "argparse", "traceback", "threading", "concurrent",
    "selectors", "email", "http", "ssl", "tomllib", "rich", "zstandard", "grpc", "google",
})

pytestmark = pytest.mark.root


def imported(argv: list[str], log: str, **kw: object) -> tuple[int, set[str]]:
    """Run an installed launcher with -X importtime: (exit status, top-level module names imported)."""
    with open(log, "wb") as err:
        proc = subprocess.run([PYTHON, "-I", "-S", "-X", "importtime", *argv], stderr=err, stdout=subprocess.DEVNULL,
                              stdin=subprocess.DEVNULL, timeout=60, **kw)  # type: ignore[call-overload]
    names = set()
    with open(log, errors="replace") as f:
        for line in f:
            if line.startswith("import time:") and line.count("|") == 2:
                name = line.rsplit("|", 1)[1].strip()
                if name != "package":
                    names.add(name.split(".")[0])
    return proc.returncode, names


def over_budget(names: set[str]) -> list[str]:
    return sorted(names & FORBIDDEN)


def test_the_budget_catches_a_heavy_import(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The check itself can fail: `rkt image list` is not a hot path and imports json (and re)."""
    log = str(tmp_path / "log")
    code, names = imported([os.path.join(BIN, "rkt"), f"--dir={tmp_path}/d", "image", "list"], log)
    assert code == 0, open(log).read()
    assert "json" in over_budget(names) and "re" in over_budget(names)


def test_runtime_create_start_delete_and_run(tmp_path) -> None:  # type: ignore[no-untyped-def]
    rootfs = tmp_path / "bundle" / "rootfs"
    (rootfs / "bin").mkdir(parents=True)
    shutil.copy("/bin/busybox", rootfs / "bin" / "busybox")
    os.symlink("busybox", rootfs / "bin" / "true")
    bundle = str(tmp_path / "bundle")
    runtime = os.path.join(BIN, "pyrkt-runtime")
    subprocess.run([runtime, "spec"], cwd=bundle, check=True)
    with open(os.path.join(bundle, "config.json")) as f:
        config = json.load(f)
    config["process"].update(args=["/bin/true"], terminal=False)
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(config, f)
    root = str(tmp_path / "state")
    # unique ids: without cgroupsPath the cgroup is named by the id alone (runc's default)
    c1, c2 = (f"budget-{os.getpid()}-{n}" for n in (1, 2))
    steps = [("create", ["create", "--bundle", bundle, c1]), ("start", ["start", c1]),
             ("delete", ["delete", "--force", c1]), ("run", ["run", "-d", "--bundle", bundle, c2]),
             ("delete", ["delete", "--force", c2])]
    try:
        for verb, args in steps:
            code, names = imported([runtime, "--root", root, *args], str(tmp_path / f"{verb}.log"))
            assert code == 0, (verb, open(tmp_path / f"{verb}.log").read())
            assert over_budget(names) == [], f"pyrkt-runtime {verb} imported {over_budget(names)}"
    finally:
        for cid in (c1, c2):
            subprocess.run([runtime, "--root", root, "delete", "--force", cid], check=False)


@pytest.mark.parametrize("net", [["--net=host"], []], ids=["host", "default-network"])
def test_rkt_run_of_a_stored_image(tmp_path, net: list[str]) -> None:  # type: ignore[no-untyped-def]
    """Without --net: the default network (pyrkt's ptp over netlink, host-local leases, the
    masquerade rule) stays in budget too."""
    if not net:
        need_file("/usr/lib/cni/ptp")
    rkt = os.path.join(BIN, "rkt")
    image = tmp_path / "budget.aci"
    image.write_bytes(aci_bytes(aci_manifest("example.com/budget", "1.0", ["/bin/true"]), busybox_entries()))
    data = str(tmp_path / "rkt")
    subprocess.run([rkt, f"--dir={data}", "--insecure-options=image", "fetch", str(image)], check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run([rkt, f"--dir={data}", "run", "--net=host", "example.com/budget:1.0"], check=True)  # renders the tree
    try:
        log = str(tmp_path / "run.log")
        code, names = imported([rkt, f"--dir={data}", "run", *net, "example.com/budget:1.0"], log)
        assert code == 0, open(log).read()
        assert "pyrkt" in names  # the log is the run's
        assert over_budget(names) == [], f"rkt run {' '.join(net)} imported {over_budget(names)}"
    finally:
        subprocess.run([rkt, f"--dir={data}", "gc", "--grace-period=0s"], check=False, capture_output=True)


# a cold `rkt fetch docker://` is timed against skopeo (bench/image_bench.py): its path may
# load OpenSSL's hashes (hashlib), nothing else of the list (its threads are _thread's)
FETCH_ALLOWED = frozenset({"hashlib"})


def test_rkt_fetch_from_a_plain_http_registry(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from imagebuild import tar_bytes, write_oci_layout
    from imagefixtures import start_registry, stop

    reg = start_registry(str(tmp_path / "registry"))
    try:
        layout = str(tmp_path / "layout")
        write_oci_layout(layout, [tar_bytes(busybox_entries())], {"Cmd": ["/bin/sh"], "Env": ["A=1"]}, tag="v1")
        reg.push_layout(layout, "v1", "budget/bb")
        log = str(tmp_path / "fetch.log")
        code, names = imported([os.path.join(BIN, "rkt"), f"--dir={tmp_path}/d", "--insecure-options=image,http", "fetch",
                                f"docker://{reg.host}/budget/bb:v1"], log)
        assert code == 0, open(log).read()
        assert sorted(set(over_budget(names)) - FETCH_ALLOWED) == [], f"rkt fetch imported {over_budget(names)}"
    finally:
        stop(reg.proc)


def test_rkt_enter_of_a_running_pod(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """`rkt enter` is a hot path too: rkt-run's worker pods enter once per user command."""
    import time

    rkt = os.path.join(BIN, "rkt")
    image = tmp_path / "budget.aci"
    entries = busybox_entries(("sh", "true", "sleep"))
    image.write_bytes(aci_bytes(aci_manifest("example.com/budget", "1.0", ["/bin/true"]), entries))
    data = str(tmp_path / "rkt")
    subprocess.run([rkt, f"--dir={data}", "--insecure-options=image", "fetch", str(image)], check=True,
                   stdout=subprocess.DEVNULL)
    uuid_file = str(tmp_path / "uuid")
    pod = subprocess.Popen([rkt, f"--dir={data}", "run", "--net=host", f"--uuid-file-save={uuid_file}",
                            "example.com/budget:1.0", "--exec", "/bin/sleep", "--", "60"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not (os.path.exists(uuid_file) and os.path.getsize(uuid_file)) and time.monotonic() < deadline:
            time.sleep(0.05)
        uuid = open(uuid_file).read().strip()
        subprocess.run([rkt, f"--dir={data}", "status", "--wait-ready=10s", uuid], check=True, stdout=subprocess.DEVNULL)
        log = str(tmp_path / "enter.log")
        code, names = imported([rkt, f"--dir={data}", "enter", uuid, "/bin/true"], log)
        assert code == 0, open(log).read()
        assert over_budget(names) == [], f"rkt enter imported {over_budget(names)}"
        code, names = imported([rkt, f"--dir={data}", "enter", uuid, "/bin/sh", "-c", "exit 3"], log)
        assert code == 3, open(log).read()  # it did enter: the command's status
    finally:
        subprocess.run([rkt, f"--dir={data}", "stop", "--force", open(uuid_file).read().strip()] if os.path.exists(uuid_file)
                       else ["true"], capture_output=True)
        pod.kill()
        pod.wait()
        subprocess.run([rkt, f"--dir={data}", "gc", "--grace-period=0s"], check=False, capture_output=True)
