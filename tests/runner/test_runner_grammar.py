"""rkt-run's command lines read back with rkt's own grammar (no root).

The builder (pyrkt.runner) sits below the CLI and may not import rkt's flag
table (pyrkt.cli.rkt.podargs, see its docstring), so this is where the two
meet: every command line the builder writes for a policy is parsed with the
table rkt parses its own with, and must mean what the policy said. A flag
renamed, re-scoped (a per-app flag made pod-level) or given another value
syntax in the table fails here.
"""

from __future__ import annotations

import pytest

from pyrkt.cli.args import parse
from pyrkt.cli.rkt import enter, podargs
from pyrkt.cli.rkt.common import GLOBAL_FLAGS
from pyrkt.runner import config, worker
from pyrkt.runner.command import Identity, Request, build
from seedpolicy import SEED

ME = Identity(511, 512, "guestsi", "/home/guestsi")

VOLUMES = """
[volume.extra]
volume = "kind=host,source=/srv/{{.Username}},readOnly=true"
mount = "target=/extra"
on-request = true
"""


def policy(text: str) -> config.Policy:
    return config.Policy(config.parse_text("/etc/rktrunner.toml", text))


def read_back(argv: list[str], command: str = "run") -> tuple[dict[str, object], podargs.PodSpec]:
    """rkt's reading of a built `rkt [global flags] run …` line: (global flag values, the pod)."""
    verb = argv.index(command)
    values, rest = parse(argv[1:verb], GLOBAL_FLAGS)
    assert rest == [], rest  # everything before the verb is a global flag of rkt's
    parsed = podargs.parse(argv[verb + 1:], command)
    assert parsed is not None
    return values, parsed[0]


@pytest.mark.parametrize("interactive", [False, True])
def test_seed_command_lines_parse_as_the_policy_says(interactive: bool) -> None:
    plan = build(policy(SEED + VOLUMES), Request("qiime_", args=["-v", "--", "x"], volumes=["extra"],
                                                  interactive=interactive), ME, {}, "/tmp")
    values, pod = read_back(plan.run_argv("/usr/bin/rkt", "/run/rkt-run.env"))
    assert values["insecure_options"] == ["image"]
    assert pod.interactive is interactive and pod.net == ["host"]
    assert pod.set_env == [("HOME", "/home/guestsi")] and pod.set_env_files == ["/run/rkt-run.env"]
    assert [(v.name, v.kind, v.source, v.read_only) for v in pod.volumes] == [  # in name order
        ("extra", "host", "/srv/guestsi", True), ("home", "host", "/home/guestsi", None),
        ("volume-config", "empty", "", None), ("volume-data", "empty", "", None)]
    assert [(v.uid, v.gid) for v in pod.volumes[2:]] == [(511, 512), (511, 512)]
    (app,) = pod.apps
    assert app.image == "quay.io/biocontainers/qiime:1.9.1--py27_0"
    assert [(m.volume, m.target) for m in app.mounts] == [("extra", "/extra"), ("home", "/home/guestsi")]
    assert (app.user, app.group) == ("511", "512")
    assert app.exec == ("sh" if interactive else None) and app.args == ["-v", "--", "x"]
    assert app.stdin == ("null" if interactive else "stream")


def test_cwd_and_exec_are_the_apps() -> None:
    p = policy('rkt = "/r"\npreserve-cwd = true\n[options]\nimage = ["--stdin=null"]\n')
    _, pod = read_back(build(p, Request("img", exec_="/bin/echo", args=["hi"]), ME, {}, "/work").run_argv("/r", None))
    (app,) = pod.apps
    assert (app.exec, app.args, app.working_dir, app.stdin, app.user) == ("/bin/echo", ["hi"], "/work", "null", "511")


def test_worker_pod_start_and_enter_lines() -> None:
    p = policy('rkt = "/r"\nworker-pods = true\n[alias.a]\nimage = "img"\nexec = ["/bin/tool"]\n')
    plan = build(p, Request("a", args=["x"]), ME, {}, "/w")
    _, pod = read_back(worker.start_argv(p, plan, "/run/env"))
    (app,) = pod.apps
    assert app.name == "worker-511" and app.exec == worker.SLEEPER[0] and app.args == list(worker.SLEEPER[1:])
    assert pod.set_env_files == ["/run/env"] and (app.user, app.group) == ("511", "512")
    argv = worker.enter_argv(p, plan, "0123abcd", "/run/env")
    verb = argv.index("enter")
    values, rest = parse(argv[verb + 1:], enter.FLAGS, interspersed=False)  # rkt enter's own flags
    assert values["app"] == "worker-511" and (values["user"], values["group"]) == ("511", "512")
    assert values["set_env_file"] == ["/run/env"] and rest[0] == "0123abcd" and "/bin/tool" in rest
