"""Replace pip's generated `pyrkt-runtime` script with a lean launcher.

pip's console scripts run with site enabled, which imports site-packages'
.pth files (the editable-install finder among them) on every start. The OCI
runtime is started once per container operation, so its launcher runs the
interpreter isolated and without site (`-IS`) and puts the source tree on
sys.path itself. The runtime uses the standard library only.

With -I, PYTHONDONTWRITEBYTECODE is ignored but a source tree that is not
writable would still be compiled on every start: `make install` runs
compileall on src/ so the .pyc files exist (see the Makefile).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

LEAN = {
    # name: (module, main, fast entry point "module:function" tried first, or
    # None); a fast entry point returns None when it did not handle the command
    # (pyrkt.cli.runtime_fast: the hot verbs' plain case, without `os`)
    "pyrkt-runtime": ("pyrkt.cli.runtime", "main", "pyrkt.cli.runtime_fast:fast_main"),
    # `rkt run` starts a pod per command and pays the same start-up costs; rkt
    # is standard library only too, and joins its fetch threads before returning
    "rkt": ("pyrkt.cli.rkt", "main", None),
}


def main() -> None:
    venv_bin = Path(sys.executable).parent
    src = Path(__file__).resolve().parent.parent / "src"
    for name, (module, func, fast) in LEAN.items():
        target = venv_bin / name
        if fast:
            fast_module, fast_func = fast.split(":")
            call = (
                f"from {fast_module} import {fast_func}\n"
                f"code = {fast_func}(sys.argv[1:])\n"
                "if code is None:\n"
                f"    from {module} import {func}\n"
                f"    code = {func}()\n"
            )
        else:
            call = f"from {module} import {func}\ncode = {func}()\n"
        text = (
            f"#!{venv_bin / 'python'} -IS\n"
            "import sys\n"
            f"sys.path.insert(0, {str(src)!r})\n"
            + call +
            # skip interpreter finalization (module teardown, GC: ~1-2 ms per
            # command); nothing in the runtime relies on atexit
            "try:\n"
            "    sys.stdout.flush()\n"
            "    sys.stderr.flush()\n"
            "except BaseException:\n"
            "    code = code or 120\n"
            # posix, not os: built in and loaded already (os costs ~1.6 ms)
            "import posix\n"
            "posix._exit(code if isinstance(code, int) else (0 if code is None else 1))\n"
        )
        tmp = target.with_name(f".{name}.tmp")
        tmp.write_text(text)
        os.chmod(tmp, 0o755)
        os.replace(tmp, target)


if __name__ == "__main__":
    main()
