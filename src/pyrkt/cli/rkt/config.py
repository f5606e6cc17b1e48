"""`rkt config [--pretty-print]`: the effective configuration as JSON (rkt's stage0 entries)."""

from __future__ import annotations

import json

from pyrkt.cli.args import Flag
from pyrkt.cli.rkt._podcli import out
from pyrkt.cli.rkt.common import GlobalOptions, command

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

USAGE = """Usage: rkt config [--pretty-print]

Print configuration for each stage in JSON format.
"""

FLAGS = (Flag("pretty-print"),)


@command(FLAGS, USAGE)
def main(opts: GlobalOptions, values: dict[str, Any], _args: list[str]) -> int:
    cfg = {"stage0": [
        {"rktVersion": "v1", "rktKind": "paths", "data": opts.dir, "stage1-images": "/usr/lib/rkt/stage1-images"},
        {"rktVersion": "v1", "rktKind": "stage1", "name": "pyrkt/stage1-oci", "version": "builtin", "location": ""},
        {"rktVersion": "v1", "rktKind": "auth", "domains": [], "type": "none"},
        {"rktVersion": "v1", "rktKind": "dockerAuth", "registries": []},
        {"rktVersion": "v1", "rktKind": "config", "localConfigDir": opts.local_config, "systemConfigDir": opts.system_config,
         "userConfigDir": opts.user_config, "insecureOptions": sorted(opts.insecure_options)},
    ]}
    out((json.dumps(cfg, indent="\t") if values["pretty_print"] else json.dumps(cfg)) + "\n")
    return 0
