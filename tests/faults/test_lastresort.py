"""The last-resort handler: an unexpected exception is one line and a private debug log."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SRC = os.path.join(ROOT, "src")

_BOOM = """
import sys
import pyrkt.cli.rkt as rkt
import pyrkt.cli.rkt.version as version
def boom(opts, argv):
    raise KeyError("boom")
version.main = boom
sys.exit(rkt.main(sys.argv[1:]))
"""

_BOOM_RUNTIME = """
import sys
import pyrkt.cli.runtime as runtime
def boom(ctx, flags, args):
    {}["x"]
runtime.cmd_features = boom
sys.exit(runtime.main(sys.argv[1:]))
"""


def _py(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {SRC!r})\n" + code, *args],
                          capture_output=True, text=True, timeout=30)


def test_rkt_internal_error_is_one_line_and_a_private_log(tmp_path) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "rkt"
    data.mkdir(mode=0o700)
    p = _py(_BOOM, f"--dir={data}", "version")
    assert p.returncode == 254
    assert "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
    log = str(data / "debug.log")
    assert p.stderr.strip() == f"rkt: internal error: KeyError: 'boom'; details in {log}"
    text = open(log).read()
    assert "Traceback" in text and "KeyError: 'boom'" in text
    assert stat.S_IMODE(os.stat(log).st_mode) == 0o600


def test_internal_error_log_avoids_a_shared_dir(tmp_path) -> None:  # type: ignore[no-untyped-def]
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)  # anyone could have planted debug.log here: a private temp file instead
    p = _py(_BOOM, f"--dir={shared}", "version")
    assert p.returncode == 254
    log = p.stderr.strip().rsplit("details in ", 1)[1]
    try:
        assert not log.startswith(str(shared)) and "rkt-debug-" in log
        assert stat.S_IMODE(os.stat(log).st_mode) == 0o600
        assert "Traceback" in open(log).read()
    finally:
        os.unlink(log)


def test_runtime_internal_error_is_one_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    root = tmp_path / "root"
    root.mkdir(mode=0o700)
    p = _py(_BOOM_RUNTIME, "--root", str(root), "features")
    assert p.returncode == 1
    assert p.stderr.strip() == f"pyrkt-runtime: internal error: KeyError: 'x'; details in {root}/debug.log", p.stderr
    assert "Traceback" in open(root / "debug.log").read()


def test_fastjson_truncated_input_is_a_decode_error() -> None:
    # a fresh interpreter: json.decoder not imported yet (the C scanner then set no exception)
    p = _py("from pyrkt import fastjson\n"
            "for doc in ('{\"a\": [1, 2', '{\"a\": ', '[1,', '{\"a\" 1}', '\"abc'):\n"
            "    try:\n"
            "        fastjson.loads(doc)\n"
            "    except ValueError as e:\n"
            "        print(type(e).__name__)\n")
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["JSONDecodeError"] * 5
