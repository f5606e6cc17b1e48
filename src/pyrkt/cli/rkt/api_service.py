"""`rkt api-service [--listen=ADDR:PORT]`: serve rkt's gRPC API v1alpha (read-only).

Parsing only; the server is `pyrkt.service.api`, imported here and nowhere
else on a command's path (grpc is heavy).
"""

from __future__ import annotations

from pyrkt.cli.args import Flag
from pyrkt.cli.rkt.common import GlobalOptions, RktError, command

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

USAGE = """Usage: rkt api-service [--listen=ADDR:PORT]

Run API service (experimental): rkt's gRPC API v1alpha, read-only, over this --dir.

Flags:
  --listen=ADDR:PORT   address to listen on (default localhost:15441)
"""

FLAGS = (Flag("listen", takes_value=True, default="localhost:15441"),)


@command(FLAGS, USAGE)
def main(opts: GlobalOptions, values: dict[str, Any], rest: list[str]) -> int:
    if rest:
        raise RktError(f"api-service: unexpected argument {rest[0]!r}")
    try:
        # the installed launcher puts the venv's site-packages, where grpcio lives, on sys.path
        from pyrkt.service import api
    except ImportError as exc:
        raise RktError(f"api-service needs grpcio and protobuf (pip install grpcio protobuf): {exc}") from None
    config = api.ServiceConfig(dir=opts.dir, system_config=opts.system_config, local_config=opts.local_config,
                               user_config=opts.user_config, insecure_flags=",".join(sorted(opts.insecure_options)),
                               trust_keys_from_https=opts.trust_keys_from_https)
    try:
        return int(api.serve(config, str(values["listen"])))
    except api.ServiceError as exc:
        raise RktError(str(exc)) from None
