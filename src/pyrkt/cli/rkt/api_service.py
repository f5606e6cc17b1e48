"""`rkt api-service [--listen=ADDR:PORT]`: serve rkt's gRPC API v1alpha (read-only).

Parsing only; the server is `pyrkt.service.api`, imported here and nowhere
else on a command's path (grpc is heavy).
"""

from __future__ import annotations

from pyrkt.cli.args import Flag
from pyrkt.cli.rkt.common import GlobalOptions, RktError, parse_flags

USAGE = """Usage: rkt api-service [--listen=ADDR:PORT]

Run API service (experimental): rkt's gRPC API v1alpha, read-only, over this --dir.

Flags:
  --listen=ADDR:PORT   address to listen on (default localhost:15441)
"""

FLAGS = (Flag("listen", takes_value=True, default="localhost:15441"),)


def import_with_site_packages(module: str, command: str):  # type: ignore[no-untyped-def]
    """Import `module`, adding the environment's site-packages first if it needs them.

    The installed `rkt` launcher runs Python with -I -S (scripts/install-launchers.py):
    no site-packages, which the pod and image commands do not need. grpcio and
    protobuf live there, so this command adds them for itself.
    """
    import importlib
    import sys

    try:
        return importlib.import_module(module)
    except ImportError:
        import os
        import site

        # with -S, sys.prefix is the base interpreter's: the venv is the one holding sys.executable
        venv = os.path.dirname(os.path.dirname(os.path.abspath(sys.executable)))
        if os.path.exists(os.path.join(venv, "pyvenv.cfg")):
            # a venv's layout (Debian's site.getsitepackages would name dist-packages)
            paths = [os.path.join(venv, "lib", f"python{sys.version_info[0]}.{sys.version_info[1]}", "site-packages")]
        else:
            paths = site.getsitepackages()
        for path in paths:
            site.addsitedir(path)
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise RktError(f"{command} needs grpcio and protobuf (pip install grpcio protobuf): {exc}") from None


def main(opts: GlobalOptions, argv: list[str]) -> int:
    parsed = parse_flags(argv, FLAGS, USAGE)
    if parsed is None:
        return 0
    values, rest = parsed
    if rest:
        raise RktError(f"api-service: unexpected argument {rest[0]!r}")
    api = import_with_site_packages("pyrkt.service.api", "api-service")
    config = api.ServiceConfig(dir=opts.dir, system_config=opts.system_config, local_config=opts.local_config,
                               user_config=opts.user_config, insecure_flags=",".join(sorted(opts.insecure_options)),
                               trust_keys_from_https=opts.trust_keys_from_https)
    try:
        return int(api.serve(config, str(values["listen"])))
    except api.ServiceError as exc:
        raise RktError(str(exc)) from None
