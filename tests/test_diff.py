"""Pure tests of hotstate_rx.diff: minimal RFC 6902 patches with structural sharing."""

from __future__ import annotations

import re
from typing import Any

import jsonpatch
import pytest
from hypothesis import given
from hypothesis import strategies as st

import hotstate_rx.diff
from hotstate_rx.diff import diff, json_equal
from hotstate_rx.frozen import FrozenDict, FrozenList, freeze, thaw


def check(old: Any, new: Any) -> tuple[Any, list[dict[str, Any]]]:
    """diff, then check the promises every result keeps."""
    old = freeze(old)
    state, patches = diff(old, new)
    assert json_equal(state, new)
    # An independent RFC 6902 implementation agrees that the patch gives the value.
    assert json_equal(freeze(jsonpatch.apply_patch(thaw(old), patches)), new)
    assert_frozen(state)
    return state, patches


def assert_frozen(value: Any) -> None:
    if isinstance(value, dict):
        assert type(value) is FrozenDict
        for v in value.values():
            assert_frozen(v)
    elif isinstance(value, list):
        assert type(value) is FrozenList
        for v in value:
            assert_frozen(v)


# -- nothing changed ---------------------------------------------------------


def test_same_object_gives_itself_and_no_patches() -> None:
    old = freeze({"a": [1, 2, {"b": None}]})
    assert diff(old, old) == (old, [])
    assert diff(old, old)[0] is old


def test_equal_plain_value_gives_the_old_object() -> None:
    old = freeze({"a": [1, 2, {"b": "x"}], "c": 1.5})
    state, patches = diff(old, {"a": [1, 2, {"b": "x"}], "c": 1.5})
    assert patches == []
    assert state is old


def test_shared_subtrees_are_not_walked(monkeypatch: pytest.MonkeyPatch) -> None:
    visited: list[str] = []
    walk = hotstate_rx.diff._diff

    def spy(old: Any, new: Any, path: str, ops: list[dict[str, Any]]) -> Any:
        visited.append(path)
        return walk(old, new, path, ops)

    monkeypatch.setattr(hotstate_rx.diff, "_diff", spy)
    old = freeze({"big": {"items": list(range(100))}, "n": 1})
    state, patches = diff(old, {"big": old["big"], "n": 2})
    assert patches == [{"op": "replace", "path": "/n", "value": 2}]
    assert state["big"] is old["big"]
    assert visited == ["", "/big", "/n"]


# -- objects -----------------------------------------------------------------


def test_nested_replace_keeps_siblings_identical() -> None:
    old = freeze({"todos": {"items": [{"id": 1}, {"id": 2}]}, "config": {"theme": "dark"}})
    new = thaw(old)
    new["config"]["theme"] = "light"
    state, patches = check(old, new)
    assert patches == [{"op": "replace", "path": "/config/theme", "value": "light"}]
    assert state["todos"] is old["todos"]
    assert state["config"] is not old["config"]


def test_add_and_remove_keys() -> None:
    state, patches = check({"a": 1, "b": 2}, {"b": 2, "c": [3]})
    assert patches == [
        {"op": "remove", "path": "/a"},
        {"op": "add", "path": "/c", "value": [3]},
    ]
    assert type(state["c"]) is FrozenList


def test_pointer_tokens_are_escaped() -> None:
    _, patches = check({"a/b": 1, "m~n": 1}, {"a/b": 2, "m~n": 2})
    assert [p["path"] for p in patches] == ["/a~1b", "/m~0n"]


