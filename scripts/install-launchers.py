"""Replace pip's generated `pyrkt-runtime` script with a lean launcher.

pip's console scripts run with site enabled, which imports site-packages'
.pth files (the editable-install finder among them) on every start. The OCI
runtime is started once per container operation, so its launcher runs the
interpreter isolated and without site (`-IS`) and puts the source tree on
sys.path itself. The runtime uses the standard library only.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

LEAN = {"pyrkt-runtime": ("pyrkt.cli.runtime", "main")}


def main() -> None:
    venv_bin = Path(sys.executable).parent
    src = Path(__file__).resolve().parent.parent / "src"
    for name, (module, func) in LEAN.items():
        target = venv_bin / name
        text = (
            f"#!{venv_bin / 'python'} -IS\n"
            "import sys\n"
            f"sys.path.insert(0, {str(src)!r})\n"
            f"from {module} import {func}\n"
            f"sys.exit({func}())\n"
        )
        tmp = target.with_name(f".{name}.tmp")
        tmp.write_text(text)
        os.chmod(tmp, 0o755)
        os.replace(tmp, target)


if __name__ == "__main__":
    main()
