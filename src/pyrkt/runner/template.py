"""rktrunner's templates: `{{.Username}} {{.Uid}} {{.Gid}} {{.HomeDir}}` and `{{.NAME}}` for host variables.

A template is parsed once into literal and variable parts (str.find, no `re`:
rkt-run starts per command). Substituted values are never re-scanned, so a
value holding `{{...}}` stays literal. Each rendering reports whether any value
came from the user's environment, so the caller can refuse a value that would
change the structure of what it lands in (a `,` in a --volume parameter, a
newline in the env file).
"""

from __future__ import annotations

BUILTINS = ("Username", "Uid", "Gid", "HomeDir")


class TemplateError(ValueError):
    """Not a template rktrunner accepts (unclosed `{{`, anything but `.Name` inside)."""


def parse(text: str) -> list[str | tuple[str]]:
    """Literal strings and 1-tuples holding a variable name."""
    out: list[str | tuple[str]] = []
    pos = 0
    while True:
        start = text.find("{{", pos)
        if start < 0:
            if pos < len(text):
                out.append(text[pos:])
            return out
        end = text.find("}}", start + 2)
        if end < 0:
            raise TemplateError(f"unclosed '{{{{' in {text!r}")
        if start > pos:
            out.append(text[pos:start])
        body = text[start + 2:end].strip()
        name = body[1:]
        if not body.startswith(".") or not name or not (name[0].isalpha() or name[0] == "_") or \
                not all(c.isalnum() or c == "_" for c in name):
            raise TemplateError(f"'{{{{{body}}}}}' is not a variable: use {{{{.Name}}}}")
        out.append((name,))
        pos = end + 2


def check(text: str) -> None:
    parse(text)


class Context:
    """The values templates see: the real user's passwd entry, then the caller's environment."""

    __slots__ = ("user", "env")

    def __init__(self, user: dict[str, str], env: dict[str, str]) -> None:
        self.user = user
        self.env = env

    def render(self, text: str, forbid_from_env: str = "", forbid_any: str = "",
               what: str = "") -> tuple[str, bool]:
        """(rendered text, whether a value came from the environment).

        A substituted value holding a character of `forbid_any` (whatever its
        source) or, for environment values, of `forbid_from_env`, is refused:
        such a value would split the option it is part of.
        """
        if "{{" not in text:
            return text, False
        parts = []
        from_env = False
        for part in parse(text):
            if isinstance(part, str):
                parts.append(part)
                continue
            name = part[0]
            if name in self.user:
                value = self.user[name]
                bad = forbid_any
            else:
                value = self.env.get(name, "")
                from_env = from_env or bool(value)
                bad = forbid_any + forbid_from_env
            for c in bad:
                if c in value:
                    shown = {"\n": "a newline", "\0": "a NUL", ",": "a comma", "=": "'='", ":": "':'"}.get(c, repr(c))
                    raise TemplateError(f"{{{{.{name}}}}} holds {shown}, which would change {what or 'the option'}")
            parts.append(value)
        return "".join(parts), from_env
