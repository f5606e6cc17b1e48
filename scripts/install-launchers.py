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
console script added there is lean without an edit here. The launcher's text
comes from `pyrkt.launcher`, which rkt-run's recogniser (pyrkt.runner.inproc)
shares.

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


def site_dirs() -> list[str]:
    """The venv's site-packages directories (purelib, platlib), deduplicated."""
    paths = sysconfig.get_paths()
    dirs: list[str] = []
    for key in ("purelib", "platlib"):
        if paths[key] not in dirs:
            dirs.append(paths[key])
    return dirs


def console_scripts(pyproject: Path) -> dict[str, str]:
    """pyproject's [project.scripts]: name -> "module:function"."""
    with pyproject.open("rb") as f:
        scripts: dict[str, str] = dict(tomllib.load(f)["project"].get("scripts", {}))
    return scripts


def launcher_text(python: Path, src: Path, site: list[str], entry: str) -> str:
    """The source of one launcher (pyrkt.launcher says why it looks so)."""
    from pyrkt.launcher import text

    return text(str(python), str(src), site, entry)


def main() -> None:
    venv_bin = Path(sys.executable).parent
    root = Path(__file__).resolve().parent.parent
    src = root / "src"
    sys.path.insert(0, str(src))  # pyrkt.launcher, from this checkout whatever the venv holds
    site = site_dirs()
    for name, entry in console_scripts(root / "pyproject.toml").items():
        target = venv_bin / name
        text = launcher_text(venv_bin / "python", src, site, entry)
        tmp = target.with_name(f".{name}.tmp")
        tmp.write_text(text)
        os.chmod(tmp, 0o755)
        os.replace(tmp, target)


if __name__ == "__main__":
    main()
