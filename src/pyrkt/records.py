"""`dataclass` and `field` for pyrkt's value classes, without dataclasses' start-up cost.

Why: `rkt run` is timed against podman, and on its path ~25 value classes
(the pod grammar, appc manifests, references, store rows) were dataclasses.
Importing `dataclasses` pulls in `inspect` (ast, dis, tokenize: ~25 ms here),
and every decorated class compiles five or six generated methods with `exec`
(~1 ms each class). This module builds the same methods as closures over the
field list: nothing is compiled, and nothing heavy is imported.

It implements the subset pyrkt uses, with dataclasses' semantics: `frozen`,
`eq`, `order`, `repr`, `init`, the `__hash__` rules, `field(default=,
default_factory=, init=, repr=, compare=, hash=)`, the mutable-default check,
`__post_init__`, inheritance from another such class, and `ClassVar`
annotations skipped. Errors are the same types (a frozen assignment raises
`dataclasses.FrozenInstanceError`, imported only then). Not supported (a
TypeError says so): `InitVar`, `kw_only`, `slots`, `match_args=False`.

Type checkers see the real `dataclasses` (the `TYPE_CHECKING` branch), so mypy's
dataclass plugin checks every use exactly as before.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dataclasses import dataclass, field, replace
else:
    _MISSING = object()

    class _Field:
        """One field: what `field()` returns, completed with its name by the decorator."""

        __slots__ = ("name", "default", "default_factory", "init", "repr", "compare", "hash")

        def __init__(self, default, default_factory, init, repr, compare, hash):  # noqa: A002 - dataclasses' names
            self.name = ""
            self.default = default
            self.default_factory = default_factory
            self.init = init
            self.repr = repr
            self.compare = compare
            self.hash = hash

        def copy(self):
            f = _Field(self.default, self.default_factory, self.init, self.repr, self.compare, self.hash)
            f.name = self.name
            return f

    def field(*, default=_MISSING, default_factory=_MISSING, init=True, repr=True, hash=None, compare=True, metadata=None):  # noqa: A002
        """As `dataclasses.field` (metadata is accepted and ignored: nothing in pyrkt reads it)."""
        if default is not _MISSING and default_factory is not _MISSING:
            raise ValueError("cannot specify both default and default_factory")
        return _Field(default, default_factory, init, repr, compare, hash)

    def _is_classvar(annotation):
        if isinstance(annotation, str):
            head = annotation.split("[", 1)[0].strip()
            return head in ("ClassVar", "typing.ClassVar")
        typing = sys.modules.get("typing")  # a ClassVar object exists only if typing was imported
        return typing is not None and (annotation is typing.ClassVar or getattr(annotation, "__origin__", None) is typing.ClassVar)

    def _is_initvar(annotation):
        if isinstance(annotation, str):
            head = annotation.split("[", 1)[0].strip()
            return head in ("InitVar", "dataclasses.InitVar")
        return type(annotation).__name__ == "InitVar"

    def _collect(cls):
        fields = {}
        for base in reversed(cls.__mro__[1:]):
            for f in base.__dict__.get("__record_fields__", ()):
                fields[f.name] = f
        for name, annotation in cls.__dict__.get("__annotations__", {}).items():
            if _is_classvar(annotation):
                continue
            if _is_initvar(annotation):
                raise TypeError(f"pyrkt.records: InitVar is not supported ({cls.__qualname__}.{name})")
            value = cls.__dict__.get(name, _MISSING)
            if isinstance(value, _Field):
                f = value
                if f.default is _MISSING:
                    delattr(cls, name)
                else:
                    setattr(cls, name, f.default)
            else:
                f = _Field(value, _MISSING, True, True, True, None)
            f.name = name
            if f.default is not _MISSING and f.default.__class__.__hash__ is None:
                raise ValueError(f"mutable default {type(f.default)} for field {name} is not allowed: use default_factory")
            fields[name] = f
        return tuple(fields.values())

    def _set(cls, name, fn):
        """Add a method unless the class defines it itself (as dataclasses does)."""
        if name in cls.__dict__:
            return
        fn.__name__ = name
        fn.__qualname__ = f"{cls.__qualname__}.{name}"
        setattr(cls, name, fn)

    def _make_init(cls, fields, frozen):
        init_fields = tuple(f for f in fields if f.init)
        other = tuple(f for f in fields if not f.init and (f.default is not _MISSING or f.default_factory is not _MISSING))
        seen_default = False
        for f in init_fields:
            if f.default is not _MISSING or f.default_factory is not _MISSING:
                seen_default = True
            elif seen_default:
                raise TypeError(f"non-default argument {f.name!r} follows default argument")
        qual = cls.__qualname__
        count = len(init_fields)
        setter = object.__setattr__ if frozen else setattr
        post_init = hasattr(cls, "__post_init__")

        required = sum(1 for f in init_fields if f.default is _MISSING and f.default_factory is _MISSING)
        takes = f"{count + 1}" if required == count else f"from {required + 1} to {count + 1}"

        def __init__(self, *args, **kwargs):
            if len(args) > count:
                raise TypeError(f"{qual}.__init__() takes {takes} positional arguments but {len(args) + 1} were given")
            for i, f in enumerate(init_fields):
                name = f.name
                if i < len(args):
                    if name in kwargs:
                        raise TypeError(f"{qual}.__init__() got multiple values for argument {name!r}")
                    value = args[i]
                elif name in kwargs:
                    value = kwargs.pop(name)
                elif f.default is not _MISSING:
                    value = f.default
                elif f.default_factory is not _MISSING:
                    value = f.default_factory()
                else:
                    raise TypeError(f"{qual}.__init__() missing 1 required positional argument: {name!r}")
                setter(self, name, value)
            if kwargs:
                raise TypeError(f"{qual}.__init__() got an unexpected keyword argument {next(iter(kwargs))!r}")
            for f in other:
                setter(self, f.name, f.default if f.default is not _MISSING else f.default_factory())
            if post_init:
                self.__post_init__()

        return __init__

    def _process(cls, init, repr, eq, order, unsafe_hash, frozen):  # noqa: A002
        fields = _collect(cls)
        cls.__record_fields__ = fields
        names = tuple(f.name for f in fields)
        compared = tuple(f.name for f in fields if f.compare)
        hashed = tuple(f.name for f in fields if (f.compare if f.hash is None else f.hash))
        shown = tuple(f.name for f in fields if f.repr)

        def values(obj, which):
            return tuple(getattr(obj, n) for n in which)

        if init:
            _set(cls, "__init__", _make_init(cls, fields, frozen))
        if repr:
            def __repr__(self):
                return f"{self.__class__.__qualname__}(" + ", ".join(f"{n}={getattr(self, n)!r}" for n in shown) + ")"

            _set(cls, "__repr__", __repr__)
        if eq:
            def __eq__(self, other):
                if other.__class__ is self.__class__:
                    return values(self, compared) == values(other, compared)
                return NotImplemented

            _set(cls, "__eq__", __eq__)
        if order:
            if not eq:
                raise ValueError("eq must be true if order is true")
            for name, op in (("__lt__", lambda a, b: a < b), ("__le__", lambda a, b: a <= b),
                             ("__gt__", lambda a, b: a > b), ("__ge__", lambda a, b: a >= b)):
                if name in cls.__dict__:
                    raise TypeError(f"Cannot overwrite attribute {name} in class {cls.__name__}. Consider using functools.total_ordering")

                def compare(self, other, op=op):
                    if other.__class__ is self.__class__:
                        return op(values(self, compared), values(other, compared))
                    return NotImplemented

                _set(cls, name, compare)
        if frozen:
            for name in ("__setattr__", "__delattr__"):
                if name in cls.__dict__:
                    raise TypeError(f"Cannot overwrite attribute {name} in class {cls.__name__}")

            def __setattr__(self, name, value):
                if type(self) is cls or name in names:
                    from dataclasses import FrozenInstanceError

                    raise FrozenInstanceError(f"cannot assign to field {name!r}")
                super(cls, self).__setattr__(name, value)

            def __delattr__(self, name):
                if type(self) is cls or name in names:
                    from dataclasses import FrozenInstanceError

                    raise FrozenInstanceError(f"cannot delete field {name!r}")
                super(cls, self).__delattr__(name)

            _set(cls, "__setattr__", __setattr__)
            _set(cls, "__delattr__", __delattr__)
        # __hash__, by dataclasses' table (unsafe_hash, eq, frozen, explicit __hash__)
        class_hash = cls.__dict__.get("__hash__", _MISSING)
        explicit = not (class_hash is _MISSING or (class_hash is None and "__eq__" in cls.__dict__))

        def __hash__(self):
            return hash(values(self, hashed))

        if unsafe_hash:
            if explicit:
                raise TypeError(f"Cannot overwrite attribute __hash__ in class {cls.__name__}")
            cls.__hash__ = __hash__
        elif eq and frozen and not explicit:
            cls.__hash__ = __hash__
        elif eq and not frozen and not explicit:
            cls.__hash__ = None
        if "__match_args__" not in cls.__dict__:
            cls.__match_args__ = tuple(f.name for f in fields if f.init)
        if cls.__doc__ is None:
            cls.__doc__ = f"{cls.__name__}({', '.join(names)})"
        return cls

    def dataclass(cls=None, /, *, init=True, repr=True, eq=True, order=False, unsafe_hash=False, frozen=False,  # noqa: A002
                  match_args=True, kw_only=False, slots=False):
        """As `dataclasses.dataclass`, for the subset described in the module's docstring."""
        if kw_only or slots or not match_args:
            raise TypeError("pyrkt.records.dataclass: kw_only, slots and match_args=False are not supported")

        def wrap(c):
            return _process(c, init, repr, eq, order, unsafe_hash, frozen)

        return wrap if cls is None else wrap(cls)

    def replace(obj, /, **changes):
        """As `dataclasses.replace`: a copy of a record with some fields changed (frozen plans are updated so)."""
        for f in obj.__record_fields__:
            if not f.init:
                if f.name in changes:
                    raise ValueError(f"field {f.name} is declared with init=False, it cannot be specified with replace()")
            elif f.name not in changes:
                changes[f.name] = getattr(obj, f.name)
        return obj.__class__(**changes)

__all__ = ["dataclass", "field", "replace"]
