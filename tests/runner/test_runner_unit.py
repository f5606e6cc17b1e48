"""The pure layer of rkt-run: policy validation (file:line: key), templates, aliases, the command builder."""

from __future__ import annotations

import pytest

from pyrkt.runner import config, template
from pyrkt.runner.command import Identity, Request, build, display, list_aliases
from pyrkt.runner.errors import ConfigError, RunnerError
from seedpolicy import SEED

ME = Identity(511, 511, "guestsi", "/home/guestsi")


def policy(text: str) -> config.Policy:
    return config.Policy(config.parse_text("/etc/rktrunner.toml", text))


def err(text: str) -> str:
    with pytest.raises(ConfigError) as e:
        config.parse_text("/etc/rktrunner.toml", text)
    return str(e.value)


def test_seed_verbose_line() -> None:
    plan = build(policy(SEED), Request("qiime_", interactive=True), ME, {}, "/tmp")
    assert display(plan.run_argv("/usr/bin/rkt", None)) == (
        "# /usr/bin/rkt --insecure-options=image run --interactive --net=host --set-env=HOME=/home/guestsi "
        "--volume home,kind=host,source=/home/guestsi --volume volume-config,kind=empty,uid=511,gid=511 "
        "--volume volume-data,kind=empty,uid=511,gid=511 quay.io/biocontainers/qiime:1.9.1--py27_0 "
        "--mount volume=home,target=/home/guestsi --user=511 --group=511 --exec sh")


@pytest.mark.parametrize("text,where", [
    ('rkt = "/r"\nbogus = 1\n', "/etc/rktrunner.toml:2: bogus: unknown key"),
    ('rkt = 5\n', "/etc/rktrunner.toml:1: rkt: must be a string, not an integer"),
    ('worker-pods = true\n', "rkt: required key missing"),
    ('rkt = "/r"\nworker-pods = true\n[volume.rktrunner-idle]\nvolume = "kind=empty"\n', ":3: volume.rktrunner-idle: reserved"),
    ('rkt = "/r"\n[volume.v]\nvolume = "kind=host,source={{.HomeDir"\n', "/etc/rktrunner.toml:3: volume.v.volume: bad template"),
    ('rkt = "/r"\n[volume.v]\nvolume = "{{ print 1 }}"\n', ":3: volume.v.volume: bad template"),
    ('rkt = "/r"\n[alias.a]\nimage = "x"\npasswd = ["u:x:1:1::/:/bin/sh"]\n', ":4: alias.a.passwd: needs worker-pods"),
    ('rkt = "/r"\nworker-pods = true\n[alias.a]\nimage = "x"\nenvironment-update = ["A"]\n'
     'environment-blacklist = ["A"]\n', ":6: alias.a.environment-blacklist: A is both"),
    ('rkt = "/r"\n[alias.blast]\nimage = "x"\nexec = ["/bin/blastn"]\n[alias.blastn]\nimage = "y"\n',
     ":5: alias.blastn: duplicate alias 'blastn'"),
    ('rkt = "/r"\n[options.batch]\nrun = ["--net=host"]\nbogus = ["x"]\n', ":4: options.batch.bogus: unknown option class"),
    ('rkt = "/r"\n[options]\nrun = ["net=host"]\n', ":3: options.run: 'net=host' is not an option"),
    ('rkt = "/r"\n[alias.a]\nexec = ["x"]\n', ":2: alias.a: missing key 'image'"),
    ('rkt = "/r"\n[volume.v]\nmount = "target=/x"\n', ":2: volume.v: missing key 'volume'"),
    ('rkt = "/r"\n[volume.v]\nvolume = "kind=empty"\non-request = "yes"\n', ":4: volume.v.on-request: must be a boolean"),
    ('rkt = "/r"\n[environment]\nA = 1\n', ":3: environment.A: must be a string"),
    ('rkt = "/r"\nx = [\n', "/etc/rktrunner.toml:"),
    ('rkt = "relative/rkt"\n', ":1: rkt: 'relative/rkt' must be an absolute path"),
])
def test_config_errors(text: str, where: str) -> None:
    assert where in err(text)


def test_config_error_is_one_line() -> None:
    assert "\n" not in err('rkt = "/r"\n[alias.x]\nimage = "a"\nfoo = 1\n')


def test_templates() -> None:
    ctx = template.Context(ME.template_values(), {"FOO": "bar", "EVIL": "a,source=/", "NL": "a\nB=1", "BR": "{{.Uid}}"})
    assert ctx.render("{{.Username}}:{{ .Uid }}:{{.FOO}}:{{.NOPE}}") == ("guestsi:511:bar:", True)
    assert ctx.render("{{.BR}}")[0] == "{{.Uid}}"  # substituted values are not re-scanned
    with pytest.raises(template.TemplateError):
        ctx.render("source={{.EVIL}}", forbid_any=",=")
    with pytest.raises(template.TemplateError):
        ctx.render("{{.NL}}", forbid_any="\n")


def test_env_file_and_blacklist() -> None:
    p = policy('rkt = "/r"\nworker-pods = true\n[environment]\nGREETING = "hi {{.Username}}"\nEMPTY = "{{.UNSET}}"\n'
               'TOKEN = "{{.TOKEN}}"\n[alias.a]\nimage = "img"\nenvironment-blacklist = ["TOKEN"]\n'
               '[alias.a.environment]\nX = "1"\n')
    plan = build(p, Request("a", set_env=["Y=2"]), ME, {"TOKEN": "t"}, None)
    assert plan.env == [("GREETING", "hi guestsi"), ("X", "1"), ("Y", "2")]
    with pytest.raises(RunnerError):
        build(p, Request("a", set_env=["Y=a\nZ=1"]), ME, {}, None)
    with pytest.raises(RunnerError, match="newline"):
        build(p, Request("img2"), ME, {"TOKEN": "x\nROOT=1"}, None)


