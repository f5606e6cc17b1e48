"""Replace pip's generated console scripts with lean launchers.

pip's console scripts run with site enabled, which imports site-packages'
.pth files (the editable-install finder among them) on every start. pyrkt's
commands are started once per container or pod operation, so every launcher
runs the interpreter isolated and without site (`-IS`) and builds sys.path
itself: the source tree first, the venv's site-packages LAST. The commands'
hot paths use the standard library only, found before site-packages is ever
searched; optional dependencies (rich for the progress bar on a terminal,
zstandard for tar+zstd layers) are imported lazily and found at the end of the
path. No .pth file is processed: src/ is on the path already, which is all the
editable-install finder would add.

Every entry of pyproject's [project.scripts] gets such a launcher, so a
console script added there is lean without an edit here. FAST adds a fast
entry point to a script; EXTRA adds a launcher that is not a pip console
script.

With -I, PYTHONDONTWRITEBYTECODE is ignored but a source tree that is not
writable would still be compiled on every start: `make install` runs
compileall on src/ so the .pyc files exist (see the Makefile).
"""

from __future__ import annotations

import os
import sys
import sysconfig
import tomllib
from pathlib import Path

# name: fast entry point "module:function" tried before the script's own entry
# point; it returns None when it did not handle the command. One row per script
# that has one.
# (pyrkt-runtime has none: its fast lane is the first thing `pyrkt.cli.runtime:main` tries.)
FAST: dict[str, str] = {}

# name: "module:function" of a launcher that is not in [project.scripts]
EXTRA: dict[str, str] = {}


def site_dirs() -> list[str]:
    """The venv's site-packages directories (purelib, platlib), deduplicated."""
    paths = sysconfig.get_paths()
    dirs: list[str] = []
    for key in ("purelib", "platlib"):
        if paths[key] not in dirs:
            dirs.append(paths[key])
    return dirs


def console_scripts(pyproject: Path) -> dict[str, str]:
    """pyproject's [project.scripts] plus EXTRA: name -> "module:function"."""
    with pyproject.open("rb") as f:
        scripts: dict[str, str] = dict(tomllib.load(f)["project"].get("scripts", {}))
    scripts.update(EXTRA)
    return scripts


def launcher_text(python: Path, src: Path, site: list[str], entry: str, fast: str | None) -> str:
    """The source of one launcher (see the module docstring for why it looks so)."""
    module, func = entry.split(":")
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
    return (
        f"#!{python} -IS\n"
        "import sys\n"
        f"sys.path.insert(0, {str(src)!r})\n"
        # after the standard library: found only by the imports nothing else has
        + "".join(f"sys.path.append({d!r})\n" for d in site)
        + call
        # skip interpreter finalization (module teardown, GC: ~1-2 ms per
        # command); nothing in pyrkt relies on atexit
        + "try:\n"
        "    sys.stdout.flush()\n"
        "    sys.stderr.flush()\n"
        "except BaseException:\n"
        "    code = code or 120\n"
        # posix, not os: built in and loaded already (os costs ~1.6 ms)
        "import posix\n"
        "posix._exit(code if isinstance(code, int) else (0 if code is None else 1))\n"
    )


def main() -> None:
    venv_bin = Path(sys.executable).parent
    root = Path(__file__).resolve().parent.parent
    src = root / "src"
    site = site_dirs()
    for name, entry in console_scripts(root / "pyproject.toml").items():
        target = venv_bin / name
        text = launcher_text(venv_bin / "python", src, site, entry, FAST.get(name))
        tmp = target.with_name(f".{name}.tmp")
        tmp.write_text(text)
        os.chmod(tmp, 0o755)
        os.replace(tmp, target)


if __name__ == "__main__":
    main()
