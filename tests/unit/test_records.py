"""pyrkt.records.dataclass behaves as dataclasses.dataclass for what pyrkt uses.

Each case builds the same class with both decorators and compares what users
see: construction, defaults, errors, repr, equality, hashing, ordering,
frozenness.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import pytest

from pyrkt import records


def classes(frozen: bool = False, order: bool = False):  # type: ignore[no-untyped-def]
    out = []
    for dc, fld in ((dataclasses.dataclass, dataclasses.field), (records.dataclass, records.field)):
        @dc(frozen=frozen, order=order)
        class Thing:
            kind: ClassVar[str] = "thing"
            name: str
            size: int = 0
            tags: list[str] = fld(default_factory=list)
            note: str = fld(default="", compare=False)
            hidden: str = fld(default="h", repr=False)

            def describe(self) -> str:
                return f"{self.name}/{self.size}"
        out.append(Thing)
    return out


@pytest.mark.parametrize("frozen", [False, True])
def test_construction_repr_eq(frozen: bool) -> None:
    for cls in classes(frozen=frozen):
        a = cls("x", 2, ["t"], note="n")
        assert repr(a).endswith(".Thing(name='x', size=2, tags=['t'], note='n')")
        assert a == cls("x", 2, ["t"], note="other")  # note is not compared
        assert a != cls("x", 3, ["t"])
        assert (a == "x") is False
        assert cls("y").tags == [] and cls("y").tags is not cls("y").tags
        assert cls.kind == "thing" and a.describe() == "x/2"
        assert cls.__match_args__ == ("name", "size", "tags", "note", "hidden")
        assert cls.size == 0 and "tags" not in cls.__dict__


def test_errors_match() -> None:
    msgs = []
    for cls in classes():
        row = []
        for args, kwargs in (((), {}), (("a",), {"name": "b"}), (("a",), {"nope": 1}), (("a", 1, [], "", "", "extra"), {})):
            with pytest.raises(TypeError) as exc:
                cls(*args, **kwargs)
            row.append(str(exc.value).split("__init__()")[1])
        msgs.append(row)
    assert msgs[0] == msgs[1]


def test_hash_rules() -> None:
    plain, rec = classes()
    assert plain.__hash__ is None and rec.__hash__ is None
    fplain, frec = classes(frozen=True)
    for cls in (fplain, frec):
        assert hash(cls("x", 1, (), note="a")) == hash(cls("x", 1, (), note="b"))
    assert hash(frec("x", 1, ())) == hash(fplain("x", 1, ()))  # same tuple of compared fields


def test_frozen() -> None:
    for cls in classes(frozen=True):
        a = cls("x")
        with pytest.raises(dataclasses.FrozenInstanceError):
            a.name = "y"  # type: ignore[misc]
        with pytest.raises(dataclasses.FrozenInstanceError):
            del a.size  # type: ignore[misc]


def test_order() -> None:
    for cls in classes(frozen=True, order=True):
        assert cls("a", 2) < cls("b", 1) and cls("a", 2) >= cls("a", 1)
        assert sorted([cls("b"), cls("a")])[0].name == "a"
        with pytest.raises(TypeError):
            cls("a") < 1  # noqa: B015


def test_mutable_default_and_order_of_defaults() -> None:
    for dc in (dataclasses.dataclass, records.dataclass):
        with pytest.raises(ValueError, match="mutable default"):
            dc(type("Bad", (), {"__annotations__": {"x": "list[int]"}, "x": []}))
        with pytest.raises(TypeError, match="non-default argument 'y' follows default argument"):
            dc(type("Bad", (), {"__annotations__": {"x": "int", "y": "int"}, "x": 0}))


def test_explicit_methods_kept_and_post_init() -> None:
    @records.dataclass
    class Custom:
        a: int

        def __repr__(self) -> str:
            return "custom"

        def __post_init__(self) -> None:
            self.b = self.a * 2

    c = Custom(3)
    assert repr(c) == "custom" and c.b == 6


def test_inheritance() -> None:
    @records.dataclass(frozen=True)
    class Base:
        a: int
        b: int = 1

    @records.dataclass(frozen=True)
    class Child(Base):
        c: int = 2

    assert repr(Child(0)).endswith(".Child(a=0, b=1, c=2)")
    assert Child(0) != Base(0)


@pytest.mark.parametrize("frozen", [False, True])
def test_replace(frozen: bool) -> None:
    real, ours = classes(frozen=frozen)
    for cls, replace in ((real, dataclasses.replace), (ours, records.replace)):
        a = cls("x", 2, ["t"], note="n")
        b = replace(a, size=3)
        assert (b.name, b.size, b.tags, b.note) == ("x", 3, ["t"], "n") and b is not a and a.size == 2
        with pytest.raises(TypeError):
            replace(a, nope=1)
