"""apply_patches: copy-on-write, sharing, frozen results, and refusals that name the op."""

from __future__ import annotations

from typing import Any

import pytest

from hotstate_rx.draft import apply_patches
from hotstate_rx.errors import PatchError
from hotstate_rx.frozen import FrozenDict, FrozenList, freeze

STATE = freeze({"a": {"x": 1}, "b": {"y": [1, 2, 3]}, "c": [{"k": 1}, {"k": 2}]})


def test_empty_patch_returns_same_object() -> None:
    assert apply_patches(STATE, []) is STATE


def test_copy_on_write_shares_untouched_subtrees() -> None:
    new = apply_patches(STATE, [{"op": "replace", "path": "/b/y/1", "value": 9}])
    assert new == {"a": {"x": 1}, "b": {"y": [1, 9, 3]}, "c": [{"k": 1}, {"k": 2}]}
    assert new["a"] is STATE["a"] and new["c"] is STATE["c"]
    assert type(new) is FrozenDict and type(new["b"]["y"]) is FrozenList
    assert STATE["b"]["y"] == [1, 2, 3]


def test_each_container_copied_once_per_call() -> None:
    patches = [{"op": "add", "path": "/b/y/-", "value": i} for i in range(3)]
    new = apply_patches(STATE, patches)
    assert new["b"]["y"] == [1, 2, 3, 0, 1, 2]


def test_all_six_ops() -> None:
    patches = [
        {"op": "add", "path": "/d", "value": {"z": [1]}},
        {"op": "remove", "path": "/a/x"},
        {"op": "replace", "path": "/c/0/k", "value": "one"},
        {"op": "move", "from": "/c/1", "path": "/moved"},
        {"op": "copy", "from": "/b", "path": "/b2"},
        {"op": "test", "path": "/b2/y", "value": [1, 2, 3]},
    ]
    new = apply_patches(STATE, patches)
    assert new == {
        "a": {},
        "b": {"y": [1, 2, 3]},
        "c": [{"k": "one"}],
        "d": {"z": [1]},
        "moved": {"k": 2},
        "b2": {"y": [1, 2, 3]},
    }
    assert new["b2"] is STATE["b"] and new["moved"] is STATE["c"][1]
    assert type(new["d"]["z"]) is FrozenList


def test_inserted_values_are_copied_and_frozen() -> None:
    value: dict[str, Any] = {"l": [1]}
    new = apply_patches(STATE, [{"op": "add", "path": "/v", "value": value}])
    value["l"].append(2)
    assert new["v"] == {"l": [1]}
    with pytest.raises(TypeError):
        new["v"]["l"].append(3)


def test_root_replace_and_add() -> None:
    assert apply_patches(STATE, [{"op": "replace", "path": "", "value": [1]}]) == [1]
    assert apply_patches(STATE, [{"op": "add", "path": "", "value": 2}]) == 2


def test_test_op_keeps_bools_and_numbers_apart() -> None:
    doc = freeze({"t": True, "one": 1, "f": 1.0})
    with pytest.raises(PatchError):
        apply_patches(doc, [{"op": "test", "path": "/t", "value": 1}])
    apply_patches(doc, [{"op": "test", "path": "/one", "value": 1.0}])


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"op": "add", "path": "/c/01", "value": 1}, "bad array index"),
        ({"op": "add", "path": "/c/3", "value": 1}, "out of range"),
        ({"op": "remove", "path": "/c/-"}, "bad array index"),
        ({"op": "replace", "path": "/zz", "value": 1}, "no member"),
        ({"op": "add", "path": "/a/x/y", "value": 1}, "int"),
        ({"op": "move", "from": "/b", "path": "/b/y/0"}, "own children"),
        ({"op": "test", "path": "/a/x", "value": 2}, "test failed"),
        ({"op": "add", "path": "/a"}, "missing 'value'"),
        ({"op": "add", "path": "a", "value": 1}, "start with '/'"),
        ({"op": "copy", "path": "/q"}, "missing 'from'"),
        ({"op": "jump", "path": "/q"}, "unknown op"),
        ({"path": "/q"}, "unknown op"),
        ({"op": "add", "path": "/q", "value": {1, 2}}, "not a JSON value"),
        ({"op": "remove", "path": ""}, "whole document"),
        ("nope", "must be an object"),
    ],
)
def test_refusals_name_the_op(patch: Any, message: str) -> None:
    ok = {"op": "add", "path": "/ok", "value": 1}
    with pytest.raises(PatchError, match=message) as err:
        apply_patches(STATE, [ok, patch])
    assert str(err.value).startswith("patch op 1 ")
    assert isinstance(err.value, ValueError)
    assert "ok" not in STATE


def test_plain_input_is_never_mutated() -> None:
    doc = {"a": [1, {"b": 2}]}
    new = apply_patches(doc, [{"op": "replace", "path": "/a/1/b", "value": 3}])
    assert doc == {"a": [1, {"b": 2}]} and new == {"a": [1, {"b": 3}]}
