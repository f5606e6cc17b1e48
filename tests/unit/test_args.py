from __future__ import annotations

import pytest

from pyrkt.cli.args import Flag, UsageError, parse

FLAGS = (
    Flag("bundle, b", takes_value=True, default="."),
    Flag("pid-file", takes_value=True),
    Flag("detach, d"),
    Flag("env, e", takes_value=True, repeat=True),
)


@pytest.mark.parametrize(
    "argv",
    [
        ["--bundle", "/b", "--pid-file=/p", "-d", "id"],
        ["id", "--bundle=/b", "--pid-file", "/p", "--detach"],
        ["-b", "/b", "id", "-pid-file", "/p", "-detach=true"],
        ["-bundle=/b", "--pid-file=/p", "-d", "--", "id"],
    ],
)
def test_flag_forms_and_order(argv: list[str]) -> None:
    values, args = parse(argv, FLAGS)
    assert values == {"bundle": "/b", "pid_file": "/p", "detach": True, "env": []}
    assert args == ["id"]


def test_defaults_and_repeat() -> None:
    values, args = parse(["-e", "A=1", "--env=B=2", "x"], FLAGS)
    assert values["bundle"] == "."
    assert values["pid_file"] is None
    assert values["detach"] is False
    assert values["env"] == ["A=1", "B=2"]
    assert args == ["x"]


def test_not_interspersed_stops_at_first_positional() -> None:
    values, args = parse(["-d", "id", "sh", "-c", "--bundle"], FLAGS, interspersed=False)
    assert values["detach"] is True
    assert args == ["id", "sh", "-c", "--bundle"]


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--nope"], "flag provided but not defined: -nope"),
        (["--bundle"], "flag needs an argument: -bundle"),
        (["--detach=maybe"], "invalid boolean value"),
    ],
)
def test_errors(argv: list[str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse(argv, FLAGS)


def test_false_bool() -> None:
    values, _ = parse(["--detach=false"], FLAGS)
    assert values["detach"] is False
