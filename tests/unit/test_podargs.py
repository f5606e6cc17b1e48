"""Unit tests (no root): rkt run/prepare/run-prepared's flag table and what is derived from it."""

from __future__ import annotations

import pytest

from pyrkt.cli.rkt import podargs
from pyrkt.pod.grammar import AppSpec, GrammarError, PodSpec


def test_every_row_names_a_field_of_its_target() -> None:
    """A row's dest is an attribute of the record its scope fills (a typo would only show when the flag is used)."""
    pod, app, opts = PodSpec(), AppSpec(image="x"), podargs.Options()
    for row in podargs.FLAGS:
        target = opts if row.cli else (app if row.scope == podargs.APP else pod)
        assert hasattr(target, row.dest), (row.names, row.dest)
        assert row.scope in (podargs.APP, podargs.POD, podargs.RUN, podargs.PREPARE)
        assert row.repeats in (podargs.ONE, podargs.MANY, podargs.LIST)
        if row.repeats != podargs.ONE:
            assert getattr(target, row.dest) in ([], None), row.names  # a list (PodSpec.net: None until given)


def test_names_are_unique_and_cli_only_values_are_not_in_the_pod() -> None:
    names = [n for row in podargs.FLAGS for n in row.names]
    assert len(names) == len(set(names))
    for field in ("quiet", "logs", "stage1"):
        assert not hasattr(PodSpec(), field)


@pytest.mark.parametrize("command", ["run", "prepare", "run-prepared"])
def test_help_lists_exactly_the_flags_the_command_takes(command: str) -> None:
    text = podargs.usage(command)
    for row in podargs.FLAGS:
        taken = row.rp if command == "run-prepared" else command in podargs.SCOPE_COMMANDS[row.scope]
        spelled = f"--{row.names[0]}" + ("=" if row.takes_value else "\n")
        assert (spelled in text) == taken, (command, row.names[0])
        if not taken:
            with pytest.raises(GrammarError, match="unknown flag"):
                podargs.parse([f"--{row.names[0]}=x", "img"] if row.takes_value else [f"--{row.names[0]}", "img"], command)


def test_boolean_rows_take_no_value_unless_given_with_equals() -> None:
    parsed = podargs.parse(["--inherit-env", "img", "--readonly-rootfs", "--", "a"])
    assert parsed is not None
    pod, _, _, given = parsed
    assert pod.inherit_env and pod.apps[0].readonly_rootfs is True and pod.apps[0].args == ["a"]
    assert given == {"inherit_env", "readonly_rootfs"}
    parsed = podargs.parse(["--inherit-env=false", "img"])
    assert parsed is not None and parsed[0].inherit_env is False
    with pytest.raises(GrammarError, match="invalid boolean value 'maybe' for --inherit-env"):
        podargs.parse(["--inherit-env=maybe", "img"])


def test_repeats_add_up() -> None:
    parsed = podargs.parse(["--net=a,b", "--net", "c", "--dns=1.1.1.1", "--dns", "8.8.8.8", "--hostname=h1",
                            "--hostname=h2", "--stage1-path=/x", "img", "--environment=A=1", "--environment=B=2"])
    assert parsed is not None
    pod, opts, _, _ = parsed
    assert pod.net == ["a", "b", "c"] and pod.dns == ["1.1.1.1", "8.8.8.8"] and pod.hostname == "h2"
    assert pod.apps[0].environment == [("A", "1"), ("B", "2")] and opts.stage1 == [("stage1-path", "/x")]


def test_single_dash_and_aliases() -> None:
    pod = podargs.parse_pod_args(["-net=host", "img", "-oom-score-adjust", "5"])
    assert pod.net == ["host"] and pod.apps[0].oom_score_adj == 5


def test_run_prepared_takes_its_flags_and_a_uuid() -> None:
    parsed = podargs.parse(["--net=none", "--interactive=false", "uuid-1"], "run-prepared")
    assert parsed is not None
    pod, _, rest, given = parsed
    assert rest == ["uuid-1"] and pod.apps == [] and pod.net == ["none"] and given == {"net", "interactive"}
    with pytest.raises(GrammarError, match="unknown flag: --volume"):
        podargs.parse(["--volume=v,kind=empty", "uuid"], "run-prepared")


def test_help_anywhere_before_the_args_and_missing_values() -> None:
    assert podargs.parse(["img", "--help"]) is None and podargs.parse(["-h"], "prepare") is None
    parsed = podargs.parse(["img", "--", "--help"])
    assert parsed is not None and parsed[0].apps[0].args == ["--help"]
    with pytest.raises(GrammarError, match="flag needs an argument: --exec"):
        podargs.parse(["img", "--exec"])
    with pytest.raises(GrammarError, match="given twice"):
        podargs.parse(["--volume=v,kind=empty", "--volume=v,kind=empty", "img"])
