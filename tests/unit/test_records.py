"""records.frozen behaves as dataclass(frozen=True) does, for what the charm relies on."""

from __future__ import annotations

import copy
import dataclasses
import pickle

import pytest

from records import Record, frozen


@frozen
class Point(Record):
    x: int
    y: int = 0
    tags: tuple[str, ...] = ()
    note: str = dataclasses.field(default="", compare=False, repr=False)


@dataclasses.dataclass(frozen=True)
class Reference:
    x: int
    y: int = 0
    tags: tuple[str, ...] = ()
    note: str = dataclasses.field(default="", compare=False, repr=False)


class Refusal(ValueError):
    pass


@frozen
class Strict(Record):
    _refused = Refusal
    value: int = 1


def test_fields_are_set_once_and_never_again():
    point = Point(1, 2)
    with pytest.raises(dataclasses.FrozenInstanceError, match="Point is frozen"):
        point.x = 3
    with pytest.raises(dataclasses.FrozenInstanceError):
        point.extra = 3  # no new attribute either
    with pytest.raises(dataclasses.FrozenInstanceError):
        del point.y
    assert (point.x, point.y) == (1, 2)


def test_a_class_may_name_the_error_it_refuses_with():
    with pytest.raises(Refusal, match="frozen"):
        Strict().value = 2
    assert [f.name for f in dataclasses.fields(Strict)] == ["value"]


@pytest.mark.parametrize(
    "a, b",
    [((1, 2), (1, 2)), ((1, 2), (1, 3)), ((1, 2, ("t",)), (1, 2, ("t",))), ((1,), (2,))],
)
def test_equality_hash_and_repr_as_a_frozen_dataclass(a, b):
    assert (Point(*a) == Point(*b)) == (Reference(*a) == Reference(*b))
    assert (hash(Point(*a)) == hash(Point(*b))) == (Reference(*a) == Reference(*b))
    assert repr(Point(*a)).removeprefix("Point") == repr(Reference(*a)).removeprefix("Reference")
    assert Point(*a, note="x") == Point(*a, note="y")  # compare=False is left out
    assert Point(*a) != Reference(*a)  # another class is never equal


def test_replace_fields_pickle_and_copy_work_as_on_any_dataclass():
    point = Point(1, 2, ("a",), note="n")
    moved = dataclasses.replace(point, y=5)
    assert (moved.x, moved.y, moved.note) == (1, 5, "n")
    assert [f.name for f in dataclasses.fields(point)] == ["x", "y", "tags", "note"]
    assert dataclasses.asdict(point) == {"x": 1, "y": 2, "tags": ("a",), "note": "n"}
    pickled = pickle.loads(pickle.dumps(point))  # noqa: S301 (made here)
    for again in (pickled, copy.deepcopy(point), copy.copy(point)):
        assert again == point
        with pytest.raises(dataclasses.FrozenInstanceError):
            again.x = 9


def test_only_records_can_be_frozen():
    with pytest.raises(TypeError, match=r"records\.Record"):
        frozen(type("Plain", (), {"__annotations__": {"x": "int"}}))