def test_aliases_exec_basenames_and_listing() -> None:
    p = policy('rkt = "/r"\n[alias.blast]\nimage = "b"\nexec = ["/usr/bin/blastn", "blastp"]\n[alias.ruby]\nimage = "r"\n')
    assert list_aliases(p) == ["blast = -e /usr/bin/blastn b", "blastn = -e /usr/bin/blastn b", "blastp = -e blastp b",
                               "ruby = r"]
    plan = build(p, Request("blastp", args=["-query", "x"]), ME, {}, None)
    assert plan.run_argv("/r", None)[-5:] == ["--exec", "blastp", "--", "-query", "x"]
    with pytest.raises(RunnerError, match="fixes"):
        build(p, Request("blast", exec_="/bin/sh"), ME, {}, None)


def test_prefix_longest_wins_and_raw_images() -> None:
    p = policy('rkt = "/r"\n[auto-image-prefix]\n"bio" = "a/"\n"biocontainers/" = "quay.io/biocontainers/"\n')
    assert build(p, Request("biocontainers/x"), ME, {}, None).image == "quay.io/biocontainers/x"
    assert build(p, Request("biox"), ME, {}, None).image == "a/x"
    assert build(p, Request("biox", no_prefix=True), ME, {}, None).image == "biox"
    for bad in ("/root/x.aci", "./x.aci", "file:///x", "oci:/srv", "--user=0", "-x"):
        with pytest.raises(RunnerError):
            build(p, Request(bad), ME, {}, None)
    r = policy('rkt = "/r"\nrestrict-images = true\n[alias.a]\nimage = "img"\n')
    with pytest.raises(RunnerError, match="restrict-images"):
        build(r, Request("img"), ME, {}, None)


def test_arguments_stay_arguments() -> None:
    p = policy('rkt = "/r"\n[volume.extra]\nvolume = "kind=empty"\non-request = true\n')
    argv = build(p, Request("img", args=["--user=0", "--exec=/bin/sh", "--"]), ME, {}, None).run_argv("/r", None)
    assert argv[argv.index("--"):] == ["--", "--user=0", "--exec=/bin/sh", "--"]
    assert "--user=511" in argv and "--volume" not in argv
    for req in (Request("img", args=["a", "---", "img", "--user=0"]), Request("img", exec_="--user=0"),
                Request("img", volumes=["--volume"]), Request("img", volumes=["nope"])):
        with pytest.raises(RunnerError):
            build(p, req, ME, {}, None)
    argv = build(p, Request("img", volumes=["extra"]), ME, {}, "/home/x").run_argv("/r", "/run/env")
    assert "extra,kind=empty" in argv and "--set-env-file=/run/env" in argv and "--working-dir=/home/x" not in argv


def test_option_forms_and_modes() -> None:
    p = policy('rkt = "/r"\npreserve-cwd = true\n[options]\nrun = ["--flat"]\n[options.common]\nrun = ["--common"]\n'
               '[options.interactive]\nrun = ["--inter"]\n[options.batch]\nrun = ["--batch"]\n')
    b = build(p, Request("img"), ME, {}, "/w").run_argv("/r", None)
    i = build(p, Request("img", interactive=True), ME, {}, "/w").run_argv("/r", None)
    assert b[:5] == ["/r", "run", "--flat", "--common", "--batch"] and "--working-dir=/w" in b
    assert i[:6] == ["/r", "run", "--interactive", "--flat", "--common", "--inter"]


def test_locate() -> None:
    text = 'rkt = "/r"\n[alias."a.b"]\nimage = "x"\n\n[alias.c]\n  image = "y"\n'
    assert config.locate(text, ("alias", "a.b", "image")) == 3
    assert config.locate(text, ("alias", "c", "image")) == 6
    assert config.locate(text, ("alias", "c", "zzz")) == 5


def test_worker_helpers() -> None:
    import os

    from pyrkt.runner import worker

    assert worker.parse_duration("1h30m") == 5400 and worker.parse_duration("0") == 0 and worker.parse_duration("90s") == 90
    for bad in ("10", "5x", "m"):
        with pytest.raises(RunnerError):
            worker.parse_duration(bad)
    me = f"u {os.getpid()} {worker._starttime(os.getpid())}"
    assert worker._alive(me) == "u"
    assert worker._alive(f"u {os.getpid()} 1") == "" and worker._alive("u") == ""


def test_cli_options_stop_at_the_image() -> None:
    from pyrkt.cli.rktrun import parse_args

    opts, rest = parse_args(["-iv", "--volume=a", "--volume", "b", "-e", "x", "img", "-v", "--config", "/etc/x"])
    assert opts["interactive"] and opts["verbose"] and opts["volume"] == ["a", "b"] and opts["exec"] == "x"
    assert rest == ["img", "-v", "--config", "/etc/x"] and "config" not in opts
    with pytest.raises(RunnerError):
        parse_args(["--user=0", "img"])
    assert parse_args(["--", "-x"])[1] == ["-x"]


def test_identity_never_comes_from_the_environment() -> None:
    p = policy('rkt = "/r"\n[environment]\nWHO = "{{.Username}} {{.Uid}} {{.Gid}} {{.HomeDir}}"\n')
    plan = build(p, Request("img"), ME, {"Username": "root", "Uid": "0", "Gid": "0", "HomeDir": "/"}, None)
    assert plan.env == [("WHO", "guestsi 511 511 /home/guestsi")]
    assert "--user=511" in plan.run_argv("/r", None)
