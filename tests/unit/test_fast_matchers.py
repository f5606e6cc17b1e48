"""The regex-free matchers on rkt run's path accept exactly what their regexes accepted."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from pyrkt.image.digest import Digest
from pyrkt.image.errors import InvalidReference
from pyrkt.image.reference import is_ac_name, match_image_id

AC_NAME = re.compile(r"[a-z0-9]+(?:[~\-_./][a-z0-9]+)*")  # fullmatch: an AC name matches whole
IMAGE_ID = re.compile(r"^(sha256|sha512)-([0-9a-f]*)$")
DIGEST = re.compile(r"^(sha256|sha384|sha512)[:-]([0-9a-f]+)$")

_chars = st.text(alphabet="abz09~-_./A:\n é", max_size=12)
_ids = st.builds(lambda a, s, h, nl: a + s + h + nl, st.sampled_from(["sha256", "sha512", "sha384", "sha25", "md5", ""]),
                 st.sampled_from(["-", ":", "", "--"]), st.text(alphabet="0123456789abcdefg-", max_size=70),
                 st.sampled_from(["", "\n", "\n\n", " "]))


@given(st.one_of(_chars, st.from_regex(AC_NAME, fullmatch=True)))
def test_ac_name(text: str) -> None:
    assert is_ac_name(text) == bool(AC_NAME.fullmatch(text))


@given(_ids)
def test_image_id(text: str) -> None:
    m = IMAGE_ID.match(text)
    assert match_image_id(text) == (m.groups() if m else None)


@given(_ids)
def test_digest(text: str) -> None:
    m = DIGEST.match(text)
    try:
        d = Digest.parse(text)
    except InvalidReference:
        assert not m or len(m.group(2)) != {"sha256": 64, "sha384": 96, "sha512": 128}[m.group(1)]
    else:
        assert m and (d.algorithm, d.hex) == m.groups()


def test_examples() -> None:
    assert is_ac_name("example.com/busybox") and is_ac_name("a") and not is_ac_name("a\n") and not is_ac_name("web\n")
    assert not is_ac_name("") and not is_ac_name("-a") and not is_ac_name("a..b") and not is_ac_name("A")
    assert match_image_id("sha256-" + "a" * 64) == ("sha256", "a" * 64) and match_image_id("sha256") is None
    assert Digest.parse("sha256:" + "0" * 64).hex == "0" * 64


LABEL_VALUE = re.compile(r"[^,=\s]+")  # fullmatch: a version label matches whole


@given(st.text(alphabet="ab1.,= \t\n\u00a0é-", max_size=10))
def test_label_value(text: str) -> None:
    from pyrkt.image.reference import _LABEL_VALUE_RE

    assert _LABEL_VALUE_RE.match(text) == bool(LABEL_VALUE.fullmatch(text))
