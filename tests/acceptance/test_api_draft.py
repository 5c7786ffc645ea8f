"""API.md §1: drafts and patches (pure, no I/O) — ``hotstate_rx.draft``."""

from __future__ import annotations

import copy
import datetime
import math
import time
from collections.abc import Callable
from typing import Any

import pytest

from hotstate_rx import PatchError
from hotstate_rx.draft import apply_patches, produce


def check(state: Any, recipe: Callable[[Any], object]) -> tuple[Any, list[dict[str, Any]]]:
    """Run ``produce`` and check the universal promises of §1 on the way."""
    before = copy.deepcopy(state)
    new, patches = produce(state, recipe)
    assert state == before, "produce mutated its input"
    assert apply_patches(state, patches) == new
    assert state == before, "apply_patches mutated its input"
    for op in patches:
        assert isinstance(op, dict) and op["op"] in {"add", "remove", "replace"}
    return new, patches


# -- the basic round trip ---------------------------------------------------------


def test_produce_returns_new_state_and_patches_that_rebuild_it() -> None:
    state = {"items": [{"id": 1, "done": False}], "n": 0}

    def recipe(d: Any) -> None:
        d["items"][0]["done"] = True
        d["n"] += 1

    new, patches = check(state, recipe)
    assert new == {"items": [{"id": 1, "done": True}], "n": 1}
    assert {"op": "replace", "path": "/items/0/done", "value": True} in patches


def test_untouched_recipe_returns_the_same_object_and_no_patches() -> None:
    state = {"a": {"b": [1, 2]}}
    new, patches = produce(state, lambda d: d["a"]["b"][0])
    assert new is state
    assert patches == []


def test_writing_the_same_value_is_no_change_or_an_equal_state() -> None:
    state = {"a": 1}

    def recipe(d: Any) -> None:
        d["a"] = 1

    new, _ = check(state, recipe)
    assert new == state


def test_recipe_return_value_is_ignored() -> None:
    state = {"a": 1}

    def recipe(d: Any) -> dict[str, int]:
        d["a"] = 2
        return {"other": 3}

    new, _ = check(state, recipe)
    assert new == {"a": 2}
    same, patches = produce(state, lambda d: {"x": 1})
    assert same is state and patches == []


def test_recipe_exception_propagates_and_changes_nothing() -> None:
    state = {"a": {"b": 1}, "l": [1]}
    before = copy.deepcopy(state)

    def recipe(d: Any) -> None:
        d["a"]["b"] = 99
        d["l"].append(2)
        raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        produce(state, recipe)
    assert state == before


# -- structural sharing ------------------------------------------------------------


def test_unchanged_subtrees_are_shared_by_identity() -> None:
    state = {"a": {"x": [1, 2]}, "b": {"y": {"z": 1}}, "c": [{"k": 1}, {"k": 2}]}

    def recipe(d: Any) -> None:
        d["b"]["y"]["z"] = 2
        d["c"][1]["k"] = 3

    new, _ = check(state, recipe)
    assert new["a"] is state["a"]
    assert new["a"]["x"] is state["a"]["x"]
    assert new["c"][0] is state["c"][0]
    assert new["b"] is not state["b"]
    assert new["c"][1] is not state["c"][1]


def test_chained_produces_keep_sharing() -> None:
    s1, _ = produce({"a": {"v": 1}, "b": {"v": 1}}, lambda d: d.__setitem__("n", 0))
    s2, _ = produce(s1, lambda d: d["a"].__setitem__("v", 2))
    assert s2["b"] is s1["b"]
    assert s2["a"] == {"v": 2} and s1["a"] == {"v": 1}


# -- JSON-like values only ---------------------------------------------------------


class Thing:
    pass


BAD_VALUES = [
    pytest.param({1, 2}, id="set"),
    pytest.param((1, 2), id="tuple"),
    pytest.param(b"raw", id="bytes"),
    pytest.param(datetime.datetime(2024, 1, 1), id="datetime"),
    pytest.param(Thing(), id="object"),
    pytest.param({1: "x"}, id="non-str-key"),
    pytest.param(math.nan, id="nan"),
    pytest.param(math.inf, id="inf"),
    pytest.param({"ok": [1, {"deep": {3}}]}, id="nested-set"),
]


