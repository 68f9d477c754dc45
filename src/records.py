"""Frozen records: dataclasses that cost a third as much to define as frozen dataclasses.

Every hook is a fresh process that defines every class again. On Python 3.11 and 3.12 a
`dataclass(frozen=True)` compiles six methods with one `exec` each (__init__, __repr__,
__eq__, __hash__, __setattr__, __delattr__): 0.8-0.9 ms a class here, about 25 ms of the
charm's import over its ~35 records (bench/hooks.py, docs/hook-cost.md). A `@frozen` class
has only its __init__ compiled; the other five are the same functions for every record,
defined once below, and behave as the frozen dataclass's do: fields compared and hashed by
value (those with compare=True), a repr of the fields (repr=True), and no assignment or
deletion after __init__ (FrozenInstanceError, or the class's own `_refused` error type).
`dataclasses.fields`, `replace` and `asdict` work on them as on any dataclass.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

T = TypeVar("T", bound=type)


class Record:
    """The shared methods of every @frozen class (subclass it, then decorate)."""

    __slots__ = ()
    _refused = dataclasses.FrozenInstanceError  # a class may name its own (not a field)

    def __setattr__(self, name: str, value: Any) -> None:
        # __init__ assigns each field once; nothing may assign again or add an attribute.
        if name in self.__dict__ or name not in self.__dataclass_fields__:  # type: ignore[attr-defined]
            raise self._refused(
                f"{type(self).__name__} is frozen: cannot assign to field {name!r}"
            )
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        raise self._refused(f"{type(self).__name__} is frozen: cannot delete field {name!r}")

    def _compared(self) -> tuple:
        return tuple(getattr(self, f.name) for f in dataclasses.fields(self) if f.compare)  # type: ignore[arg-type]

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._compared() == other._compared()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(self._compared())

    def __repr__(self) -> str:
        shown = (
            f"{f.name}={getattr(self, f.name)!r}"
            for f in dataclasses.fields(self)  # type: ignore[arg-type]
            if f.repr
        )
        return f"{type(self).__qualname__}({', '.join(shown)})"


def frozen(cls: T) -> T:
    """Make a Record subclass a dataclass with only its __init__ generated."""
    if not issubclass(cls, Record):
        raise TypeError(f"{cls.__name__} must subclass records.Record")
    return dataclasses.dataclass(repr=False, eq=False)(cls)
