"""Registry and https credentials from rkt's `auth.d/*.json`, and the 401 challenge parser.

Kept apart from `httpclient` (urllib) so a `docker://` fetch, which talks to the
registry through the lean `http1` client, loads neither urllib nor `re`, `json`,
`glob` or `dataclasses` for them.
"""

from __future__ import annotations

import os

from pyrkt import fastjson
from pyrkt.image.errors import FetchError
from pyrkt.records import dataclass


@dataclass(frozen=True)
class Credentials:
    user: str
    password: str

    def basic(self) -> str:
        import binascii

        return "Basic " + binascii.b2a_base64(f"{self.user}:{self.password}".encode(), newline=False).decode()


def load_credentials(config_dirs: list[str]) -> tuple[dict[str, Credentials], dict[str, Credentials]]:
    """rkt's auth.d files: (docker registries -> creds, https domains -> creds)."""
    docker: dict[str, Credentials] = {}
    https: dict[str, Credentials] = {}
    for d in config_dirs:
        if not d:
            continue
        auth_dir = os.path.join(d, "auth.d")
        try:
            names = sorted(n for n in os.listdir(auth_dir) if n.endswith(".json") and not n.startswith("."))
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as exc:
            raise FetchError(f"cannot read credentials dir {auth_dir}: {exc.strerror}") from None
        for name in names:
            path = os.path.join(auth_dir, name)
            try:
                with open(path, "rb") as f:
                    obj = fastjson.loads(f.read())
            except (OSError, ValueError) as exc:
                raise FetchError(f"bad credentials file {path}: {exc}") from None
            if not isinstance(obj, dict):
                raise FetchError(f"bad credentials file {path}: not a JSON object")
            creds = obj.get("credentials") or {}
            if not isinstance(creds, dict):
                raise FetchError(f"bad credentials file {path}: credentials is not an object")
            c = Credentials(str(creds.get("user", "")), str(creds.get("password", "")))
            if obj.get("rktKind") == "dockerAuth":
                for reg in obj.get("registries") or []:
                    docker[str(reg)] = c
            elif obj.get("rktKind") == "auth" and obj.get("type", "basic") == "basic":
                for dom in obj.get("domains") or []:
                    https[str(dom)] = c
    return docker, https


def parse_www_authenticate(value: str) -> tuple[str, dict[str, str]]:
    """`Bearer realm="...",service="...",scope="..."` -> ("bearer", {...}).

    Parameters are `name=token` or `name="quoted string"` (backslash escapes
    kept as the old regex did: `\\"` stays two characters), separated by commas.
    """
    scheme, _, rest = value.strip().partition(" ")
    params: dict[str, str] = {}
    i, n = 0, len(rest)
    while i < n:
        while i < n and rest[i] in " \t,":
            i += 1
        start = i
        while i < n and (rest[i].isalnum() or rest[i] == "_"):
            i += 1
        name = rest[start:i]
        j = i
        while j < n and rest[j] in " \t":
            j += 1
        if not name or j >= n or rest[j] != "=":
            i = max(i + 1, j)  # not name=value here: skip a character and look again
            continue
        j += 1
        while j < n and rest[j] in " \t":
            j += 1
        if j < n and rest[j] == '"':
            k = j + 1
            while k < n and rest[k] != '"':
                k += 2 if rest[k] == "\\" else 1
            if k >= n:  # unterminated quote: not a parameter
                i = j + 1
                continue
            params[name.lower()] = rest[j + 1:k]
            i = k + 1
        else:
            k = j
            while k < n and rest[k] not in " \t,":
                k += 1
            if k == j:
                i = j
                continue
            params[name.lower()] = rest[j:k]
            i = k
    return scheme.lower(), params