@pytest.mark.parametrize("bad", BAD_VALUES)
def test_non_json_value_raises_type_error_naming_the_path_at_the_mutation(bad: Any) -> None:
    state = {"alpha": {"beta": 1}}
    seen: list[TypeError] = []

    def recipe(d: Any) -> None:
        with pytest.raises(TypeError) as info:
            d["alpha"]["gamma"] = bad
        seen.append(info.value)

    new, patches = produce(state, recipe)
    message = str(seen[0])
    assert "alpha" in message and "gamma" in message, message
    assert new is state and patches == [], "the state must be left unchanged"
    assert state == {"alpha": {"beta": 1}}


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda d: d["items"].append({1, 2}), id="append"),
        pytest.param(lambda d: d["items"].insert(0, (1,)), id="insert"),
        pytest.param(lambda d: d["items"].extend([b"x"]), id="extend"),
        pytest.param(lambda d: d["items"].__setitem__(0, Thing()), id="setitem"),
        pytest.param(lambda d: d.update({"x": math.inf}), id="update"),
        pytest.param(lambda d: d.setdefault("x", {2}), id="setdefault"),
        pytest.param(lambda d: d.__setitem__(7, "seven"), id="int-key"),
    ],
)
def test_every_way_of_storing_a_non_json_value_raises(mutate: Callable[[Any], object]) -> None:
    state = {"items": [0]}

    def recipe(d: Any) -> None:
        with pytest.raises(TypeError):
            mutate(d)

    new, patches = produce(state, recipe)
    assert new == {"items": [0]} and patches == []


def test_non_json_value_escaping_the_recipe_leaves_state_unchanged() -> None:
    state = {"a": 1}
    with pytest.raises(TypeError):
        produce(state, lambda d: d.__setitem__("a", {1}))
    assert state == {"a": 1}


# -- the draft behaves like a dict -------------------------------------------------


def test_dict_draft_reads_like_a_dict() -> None:
    state = {"a": 1, "b": {"c": 2}, "l": [1]}
    out: dict[str, Any] = {}

    def recipe(d: Any) -> None:
        out["in"] = ("a" in d, "zz" in d)
        out["len"] = len(d)
        out["iter"] = list(d)
        out["get"] = (d.get("a"), d.get("zz"), d.get("zz", 5))
        out["keys"] = list(d.keys())
        out["values0"] = next(iter(d.values()))
        out["items0"] = next(iter(d.items()))
        out["nested"] = d["b"]["c"]
        out["eq"] = (d == state, d["b"] == {"c": 2}, d["l"] == [1], d != {"a": 2})

    new, patches = produce(state, recipe)
    assert new is state and patches == []
    assert out == {
        "in": (True, False),
        "len": 3,
        "iter": ["a", "b", "l"],
        "get": (1, None, 5),
        "keys": ["a", "b", "l"],
        "values0": 1,
        "items0": ("a", 1),
        "nested": 2,
        "eq": (True, True, True, True),
    }


def test_dict_draft_mutators() -> None:
    state = {"a": 1, "b": 2, "c": 3, "d": {"e": 1}, "f": 0}
    out: dict[str, Any] = {}

    def recipe(d: Any) -> None:
        d["new"] = {"x": [1]}
        del d["a"]
        out["setdefault"] = (d.setdefault("b", 99), d.setdefault("s", 7))
        d.update({"u": 1}, v=2)
        out["pop"] = (d.pop("c"), d.pop("missing", "dflt"))
        d["d"]["e"] += 1
        d["new"]["x"].append(2)
        out["popitem"] = d.popitem()

    new, _ = check(state, recipe)
    assert out["setdefault"] == (2, 7)
    assert out["pop"] == (3, "dflt")
    assert out["popitem"] == ("v", 2)
    assert new == {"b": 2, "d": {"e": 2}, "f": 0, "new": {"x": [1, 2]}, "s": 7, "u": 1}


def test_dict_draft_clear_and_pop_missing_raises_key_error() -> None:
    def recipe(d: Any) -> None:
        with pytest.raises(KeyError):
            d.pop("missing")
        d["inner"].clear()

    new, _ = check({"inner": {"a": 1, "b": 2}, "k": 1}, recipe)
    assert new == {"inner": {}, "k": 1}


def test_iterating_yields_drafts_for_containers() -> None:
    state = {"items": [{"done": False}, {"done": False}], "m": {"x": {"n": 1}}}

    def recipe(d: Any) -> None:
        for item in d["items"]:
            item["done"] = True
        for value in d["m"].values():
            value["n"] = 2
        for _key, value in d["m"].items():
            value["k"] = 1

    new, _ = check(state, recipe)
    assert new == {"items": [{"done": True}, {"done": True}], "m": {"x": {"n": 2, "k": 1}}}