# -- lists -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ([1, 2, 3], [1, 2, 3, 4], [{"op": "add", "path": "/3", "value": 4}]),
        ([1, 2, 3], [0, 1, 2, 3], [{"op": "add", "path": "/0", "value": 0}]),
        ([1, 2, 3], [1, 9, 2, 3], [{"op": "add", "path": "/1", "value": 9}]),
        ([1, 2, 3], [1, 3], [{"op": "remove", "path": "/1"}]),
        ([1, 2, 3], [], [{"op": "remove", "path": f"/{i}"} for i in (2, 1, 0)]),
        (
            [],
            [1, 2],
            [
                {"op": "add", "path": "/0", "value": 1},
                {"op": "add", "path": "/1", "value": 2},
            ],
        ),
        (
            [1, 2, 3, 4],
            [1, 7, 8, 4],
            [
                {"op": "replace", "path": "/1", "value": 7},
                {"op": "replace", "path": "/2", "value": 8},
            ],
        ),
    ],
)
def test_list_edits_are_minimal(old: list[int], new: list[int], expected: list[Any]) -> None:
    _, patches = check({"l": old}, {"l": new})
    assert patches == [{**p, "path": "/l" + p["path"]} for p in expected]


def test_one_insertion_at_the_front_of_a_long_list_is_one_op() -> None:
    old = freeze([{"id": i} for i in range(1000)])
    state, patches = check(old, [{"id": -1}, *thaw(old)])
    assert patches == [{"op": "add", "path": "/0", "value": {"id": -1}}]
    assert all(state[i + 1] is old[i] for i in range(1000))


def test_changed_list_item_is_patched_inside() -> None:
    old = freeze({"items": [{"id": 1, "done": False}, {"id": 2, "done": False}]})
    state, patches = check(old, {"items": [{"id": 1, "done": False}, {"id": 2, "done": True}]})
    assert patches == [{"op": "replace", "path": "/items/1/done", "value": True}]
    assert state["items"][0] is old["items"][0]


# -- kinds and JSON equality -------------------------------------------------


@pytest.mark.parametrize(("a", "b"), [(1, True), (1, 1.0), (0, False), ("1", 1), (None, 0)])
def test_values_equal_in_python_but_not_in_json_are_replaced(a: Any, b: Any) -> None:
    state, patches = check({"v": a}, {"v": b})
    assert patches == [{"op": "replace", "path": "/v", "value": b}]
    assert type(state["v"]) is type(b)


@pytest.mark.parametrize(("old", "new"), [(None, {"a": 1}), ({"a": 1}, [1]), ([1], "x")])
def test_root_of_another_kind_is_one_root_replace(old: Any, new: Any) -> None:
    _, patches = check(old, new)
    assert patches == [{"op": "replace", "path": "", "value": new}]


def test_a_dict_becoming_a_list_inside_is_replaced() -> None:
    _, patches = check({"a": {"0": 1}}, {"a": [1]})
    assert patches == [{"op": "replace", "path": "/a", "value": [1]}]


# -- bad input ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("new", "where"),
    [
        ({"a": [1, {1, 2}]}, "/a/1: set"),
        ({"a": [1, 2], "b": (1,)}, "/b: tuple"),
        ({"a": [1, float("nan")]}, "/a/1: float nan"),
        ({"a": [1, 2], "n": {3: 1}}, "/n: object key must be str, not int 3"),
        ({"a": [1, 2], 7: 1}, "the root: object key must be str, not int 7"),
    ],
)
def test_non_json_raises_naming_the_pointer(new: Any, where: str) -> None:
    old = freeze({"a": [1, 2], "n": {}})
    with pytest.raises(TypeError, match=re.escape("not a JSON value at " + where)):
        diff(old, new)


def test_inputs_are_not_mutated() -> None:
    old = freeze({"a": [1, 2], "b": {"c": 1}})
    new = {"a": [2], "b": {"d": 1}}
    before = thaw(new)
    diff(old, new)
    assert new == before
    assert old == {"a": [1, 2], "b": {"c": 1}}


# -- properties --------------------------------------------------------------

keys = st.text("ab~/", max_size=2)
scalars = st.none() | st.booleans() | st.integers(-3, 3) | st.sampled_from([0.5, 1.0]) | keys
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=12,
)


@given(json_values, json_values)
def test_patches_turn_old_into_new(old: Any, new: Any) -> None:
    check(old, new)


@given(json_values, json_values)
def test_equal_subtrees_are_shared(old: Any, new: Any) -> None:
    old = freeze({"keep": old, "change": 0})
    state, _ = diff(old, {"keep": thaw(new), "change": 1})
    assert (state["keep"] is old["keep"]) == json_equal(old["keep"], new)
