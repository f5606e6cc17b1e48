"""`rkt version`: the versions rkt prints."""

from __future__ import annotations

from pyrkt import OCI_VERSION, __version__
from pyrkt.cli.rkt.common import GlobalOptions


def main(opts: GlobalOptions, argv: list[str]) -> int:
    for arg in argv:
        if arg.startswith("-") and arg not in ("-h", "--help"):
            from pyrkt.cli.rkt.common import RktError

            raise RktError(f"unknown flag: {arg}")
    print(f"rkt Version: 1.30.0+pyrkt{__version__}")
    print(f"appc Version: 0.8.11")
    print(f"Go Version: none (pyrkt {__version__}, OCI runtime spec {OCI_VERSION})")
    print("Features: -TPM +SDJOURNAL")
    return 0