def test_key_escaping_in_patch_paths() -> None:
    def recipe(d: Any) -> None:
        d["a/b"] = 1
        d["m~n"] = 2

    new, patches = check({}, recipe)
    paths = {op["path"] for op in patches}
    assert paths == {"/a~1b", "/m~0n"}
    assert new == {"a/b": 1, "m~n": 2}


@pytest.mark.parametrize(
    "recipe",
    [
        pytest.param(lambda d: (d.__setitem__("b", d["a"]), d["b"].__setitem__("x", 7)), id="dict"),
        pytest.param(
            lambda d: (d["l"].append(d["a"]), d["a"].__setitem__("x", 7)), id="list-append"
        ),
    ],
)
def test_a_draft_stored_in_two_places_is_one_object_as_in_python(
    recipe: Callable[[Any], object],
) -> None:
    state = {"a": {"x": 1}, "l": []}
    expected = copy.deepcopy(state)
    recipe(expected)  # plain Python: both places hold the same dict, so both show x == 7
    new, _ = check(state, recipe)
    assert new == expected


# -- the draft behaves like a list -------------------------------------------------


@pytest.mark.parametrize(
    ("recipe", "expected"),
    [
        pytest.param(lambda xs: xs.append(9), [3, 1, 2, 9], id="append"),
        pytest.param(lambda xs: xs.extend([7, 8]), [3, 1, 2, 7, 8], id="extend"),
        pytest.param(lambda xs: xs.insert(1, 5), [3, 5, 1, 2], id="insert"),
        pytest.param(lambda xs: xs.insert(-1, 5), [3, 1, 5, 2], id="insert-negative"),
        pytest.param(lambda xs: xs.pop(), [3, 1], id="pop"),
        pytest.param(lambda xs: xs.pop(0), [1, 2], id="pop-index"),
        pytest.param(lambda xs: xs.pop(-2), [3, 2], id="pop-negative"),
        pytest.param(lambda xs: xs.remove(1), [3, 2], id="remove"),
        pytest.param(lambda xs: xs.clear(), [], id="clear"),
        pytest.param(lambda xs: xs.sort(), [1, 2, 3], id="sort"),
        pytest.param(lambda xs: xs.sort(reverse=True), [3, 2, 1], id="sort-reverse"),
        pytest.param(lambda xs: xs.sort(key=lambda v: -v), [3, 2, 1], id="sort-key"),
        pytest.param(lambda xs: xs.reverse(), [2, 1, 3], id="reverse"),
        pytest.param(lambda xs: xs.__iadd__([4]), [3, 1, 2, 4], id="iadd"),
        pytest.param(lambda xs: xs.__setitem__(0, 0), [0, 1, 2], id="setitem"),
        pytest.param(lambda xs: xs.__setitem__(-1, 0), [3, 1, 0], id="setitem-negative"),
        pytest.param(lambda xs: xs.__setitem__(slice(0, 2), [7]), [7, 2], id="slice-assign"),
        pytest.param(
            lambda xs: xs.__setitem__(slice(1, 1), [8, 9]), [3, 8, 9, 1, 2], id="slice-insert"
        ),
        pytest.param(lambda xs: xs.__delitem__(0), [1, 2], id="del"),
        pytest.param(lambda xs: xs.__delitem__(-1), [3, 1], id="del-negative"),
        pytest.param(lambda xs: xs.__delitem__(slice(0, 2)), [2], id="del-slice"),
    ],
)
def test_list_draft_mutators(recipe: Callable[[Any], object], expected: list[int]) -> None:
    state = {"l": [3, 1, 2], "other": {"keep": True}}
    new, _ = check(state, lambda d: recipe(d["l"]))
    assert new["l"] == expected
    assert new["other"] is state["other"]


def test_list_draft_plus_equals_statement_and_reads() -> None:
    out: dict[str, Any] = {}

    def recipe(d: Any) -> None:
        d["l"] += [4, 5]
        items = d["l"]
        out["reads"] = (
            len(items),
            items[-1],
            4 in items,
            items[1:3] == [2, 3],
            items == [1, 2, 3, 4, 5],
        )
        items[-2] = 40

    new, _ = check({"l": [1, 2, 3]}, recipe)
    assert new == {"l": [1, 2, 3, 40, 5]}
    assert out["reads"] == (5, 5, True, True, True)


