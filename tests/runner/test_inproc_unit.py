"""pyrkt.runner.inproc recognises exactly the rkt launcher `make install` writes, and nothing else."""

from __future__ import annotations

import os

import pytest

from runnerfixtures import CHECKOUT_RKT, launcher_text
from pyrkt.runner import inproc


@pytest.mark.parametrize("site", [[], ["/v/lib/python3.11/site-packages"], ["/a/purelib", "/a/platlib"]])
def test_the_generators_launcher_is_recognised(site: list[str]) -> None:
    text = launcher_text("/opt/pyrkt/src", site)
    found = inproc.parse(text)
    assert found is not None
    assert (found.src, found.site) == ("/opt/pyrkt/src", site)
    assert found.python.endswith("/.venv/bin/python") and found.text() == text


def test_the_installed_launcher_is_recognised() -> None:
    with open(CHECKOUT_RKT) as f:
        found = inproc.parse(f.read())
    assert found is not None and found.src.endswith("/src")


@pytest.mark.parametrize("mangle", [
    lambda t: '#!/bin/sh\nexec /usr/bin/rkt "$@"\n',                      # a wrapper
    lambda t: t + "import os\n",                                          # one more line
    lambda t: t.replace("pyrkt.cli.rkt import main", "pyrkt.cli.runtime import main"),  # another command
    lambda t: t.replace(" -IS\n", " -I\n"),                               # site enabled
    lambda t: t.replace("'/opt/pyrkt/src'", "'opt/pyrkt/src'"),           # a relative path
    lambda t: t.replace("'/opt/pyrkt/src'", "\"/opt/pyrkt/it's\""),       # a quote in the path
    lambda t: t.replace("'/opt/pyrkt/src'", "'/opt/pyrkt/s\\x72c'"),      # an escape
    lambda t: t.replace("code = main()\n", "code = main()\nimport pty\n"),
])
def test_anything_else_is_not(mangle) -> None:  # type: ignore[no-untyped-def]
    assert inproc.parse(mangle(launcher_text("/opt/pyrkt/src", ["/s"]))) is None


def test_another_interpreter_is_execd(tmp_path) -> None:  # type: ignore[no-untyped-def]
    text = launcher_text("/", []).split("\n", 1)[1]
    rkt = tmp_path / "rkt"
    rkt.write_text("#!/bin/sh -IS\n" + text)
    assert inproc.parse(rkt.read_text()) is not None and inproc.find(str(rkt)) is None
    assert inproc.find(str(tmp_path / "missing")) is None
    rkt.write_text("x" * (inproc.MAX_LAUNCHER + 1))
    assert inproc.find(str(rkt)) is None


def test_code_others_can_write_is_not_loaded(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The right interpreter, but a source dir below a world-writable /tmp (or a tmp dir): exec'd."""
    rkt = tmp_path / "rkt"
    src = tmp_path / "src"
    src.mkdir()
    os.chmod(src, 0o777)
    rkt.write_text(launcher_text(str(src), []))
    found = inproc.parse(rkt.read_text())
    assert found is not None and os.path.realpath(found.python) == os.readlink("/proc/self/exe")
    assert inproc.find(str(rkt)) is None
