"""Frozen containers: immutable, still plain JSON to every consumer."""

from __future__ import annotations

import copy
import datetime
import json
import pickle
from enum import IntEnum

import msgpack
import pytest

from hotstate_rx.frozen import MAX_DEPTH, FrozenDict, FrozenList, as_plain, freeze, is_frozen, thaw
from hotstate_rx.pointer import escape_token, format_pointer, parse_pointer, unescape_token

DATA = {"items": [{"id": 1, "tags": ["a"], "x": None, "f": 1.5, "b": True}], "n": 0}


def test_freeze_makes_every_container_frozen_and_equal() -> None:
    f = freeze(DATA)
    assert f == DATA and type(f) is FrozenDict and type(f["items"]) is FrozenList
    assert type(f["items"][0]["tags"]) is FrozenList
    assert json.loads(json.dumps(f)) == DATA
    assert msgpack.unpackb(msgpack.packb(f)) == DATA
    assert is_frozen(f) and is_frozen(1) and not is_frozen({}) and not is_frozen([])


def test_freeze_of_frozen_is_identity() -> None:
    f = freeze(DATA)
    assert freeze(f) is f
    assert freeze({"a": f})["a"] is f


@pytest.mark.parametrize(
    ("value", "where", "what"),
    [
        ({"items": [{"tags": {"a"}}]}, "/items/0/tags", "set"),
        ({"a": (1, 2)}, "/a", "tuple"),
        ({"a": b"x"}, "/a", "bytes"),
        ({"a/b": {"c~d": datetime.date.today()}}, "/a~1b/c~0d", "date"),
        ({"a": float("nan")}, "/a", "nan"),
        ([1, float("inf")], "/1", "inf"),
        ({"a": {1: 2}}, "/a", "key must be str"),
        ({"a": IntEnum("E", "X").X}, "/a", "E"),
        (object(), "the root", "object"),
    ],
)
def test_freeze_rejects_non_json_naming_the_path(value: object, where: str, what: str) -> None:
    with pytest.raises(TypeError, match="not a JSON value at") as err:
        freeze(value)
    assert where in str(err.value) and what in str(err.value)


def test_freeze_path_prefix() -> None:
    with pytest.raises(TypeError, match="at /items/3/x: set"):
        freeze({"x": set()}, "/items/3")


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d, lst: d.__setitem__("n", 1),
        lambda d, lst: d.__delitem__("n"),
        lambda d, lst: d.clear(),
        lambda d, lst: d.pop("n"),
        lambda d, lst: d.popitem(),
        lambda d, lst: d.setdefault("z", 1),
        lambda d, lst: d.update(z=1),
        lambda d, lst: d.__ior__({"z": 1}),
        lambda d, lst: lst.append(1),
        lambda d, lst: lst.extend([1]),
        lambda d, lst: lst.insert(0, 1),
        lambda d, lst: lst.pop(),
        lambda d, lst: lst.remove(lst[0]),
        lambda d, lst: lst.clear(),
        lambda d, lst: lst.sort(),
        lambda d, lst: lst.reverse(),
        lambda d, lst: lst.__setitem__(0, 1),
        lambda d, lst: lst.__delitem__(0),
        lambda d, lst: lst.__iadd__([1]),
        lambda d, lst: lst.__imul__(2),
    ],
)
def test_every_mutation_raises(mutate: object) -> None:
    f = freeze(DATA)
    with pytest.raises(TypeError, match=r"hotstate state is immutable.*produce"):
        mutate(f, f["items"])  # type: ignore[operator]
    assert f == DATA


def test_augmented_assignment_raises() -> None:
    f = freeze({"l": [1]})
    lst = f["l"]
    with pytest.raises(TypeError):
        lst += [2]
    assert f == {"l": [1]}


def test_copies_are_plain_and_mutable() -> None:
    f = freeze(DATA)
    for c in (copy.copy(f), copy.deepcopy(f), thaw(f)):
        assert c == DATA and type(c) is dict and type(c["items"][0]["tags"]) is list
        c["items"][0]["tags"].append("z")
    assert f == DATA


def test_as_plain_copies_only_what_is_frozen() -> None:
    plain = {"items": [{"id": 1}], "n": None}
    assert as_plain(plain) is plain, "plain already: nothing to copy"
    frozen = freeze(plain)
    copied = as_plain(frozen)
    assert copied == plain and type(copied) is dict and type(copied["items"]) is list
    mixed = {"items": frozen["items"]}
    unmixed = as_plain(mixed)
    assert unmixed == mixed and unmixed is not mixed and type(unmixed["items"]) is list
    assert as_plain(5) == 5 and as_plain("s") == "s"


@pytest.mark.parametrize("wrap", [lambda v: [v], lambda v: {"k": v}])
def test_as_plain_refuses_a_plain_value_nested_too_deep(wrap: object) -> None:
    deep: object = 0
    for _ in range(MAX_DEPTH + 1):
        deep = wrap(deep)  # type: ignore[operator]
    with pytest.raises(ValueError, match="nested deeper than"):
        as_plain(deep)
    shallow: object = 0
    for _ in range(MAX_DEPTH):
        shallow = wrap(shallow)  # type: ignore[operator]
    assert as_plain(shallow) is shallow


def test_pickle_round_trip_stays_frozen() -> None:
    f = freeze(DATA)
    g = pickle.loads(pickle.dumps(f))
    assert g == f and type(g) is FrozenDict and type(g["items"][0]) is FrozenDict


def test_pointer_helpers() -> None:
    assert escape_token("a/b~c") == "a~1b~0c" and escape_token(3) == "3"
    assert unescape_token("~01") == "~1"
    assert parse_pointer("") == [] and parse_pointer("/a~1b/~0/") == ["a/b", "~", ""]
    assert format_pointer(["a/b", 0, "~"]) == "/a~1b/0/~0"
    for bad in ("a", "/~2", "/~"):
        with pytest.raises(ValueError):
            parse_pointer(bad)
