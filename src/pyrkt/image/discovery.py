"""appc meta discovery: from `name[:version]` to an ACI URL, its signature, and keys.

The appc spec: GET `https://<name>?ac-discovery=1` and read the
`<meta name="ac-discovery" content="PREFIX TEMPLATE">` and
`<meta name="ac-discovery-pubkeys" content="PREFIX URL">` tags; if nothing
matches, try again with the last path component of the name removed, up to
the host. Templates substitute `{name}`, `{version}`, `{os}`, `{arch}`,
`{ext}` and any other label; a template with a variable left over does not
match. The ACI URL uses ext `aci`, its signature `aci.asc`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

from pyrkt.image.errors import FetchError
from pyrkt.image.httpclient import make_opener, request
from pyrkt.image.oci import host_platform

_VAR = re.compile(r"\{([^{}]+)\}")


class _MetaParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.metas: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag.lower() != "meta":
            return
        a = {k.lower(): (v or "") for k, v in attrs}
        if a.get("name") in ("ac-discovery", "ac-discovery-pubkeys"):
            self.metas.append((a["name"], a.get("content", "")))


def parse_meta(html: str) -> list[tuple[str, str, str]]:
    """The discovery meta tags of a page: (kind, prefix, template) each."""
    p = _MetaParser()
    p.feed(html)
    out = []
    for kind, content in p.metas:
        parts = content.split()
        if len(parts) == 2:
            out.append((kind, parts[0], parts[1]))
    return out


def render_template(template: str, values: dict[str, str]) -> str | None:
    """Fill a discovery template; None when a variable has no value."""
    missing = False

    def sub(m: re.Match[str]) -> str:
        nonlocal missing
        if m.group(1) not in values:
            missing = True
            return ""
        return values[m.group(1)]

    out = _VAR.sub(sub, template)
    return None if missing else out


def default_labels(labels: dict[str, str]) -> dict[str, str]:
    plat = host_platform()
    out = {"os": plat.os, "arch": plat.architecture, "version": "latest"}
    out.update(labels)
    return out


@dataclass
class Endpoints:
    aci: list[tuple[str, str]] = field(default_factory=list)  # (aci url, signature url)
    keys: list[str] = field(default_factory=list)


def discover(name: str, labels: dict[str, str], allow_http: bool = False, verify_tls: bool = True) -> Endpoints:
    """Walk the name's prefixes until a page gives ACI endpoints for it."""
    values = default_labels(labels)
    values["name"] = name
    opener = make_opener(verify_tls)
    parts = name.split("/")
    errors: list[str] = []
    eps = Endpoints()
    for i in range(len(parts), 0, -1):
        prefix_name = "/".join(parts[:i])
        html = None
        for scheme in ("https", "http") if allow_http else ("https",):
            url = f"{scheme}://{prefix_name}?ac-discovery=1"
            try:
                resp = request(opener, url)
            except FetchError as exc:
                errors.append(str(exc))
                continue
            with resp:
                if resp.status == 200:
                    html = resp.read(1 << 20).decode("utf-8", "replace")
                    break
                errors.append(f"{url}: HTTP {resp.status}")
        if html is None:
            continue
        for kind, prefix, template in parse_meta(html):
            if not name.startswith(prefix):
                continue
            if kind == "ac-discovery":
                aci = render_template(template, {**values, "ext": "aci"})
                sig = render_template(template, {**values, "ext": "aci.asc"})
                if aci and sig:
                    eps.aci.append((aci, sig))
            elif template not in eps.keys:
                eps.keys.append(template)
        if eps.aci:
            return eps
    detail = f" ({errors[-1]})" if errors else ""
    raise FetchError(f"discovery failed for {name}: no ac-discovery endpoint matched{detail}")
