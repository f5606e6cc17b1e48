"""tests/toolcheck.py and packages.apt agree, and no test skips on a missing tool any more."""

from __future__ import annotations

import os
import re

from toolcheck import FILES, TOOLS

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(TESTS)


def _apt_packages() -> set[str]:
    with open(os.path.join(REPO, "packages.apt")) as f:
        return {line.split("#", 1)[0].strip() for line in f} - {""}


def test_every_tool_the_tests_run_comes_from_packages_apt() -> None:
    listed = _apt_packages()
    assert "strace" in listed  # the parse reads the real file
    missing = {pkg for pkg in [*TOOLS.values(), *FILES.values()] if pkg not in listed}
    assert missing == set(), f"add to packages.apt: {sorted(missing)}"


# a skip on a missing tool (shutil.which / have() / "not installed") hides a broken set-up
_SKIP_ON_TOOL = re.compile(r"skipif\(\s*shutil\.which|skip\([^)]*not installed|importorskip\(")


def test_no_test_skips_on_a_missing_tool() -> None:
    found = []
    for top, _dirs, files in os.walk(TESTS):
        for name in files:
            if name.endswith(".py") and name != "test_toolcheck.py":
                path = os.path.join(top, name)
                with open(path) as f:
                    for n, line in enumerate(f, 1):
                        if _SKIP_ON_TOOL.search(line):
                            found.append(f"{os.path.relpath(path, TESTS)}:{n}: {line.strip()}")
    assert found == [], "use toolcheck.need_tools (fails) instead:\n" + "\n".join(found)