def test_list_index_errors_behave_like_lists() -> None:
    def recipe(d: Any) -> None:
        with pytest.raises(IndexError):
            d["l"][5] = 1
        with pytest.raises(ValueError):
            d["l"].remove(42)

    new, patches = produce({"l": [1]}, recipe)
    assert new == {"l": [1]} and patches == []


def test_nested_lists_of_dicts() -> None:
    state = {"items": [{"id": i, "tags": []} for i in range(5)]}

    def recipe(d: Any) -> None:
        d["items"][2]["tags"].append("x")
        d["items"].insert(0, {"id": -1, "tags": ["new"]})
        del d["items"][-1]
        d["items"][-1]["id"] = 33

    new, _ = check(state, recipe)
    assert [item["id"] for item in new["items"]] == [-1, 0, 1, 2, 33]
    assert new["items"][3]["tags"] == ["x"]


# -- cost grows with the change, not with the state ---------------------------------


def _best_of(fn: Callable[[], object], runs: int = 5) -> float:
    best = math.inf
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def test_produce_and_apply_cost_do_not_grow_with_the_whole_state() -> None:
    small = {"big": {}, "small": {"x": 0}}
    big_state = {"big": {f"k{i}": {"v": [i]} for i in range(100_000)}, "small": {"x": 0}}
    # Both states come from a previous produce, as a store's state does.
    small, _ = produce(small, lambda d: d["small"].__setitem__("x", 1))
    big_state, _ = produce(big_state, lambda d: d["small"].__setitem__("x", 1))

    def change(d: Any) -> None:
        d["small"]["x"] += 1

    t_small = _best_of(lambda: produce(small, change))
    t_big = _best_of(lambda: produce(big_state, change))
    assert t_big < max(20 * t_small, 0.005), (t_small, t_big)

    _, patches = produce(big_state, change)
    a_small = _best_of(lambda: apply_patches(small, patches))
    a_big = _best_of(lambda: apply_patches(big_state, patches))
    assert a_big < max(20 * a_small, 0.005), (a_small, a_big)


def test_produce_on_a_plain_large_state_does_not_copy_it_deeply() -> None:
    big_state = {"big": {f"k{i}": {"v": [i]} for i in range(100_000)}, "small": {"x": 0}}
    deep = _best_of(lambda: copy.deepcopy(big_state), runs=1)
    t = _best_of(lambda: produce(big_state, lambda d: d["small"].__setitem__("x", 1)), runs=3)
    assert t < deep / 10, (t, deep)


# -- apply_patches -----------------------------------------------------------------


def test_apply_patches_supports_every_rfc6902_operation() -> None:
    doc = {"a": {"b": 1}, "l": [1, 2, 3], "s": "x"}
    before = copy.deepcopy(doc)
    patch = [
        {"op": "test", "path": "/a/b", "value": 1},
        {"op": "add", "path": "/l/1", "value": 9},
        {"op": "add", "path": "/l/-", "value": 4},
        {"op": "remove", "path": "/s"},
        {"op": "replace", "path": "/a/b", "value": {"c": True}},
        {"op": "copy", "from": "/a", "path": "/a2"},
        {"op": "move", "from": "/l/0", "path": "/first"},
        {"op": "add", "path": "/e~1f", "value": None},
        {"op": "add", "path": "/t~0u", "value": 1.5},
    ]
    result = apply_patches(doc, patch)
    assert doc == before
    assert result == {
        "a": {"b": {"c": True}},
        "a2": {"b": {"c": True}},
        "l": [9, 2, 3, 4],
        "first": 1,
        "e/f": None,
        "t~u": 1.5,
    }


def test_apply_patches_add_replaces_root_and_shares_untouched() -> None:
    doc = {"keep": {"x": 1}, "l": [1]}
    out = apply_patches(doc, [{"op": "add", "path": "/l/0", "value": 0}])
    assert out == {"keep": {"x": 1}, "l": [0, 1]}
    assert out["keep"] is doc["keep"]
    assert apply_patches(doc, [{"op": "replace", "path": "", "value": [1]}]) == [1]


