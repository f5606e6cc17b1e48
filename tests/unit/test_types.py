"""The package type-checks: mypy over src/pyrkt (settings in pyproject.toml) finds nothing."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_mypy_clean(tmp_path):
    import mypy  # noqa: F401 - the `test` extra: missing means `make install` did not run
    p = subprocess.run([sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "cache"), "src/pyrkt"],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
