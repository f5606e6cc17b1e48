"""`rkt metadata-service [--listen-port=18112]`: the appc metadata service for pods run with --mds-register.

Parsing only; the service is `pyrkt.service.mds`.
"""

from __future__ import annotations

from pyrkt.cli.args import Flag
from pyrkt.cli.rkt.common import GlobalOptions, RktError, command

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

USAGE = """Usage: rkt metadata-service [--listen-port=PORT]

Run metadata service: pods started with `rkt run --mds-register` register over the unix socket
/run/rkt/metadata-svc.sock; their apps query it over TCP at $AC_METADATA_URL.

Flags:
  --listen-port=PORT   TCP port for the apps' requests (default 18112)
"""

FLAGS = (Flag("listen-port", takes_value=True, default="18112"),)


@command(FLAGS, USAGE)
def main(opts: GlobalOptions, values: dict[str, Any], rest: list[str]) -> int:
    if rest:
        raise RktError(f"metadata-service: unexpected argument {rest[0]!r}")
    port = str(values["listen_port"])
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise RktError(f"--listen-port={port}: expected a TCP port number (1-65535)")
    from pyrkt.service import mds

    try:
        return mds.serve(int(port))
    except mds.MdsError as exc:
        raise RktError(str(exc)) from None