@pytest.mark.parametrize(
    "patch",
    [
        pytest.param([{"op": "remove", "path": "/missing"}], id="remove-missing"),
        pytest.param([{"op": "replace", "path": "/missing", "value": 1}], id="replace-missing"),
        pytest.param([{"op": "add", "path": "/l/9", "value": 1}], id="add-out-of-range"),
        pytest.param([{"op": "add", "path": "/a/b/c", "value": 1}], id="add-no-parent"),
        pytest.param([{"op": "test", "path": "/a", "value": 2}], id="test-fails"),
        pytest.param([{"op": "move", "from": "/nope", "path": "/x"}], id="move-missing"),
        pytest.param([{"op": "copy", "from": "/nope", "path": "/x"}], id="copy-missing"),
        pytest.param([{"op": "frobnicate", "path": "/a"}], id="unknown-op"),
        pytest.param([{"op": "add", "path": "a", "value": 1}], id="bad-pointer"),
        pytest.param([{"op": "add", "path": "/l/x", "value": 1}], id="bad-index"),
        pytest.param([{"op": "move", "from": "/l", "path": "/l/0"}], id="move-into-child"),
    ],
)
def test_apply_patches_raises_patch_error_a_value_error(patch: list[dict[str, Any]]) -> None:
    doc = {"a": 1, "l": [1]}
    before = copy.deepcopy(doc)
    with pytest.raises(PatchError):
        apply_patches(doc, patch)
    with pytest.raises(ValueError):
        apply_patches(doc, patch)
    assert doc == before


def test_failed_patch_sequence_leaves_input_untouched() -> None:
    doc = {"a": 1}
    with pytest.raises(PatchError):
        apply_patches(
            doc, [{"op": "add", "path": "/b", "value": 2}, {"op": "remove", "path": "/z"}]
        )
    assert doc == {"a": 1}


# -- the draft against plain Python, on generated programs ------------------------------

LIST_OPS: list[tuple[str, Callable[[Any, int], object]]] = [
    ("append", lambda xs, v: xs.append(v)),
    ("insert", lambda xs, v: xs.insert(v % 5 - 2, v)),
    ("pop", lambda xs, v: xs.pop(v % len(xs) - len(xs)) if xs else None),
    ("setitem", lambda xs, v: xs.__setitem__(v % len(xs), v) if xs else None),
    ("slice", lambda xs, v: xs.__setitem__(slice(v % 3, v % 3 + 2), [v, v])),
    ("del-slice", lambda xs, v: xs.__delitem__(slice(-2, None))),
    ("iadd", lambda xs, v: xs.__iadd__([v])),
    ("sort", lambda xs, v: xs.sort(reverse=bool(v % 2))),
    ("reverse", lambda xs, v: xs.reverse()),
    ("remove", lambda xs, v: xs.remove(xs[0]) if xs else None),
]
DICT_OPS: list[tuple[str, Callable[[Any, int], object]]] = [
    ("set", lambda d, v: d.__setitem__(f"k{v % 4}", v)),
    ("del", lambda d, v: d.__delitem__(f"k{v % 4}") if f"k{v % 4}" in d else None),
    ("pop", lambda d, v: d.pop(f"k{v % 4}", None)),
    ("setdefault", lambda d, v: d.setdefault(f"k{v % 4}", v)),
    ("update", lambda d, v: d.update({f"k{v % 4}": -v})),
    ("nest", lambda d, v: d.__setitem__("inner", {"x": [v]})),
]


def _program(data: Any) -> list[tuple[str, str, int]]:
    from hypothesis import strategies as st

    step = st.tuples(
        st.sampled_from(["l", "n.l", "d", "n.d"]),
        st.integers(0, 9).map(str),
        st.integers(-50, 50),
    )
    return data.draw(st.lists(step, max_size=12))


def _run(root: Any, program: list[tuple[str, str, int]]) -> None:
    for where, which, value in program:
        target = root["n"] if where.startswith("n.") else root
        key = where.split(".")[-1]
        if key == "l":
            LIST_OPS[int(which) % len(LIST_OPS)][1](target[key], value)
        else:
            DICT_OPS[int(which) % len(DICT_OPS)][1](target[key], value)


def test_draft_matches_plain_python_on_generated_programs() -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    @settings(max_examples=150, deadline=None)
    @given(st.data())
    def prop(data: Any) -> None:
        program = _program(data)
        state = {"l": [3, 1, 2], "d": {"k0": 0}, "n": {"l": [], "d": {}}, "keep": {"z": 1}}
        expected = copy.deepcopy(state)
        _run(expected, program)
        new, _ = check(state, lambda d: _run(d, program))
        assert new == expected
        assert new["keep"] is state["keep"]

    prop()
