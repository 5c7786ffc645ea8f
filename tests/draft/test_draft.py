"""produce and drafts: the dict/list surface, patches, sharing, moves, aliases, revocation,
errors, returned states, cost."""

from __future__ import annotations

import copy
import datetime
import math
import time
from collections.abc import Callable
from typing import Any

import jsonpatch
import pytest

from hotstate_rx.draft import DictDraft, DraftSession, ListDraft, apply_patches, current, produce
from hotstate_rx.frozen import FrozenDict, FrozenList, freeze, thaw

BASE = freeze(
    {
        "items": [{"id": i, "done": False} for i in range(4)],
        "done": [],
        "meta": {"title": "t", "a/b": 1, "m~n": 2},
    }
)


def run(recipe: Any, state: Any = BASE) -> tuple[Any, list[dict[str, Any]]]:
    """produce, then check both patch appliers rebuild the new state from the old one."""
    new, patches = produce(state, recipe)
    assert apply_patches(state, patches) == new
    assert jsonpatch.apply_patch(thaw(state), patches) == new
    return new, patches


def test_toggle_shares_everything_else() -> None:
    def recipe(d: Any) -> None:
        d["items"][2]["done"] = True

    new, patches = run(recipe)
    assert patches == [{"op": "replace", "path": "/items/2/done", "value": True}]
    assert new["meta"] is BASE["meta"] and new["done"] is BASE["done"]
    assert all(new["items"][i] is BASE["items"][i] for i in (0, 1, 3))
    assert type(new) is FrozenDict and type(new["items"]) is FrozenList


def test_no_change_returns_same_object() -> None:
    def recipe(d: Any) -> None:
        d["items"][0]["done"] = False  # same value
        d["meta"] = d["meta"]
        d["meta"]["title"] = "t"
        d["x"] = 1
        del d["x"]  # add then remove folds away
        assert d["items"][1] == {"id": 1, "done": False}

    assert produce(BASE, recipe) == (BASE, [])
    assert produce(BASE, lambda d: None)[0] is BASE
    plain = {"a": {"b": [1, 2]}}  # not frozen: still handed back as it is

    def reads_only(d: Any) -> None:
        assert d["a"]["b"][0] == 1

    assert produce(plain, reads_only) == (plain, []) and produce(plain, reads_only)[0] is plain


def test_pointer_escaping() -> None:
    _, patches = run(lambda d: d["meta"].update({"a/b": 5, "m~n": 6}))
    assert [p["path"] for p in patches] == ["/meta/a~1b", "/meta/m~0n"]


def test_list_edits_are_one_op_each() -> None:
    def recipe(d: Any) -> None:
        items = d["items"]
        items.pop(0)
        items.insert(0, {"id": 9})
        items.remove({"id": 2, "done": False})

    _, patches = run(recipe)
    assert patches == [
        {"op": "remove", "path": "/items/0"},
        {"op": "add", "path": "/items/0", "value": {"id": 9}},
        {"op": "remove", "path": "/items/2"},
    ]


def test_repeated_writes_fold() -> None:
    def recipe(d: Any) -> None:
        d["n"] = 0
        for _ in range(1000):
            d["n"] += 1
            d["meta"]["title"] += "!"
        d["items"].append(1)
        d["items"][-1] = 2

    new, patches = run(recipe)
    assert len(patches) == 3 and new["n"] == 1000
    assert patches[-1] == {"op": "add", "path": "/items/-", "value": 2}


def test_move_then_mutate_lands_at_new_place() -> None:
    def recipe(d: Any) -> None:
        d["done"].append(d["items"].pop(0))
        d["done"][0]["done"] = True
        moved = d["items"].pop()
        d["meta"]["last"] = moved
        moved["done"] = "yes"

    new, _ = run(recipe)
    assert new["done"] == [{"id": 0, "done": True}]
    assert new["meta"]["last"] == {"id": 3, "done": "yes"}
    assert [i["id"] for i in new["items"]] == [1, 2]


def test_attached_draft_stored_twice_is_one_object_in_three_places() -> None:
    def recipe(d: Any) -> None:
        first = d["items"][0]
        d["copy"] = first
        d["items"].append(first)
        assert d["copy"] is first and d["items"][-1] is first
        first["done"] = True

    new, patches = run(recipe)
    assert new["copy"] == {"id": 0, "done": True}
    assert new["items"][0] is new["items"][-1] is new["copy"]
    assert patches[-3:] == [
        {"op": "replace", "path": "/items/0/done", "value": True},
        {"op": "replace", "path": "/copy/done", "value": True},
        {"op": "replace", "path": "/items/4/done", "value": True},
    ]


def test_detached_draft_mutations_do_not_reach_the_state() -> None:
    def recipe(d: Any) -> None:
        old = d["meta"]
        d["meta"] = {"new": True}
        old["title"] = "ghost"
        gone = d["items"][1]
        del d["items"][1]
        gone["done"] = "ghost"

    new, patches = run(recipe)
    assert new["meta"] == {"new": True} and "ghost" not in str(patches)
    assert len(new["items"]) == 3


def test_stored_values_are_frozen_copies() -> None:
    mine: dict[str, Any] = {"tags": ["a"]}

    def recipe(d: Any) -> None:
        d["mine"] = mine

    new, _ = run(recipe)
    mine["tags"].append("b")
    assert new["mine"] == {"tags": ["a"]} and type(new["mine"]["tags"]) is FrozenList


def test_produced_state_is_immutable() -> None:
    new, _ = run(lambda d: d["items"].append({"id": 9}))
    with pytest.raises(TypeError, match="immutable"):
        new["items"][-1]["id"] = 10
    with pytest.raises(TypeError, match="immutable"):
        new["items"].append(1)


@pytest.mark.parametrize(
    ("recipe", "where"),
    [
        (lambda d: d["items"][1].__setitem__("tags", {"a"}), "/items/1/tags: set"),
        (lambda d: d["items"].append({"x": (1,)}), "/items/4/x: tuple"),
        (lambda d: d["meta"].update({"a/b": b"x"}), "/meta/a~1b: bytes"),
        (lambda d: d["items"].insert(0, float("nan")), "/items/0: float nan"),
        (lambda d: d["meta"].__setitem__(3, 1), "object key must be str"),
        (lambda d: d["items"].__setitem__(slice(0, 1), [object()]), "/items/0: object"),
        (lambda d: d.__setitem__("when", datetime.date(2024, 1, 1)), "/when: date"),
        (lambda d: d["items"].append(math.inf), "/items/4: float inf"),
        (lambda d: d.__setitem__("m", {1: "x"}), "/m: object key must be str"),
        (lambda d: d.__setitem__("deep", {"ok": [1, {"no": {3}}]}), "/deep/ok/1/no: set"),
    ],
)
def test_non_json_values_raise_naming_the_path(recipe: Any, where: str) -> None:
    with pytest.raises(TypeError, match="not a JSON value at") as err:
        produce(BASE, recipe)
    assert where in str(err.value)


@pytest.mark.parametrize(
    "store",
    [
        pytest.param(lambda d: d.__setitem__("x", {1}), id="setitem"),
        pytest.param(lambda d: d["items"].append((1,)), id="append"),
        pytest.param(lambda d: d["items"].insert(0, b"x"), id="insert"),
        pytest.param(lambda d: d["items"].extend([1, b"x"]), id="extend"),
        pytest.param(lambda d: d["items"].__setitem__(slice(0, 1), [1, b"x"]), id="slice"),
        pytest.param(lambda d: d["meta"].update({"ok": 1}, bad=math.nan), id="update"),
        pytest.param(lambda d: d.setdefault("x", {2}), id="setdefault"),
        pytest.param(lambda d: d.__setitem__(7, "seven"), id="int-key"),
    ],
)
def test_a_refused_store_changes_nothing_and_the_recipe_can_go_on(store: Any) -> None:
    """Values are checked before anything is written: no half-done ``extend`` or ``update``."""

    def recipe(d: Any) -> None:
        with pytest.raises(TypeError, match="not a JSON value"):
            store(d)
        d["after"] = 1

    new, patches = run(recipe)
    assert patches == [{"op": "add", "path": "/after", "value": 1}]
    assert new["items"] is BASE["items"] and new["meta"] is BASE["meta"]


def test_recipe_exception_changes_nothing() -> None:
    def recipe(d: Any) -> None:
        d["items"].clear()
        raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        produce(BASE, recipe)
    assert len(BASE["items"]) == 4
    plain = thaw(BASE)  # a plain state could be mutated by mistake: it is not
    with pytest.raises(KeyError, match="boom"):
        produce(plain, recipe)
    assert plain == BASE


@pytest.mark.parametrize(
    ("fail", "error"),
    [
        pytest.param(lambda d: d["meta"].pop("nope"), KeyError, id="dict-pop"),
        pytest.param(lambda d: d["meta"].__delitem__("nope"), KeyError, id="dict-del"),
        pytest.param(lambda d: d["done"].pop(), IndexError, id="list-pop-empty"),
        pytest.param(lambda d: d["items"][4], IndexError, id="list-getitem"),
        pytest.param(lambda d: d["items"].__setitem__(-5, 1), IndexError, id="list-setitem"),
        pytest.param(lambda d: d["items"].remove(42), ValueError, id="list-remove"),
        pytest.param(
            lambda d: d["items"].__setitem__(slice(None, None, 2), [1]), ValueError, id="ext-slice"
        ),
    ],
)
def test_errors_are_those_of_dict_and_list_and_change_nothing(fail: Any, error: type) -> None:
    def recipe(d: Any) -> None:
        with pytest.raises(error):
            fail(d)

    assert produce(BASE, recipe) == (BASE, [])
    with pytest.raises(KeyError, match="dictionary is empty"):
        produce({}, lambda d: d.popitem())


def test_revocation() -> None:
    kept: list[Any] = []

    def recipe(d: Any) -> None:
        kept.extend([d, d["items"], d["items"][0]])

    produce(BASE, recipe)
    for draft in kept:
        with pytest.raises(RuntimeError, match="draft used after its recipe ended"):
            len(draft)
        assert "revoked" in repr(draft)
    with pytest.raises(RuntimeError, match="after its recipe ended"):
        kept[0]["x"] = 1


def test_session_api() -> None:
    session = DraftSession(BASE)
    assert isinstance(session.draft, DictDraft) and isinstance(session.draft["items"], ListDraft)
    session.draft["meta"]["title"] = "u"
    new, patches = session.finish()
    assert new["meta"]["title"] == "u" and patches[0]["path"] == "/meta/title"
    with pytest.raises(RuntimeError):
        session.finish()
    discarded = DraftSession(BASE)
    d = discarded.draft
    discarded.discard()
    with pytest.raises(RuntimeError):
        d["meta"]


def test_dict_surface() -> None:
    def recipe(d: Any) -> None:
        m = d["meta"]
        assert "title" in m and len(m) == 3 and list(m) == ["title", "a/b", "m~n"]
        assert m.get("nope", 7) == 7 and set(m.keys()) == {"title", "a/b", "m~n"}
        assert m.values()[0] == "t" and m.items()[1] == ("a/b", 1)
        assert m.setdefault("s", {"z": 1}) == {"z": 1}
        m.setdefault("s", 2)["z"] = 2
        assert m.pop("m~n") == 2 and m.pop("zz", None) is None
        assert m.popitem() == ("s", {"z": 2})
        m |= {"k": [1]}
        m.update({"u": 1}, v=2)
        del m["u"]
        assert m.popitem() == ("v", 2)
        assert m == {"title": "t", "a/b": 1, "k": [1]} and m != {}
        assert repr(m).startswith("DictDraft({")
        d["done"].append(m)  # an attached draft: now in two places
        m.clear()

    new, _ = run(recipe)
    assert new["meta"] == {} and new["done"] == [{}] and new["done"][0] is new["meta"]


def test_list_surface() -> None:
    def recipe(d: Any) -> None:
        ll = d["l"]
        assert ll == [1, 2, 3, 4, 5] and ll != [1] and d == {"l": [1, 2, 3, 4, 5]}
        assert ll[-1] == 5 and ll[1:3] == [2, 3] and ll.index(3) == 2 and ll.count(1) == 1
        assert 4 in ll and 9 not in ll and [x for x in ll] == [1, 2, 3, 4, 5]
        ll[-1] = 50
        ll[::2] = [10, 30, 500]
        del ll[0:2]
        ll += [7]
        ll *= 2
        ll.extend([8])
        ll.sort(reverse=True)
        ll.reverse()
        ll[1:3] = ["x"]
        ll.remove(7)
        ll.insert(-1, "i")
        ll.insert(100, "end")
        assert ll.pop() == "end"

    new, _ = run(recipe, freeze({"l": [1, 2, 3, 4, 5]}))
    assert new["l"] == [4, "x", 8, 30, 30, 500, "i", 500]  # as plain Python gives


def test_iteration_yields_drafts_for_containers() -> None:
    def recipe(d: Any) -> None:
        for item in d["items"]:
            item["done"] = item["id"] % 2 == 1
        for value in d.values():
            if isinstance(value, DictDraft):  # containers come as drafts
                value["seen"] = True
        for key, value in d.items():
            if key == "done":
                value.append("x")

    new, _ = run(recipe)
    assert [i["done"] for i in new["items"]] == [False, True, False, True]
    assert new["meta"]["seen"] is True and new["done"] == ["x"]


def test_augmented_assignment_through_the_parent_is_one_change() -> None:
    """``d["k"] += ...`` mutates the draft, then stores it back at its own slot: a no-op."""

    def recipe(d: Any) -> None:
        d["done"] += [1, 2]
        d["meta"] |= {"title": "u"}
        d["meta"]["title"] += "!"

    new, patches = run(recipe)
    assert patches == [
        {"op": "add", "path": "/done/-", "value": 1},
        {"op": "add", "path": "/done/-", "value": 2},
        {"op": "replace", "path": "/meta/title", "value": "u!"},
    ]
    assert new["done"] == [1, 2]


def test_sort_moves_drafts_with_their_elements() -> None:
    def recipe(d: Any) -> None:
        items = d["items"]
        third = items[3]
        items.sort(key=lambda item: -item["id"])
        third["done"] = True

    new, patches = run(recipe)
    assert new["items"][0] == {"id": 3, "done": True}
    assert patches[0]["op"] == "replace" and patches[0]["path"] == "/items"


def test_filter_by_slice_assignment_is_one_remove() -> None:
    def recipe(d: Any) -> None:
        d["items"][:] = [x for x in d["items"] if x["id"] != 1]

    new, patches = run(recipe)
    assert patches == [{"op": "remove", "path": "/items/1"}]
    assert new["items"][2] is BASE["items"][3]


def test_current() -> None:
    def recipe(d: Any) -> None:
        d["items"][0]["done"] = True
        snap = current(d["items"])
        assert type(snap) is FrozenList and snap[0] == {"id": 0, "done": True}
        d["items"][0]["done"] = 2
        assert snap[0]["done"] is True  # a snapshot never changes afterwards

    run(recipe)


def test_shared_empty_children_stay_empty() -> None:
    """Leaf drafts share one empty ``_children`` dict; no operation may insert into it."""
    from hotstate_rx.draft.node import _NO_CHILDREN

    def recipe(d: Any) -> None:
        items = d["items"]
        first = items.pop(0)
        d["done"].append(first)  # a detached leaf draft attached again
        first["done"] = True
        d["meta"].clear()
        items.sort(key=lambda item: -item["id"])
        items.insert(0, {"id": 9, "done": False})
        items[0]["id"] = 10

    new, _ = run(recipe)
    assert _NO_CHILDREN == {}
    assert new["done"] == [{"id": 0, "done": True}] and new["items"][0] == {"id": 10, "done": False}


# -- a draft in several places (aliases) ---------------------------------------------

ALIAS = freeze({"a": {"x": 1, "k": {"y": 1}}, "l": [], "keep": {"z": 1}})


@pytest.mark.parametrize("via", ["old", "new"])
def test_alias_in_dict_is_one_object(via: str) -> None:
    def recipe(d: Any) -> None:
        d["b"] = d["a"]
        (d["a"] if via == "old" else d["b"])["x"] = 7

    new, patches = run(recipe, ALIAS)
    assert new["a"] is new["b"] and new["a"]["x"] == 7
    assert new["a"]["k"] is ALIAS["a"]["k"] and new["keep"] is ALIAS["keep"]
    assert patches == [
        {"op": "add", "path": "/b", "value": {"x": 1, "k": {"y": 1}}},
        {"op": "replace", "path": "/a/x", "value": 7},
        {"op": "replace", "path": "/b/x", "value": 7},
    ]


def test_alias_in_list_then_mutate_through_both() -> None:
    def recipe(d: Any) -> None:
        d["l"].append(d["a"])
        d["a"]["x"] = 7
        d["l"][0]["k"]["y"] = 8
        d["l"][0]["new"] = [1]
        d["a"]["new"].append(2)

    new, patches = run(recipe, ALIAS)
    assert new["l"][0] is new["a"]
    assert new["a"] == {"x": 7, "k": {"y": 8}, "new": [1, 2]}
    assert {p["path"] for p in patches[1:]} == {
        "/a/x",
        "/l/0/x",
        "/a/k/y",
        "/l/0/k/y",
        "/a/new",
        "/l/0/new",
        "/a/new/-",
        "/l/0/new/-",
    }


@pytest.mark.parametrize(
    "remove",
    [
        pytest.param(lambda d: d.__delitem__("a"), id="del"),
        pytest.param(lambda d: d.pop("a"), id="pop"),
        pytest.param(lambda d: d.__setitem__("a", 0), id="overwrite"),
        pytest.param(lambda d: d["l"].remove({"x": 1, "k": {"y": 1}}), id="list-remove"),
        pytest.param(lambda d: d["l"].__delitem__(slice(None)), id="slice-del"),
        pytest.param(lambda d: d["l"].__setitem__(slice(0, 1), []), id="slice-set"),
        pytest.param(lambda d: d["l"].clear(), id="clear"),
    ],
)
def test_removing_one_place_leaves_the_others_live(remove: Any) -> None:
    def recipe(d: Any) -> None:
        a = d["a"]
        d["l"].append(a)
        remove(d)
        a["x"] = 7

    new, patches = run(recipe, ALIAS)
    places = [v for v in (new.get("a"), *new["l"]) if isinstance(v, dict)]
    assert len(places) == 1 and places[0]["x"] == 7
    assert sum(p["path"].endswith("/x") for p in patches) == 1


def test_popped_alias_is_still_live_and_stores_again_as_an_alias() -> None:
    def recipe(d: Any) -> None:
        d["l"].append(d["a"])
        a = d.pop("a")
        assert a is d["l"][0]
        d["c"] = a  # attached (in l): one more place, not a move
        a["x"] = 7

    new, _ = run(recipe, ALIAS)
    assert "a" not in new and new["c"] is new["l"][0] and new["c"]["x"] == 7


def test_detached_from_every_place_is_scratch_again_and_moves() -> None:
    def recipe(d: Any) -> None:
        a = d["a"]
        d["b"] = a
        del d["a"]
        d["b"] = 0
        a["x"] = "scratch"  # in no place: no effect
        d["l"].append(a)  # detached: moves, and later changes land there
        a["x"] = 9

    new, patches = run(recipe, ALIAS)
    assert new["l"] == [{"x": 9, "k": {"y": 1}}] and new["l"][0]["k"] is ALIAS["a"]["k"]
    assert [p["path"] for p in patches] == ["/b", "/a", "/b", "/l/-", "/l/0/x"]
    assert patches[3]["value"]["x"] == "scratch"  # its value when stored again, as in Python


def test_nested_aliases_record_every_path() -> None:
    def recipe(d: Any) -> None:
        a = d["a"]
        k = a["k"]
        a["k2"] = k  # k in two places of a
        d["b"] = a  # a in two places of the root: k in four
        k["y"] = 5

    new, patches = run(recipe, ALIAS)
    assert new["a"] is new["b"] and new["a"]["k"] is new["a"]["k2"]
    assert new["b"]["k2"] == {"y": 5}
    assert {p["path"] for p in patches if p["path"].endswith("/y")} == {
        "/a/k/y",
        "/a/k2/y",
        "/b/k/y",
        "/b/k2/y",
    }


def test_list_shifts_keep_every_place_right() -> None:
    def recipe(d: Any) -> None:
        items = d["items"]
        x = items[1]
        items.append(x)  # x at 1 and 4
        items.insert(0, "head")  # x at 2 and 5
        items.pop(1)  # x at 1 and 4
        d["done"].insert(0, x)  # and at /done/0
        items.insert(3, "mid")  # x at 1 and 5
        x["done"] = True
        items.reverse()  # x at 4 and 0
        x["id"] = 11
        items.sort(key=lambda v: str(v))  # anywhere: drafts follow their elements
        x["seen"] = 1

    new, patches = run(recipe)
    xs = [v for v in new["items"] if isinstance(v, dict) and v["id"] == 11]
    assert len(xs) == 2 and xs[0] is xs[1] is new["done"][0]
    assert xs[0] == {"id": 11, "done": True, "seen": 1}
    assert [p["path"] for p in patches if p["path"].endswith("/done")] == [
        "/items/1/done",
        "/items/5/done",
        "/done/0/done",
    ]


def test_same_draft_twice_in_one_list_via_imul_and_extend() -> None:
    def recipe(d: Any) -> None:
        items = d["items"]
        del items[1:]
        items *= 2  # like list: the same element twice
        items.extend(items)
        assert items[0] is items[1] is items[3]
        items[2]["done"] = "all"

    new, _ = run(recipe)
    assert new["items"] == [{"id": 0, "done": "all"}] * 4
    assert all(v is new["items"][0] for v in new["items"])


def test_slice_filter_keeps_an_aliased_element_in_place() -> None:
    def recipe(d: Any) -> None:
        items = d["items"]
        d["first"] = items[0]
        items[:] = [x for x in items if x["id"] != 2]
        items[0]["done"] = 1

    new, patches = run(recipe)
    assert new["first"] is new["items"][0] and new["first"]["done"] == 1
    assert {"op": "remove", "path": "/items/2"} in patches
    assert new["items"][2] is BASE["items"][3]


def _nothing(d: Any) -> None:
    pass


@pytest.mark.parametrize(
    ("setup", "bad", "where"),
    [
        pytest.param(
            _nothing, lambda d: d["a"].__setitem__("self", d["a"]), "/a/self", id="itself"
        ),
        pytest.param(
            _nothing, lambda d: d["a"]["k"].__setitem__("up", d["a"]), "/a/k/up", id="descendant"
        ),
        pytest.param(_nothing, lambda d: d["l"].append(d), "/l/0", id="root"),
        pytest.param(_nothing, lambda d: d["l"].__iadd__([1, d["l"]]), "/l/1", id="list-itself"),
        pytest.param(
            _nothing,
            lambda d: d["a"]["k"].update({"ok": 1, "up": d["a"]}),
            "/a/k/up",
            id="update-changes-nothing",
        ),
        pytest.param(
            lambda d: d.__setitem__("b", d["a"]),
            lambda d: d["b"]["k"].__setitem__("up", d["b"]),
            "/a/k/up",
            id="through-an-alias",
        ),
        pytest.param(
            lambda d: d["l"].append(d["a"]["k"]),
            lambda d: d["l"][0].__setitem__("up", d["a"]),
            "/a/k/up",
            id="ancestor-on-the-other-path",
        ),
        pytest.param(
            lambda d: d["keep"].__setitem__("p", d.pop("a")),
            lambda d: d["keep"]["p"]["k"].__setitem__("a", d["keep"]["p"]),
            "/keep/p/k/a",
            id="moved",
        ),
    ],
)
def test_storing_a_draft_inside_itself_raises_and_changes_nothing(
    setup: Any, bad: Any, where: str
) -> None:
    with pytest.raises(ValueError, match="cannot store a draft inside itself at") as err:
        produce(ALIAS, lambda d: (setup(d), bad(d)))
    assert where + ":" in str(err.value)
    expected = produce(ALIAS, setup)
    session = DraftSession(ALIAS)
    setup(session.draft)
    with pytest.raises(ValueError, match="JSON cannot hold a cycle"):
        bad(session.draft)
    assert session.finish() == expected


def test_cycle_in_a_detached_draft_names_its_path() -> None:
    def recipe(d: Any) -> None:
        a = d.pop("a")
        a["k"]["a"] = a

    with pytest.raises(ValueError, match=r"at /k/a \(in a detached draft\)"):
        produce(ALIAS, recipe)


def test_aliased_drafts_are_revoked_after_the_recipe() -> None:
    kept: list[Any] = []

    def recipe(d: Any) -> None:
        a = d["a"]
        d["b"] = a
        d["l"].append(a)
        kept.extend([a, a["k"], d["l"]])

    new, _ = run(recipe, ALIAS)
    assert new["b"] is new["a"] is new["l"][0]
    for draft in kept:
        with pytest.raises(RuntimeError, match="draft used after its recipe ended"):
            draft["x"] = 1
        assert "revoked" in repr(draft)


def test_an_aliased_state_is_plain_data_for_the_next_produce() -> None:
    first, _ = run(lambda d: d.__setitem__("b", d["a"]), ALIAS)
    assert first["a"] is first["b"]
    second, patches = run(lambda d: d["b"].__setitem__("x", 2), first)  # a new session: two drafts
    assert second["a"]["x"] == 1 and second["b"]["x"] == 2
    assert patches == [{"op": "replace", "path": "/b/x", "value": 2}]


# -- a recipe may return the new state, as in Immer ------------------------------------


def test_a_scalar_root_changes_by_returning_the_new_value() -> None:
    assert run(lambda n: n + 1, 5) == (6, [{"op": "replace", "path": "", "value": 6}])
    assert run(lambda s: s + "!", "hi") == ("hi!", [{"op": "replace", "path": "", "value": "hi!"}])
    assert produce(5, lambda n: None) == (5, [])  # a scalar draft is the value itself


def test_a_returned_value_replaces_the_state_with_one_root_replace() -> None:
    new, patches = run(lambda d: {"fresh": [1]})
    assert new == {"fresh": [1]} and type(new["fresh"]) is FrozenList
    assert patches == [{"op": "replace", "path": "", "value": new}]
    new, patches = run(lambda _: [1, 2], None)
    assert new == [1, 2] and patches == [{"op": "replace", "path": "", "value": [1, 2]}]


def test_a_returned_value_may_hold_drafts_which_stand_for_their_values() -> None:
    new, patches = run(lambda d: d["meta"])
    assert new is BASE["meta"] and patches == [{"op": "replace", "path": "", "value": new}]
    new, _ = run(lambda d: {"kept": d["items"], "n": len(d["items"])})
    assert new == {"kept": BASE["items"], "n": 4} and new["kept"] is BASE["items"]


def test_returning_the_draft_or_the_state_itself_is_not_a_replacement() -> None:
    def recipe(d: Any) -> Any:
        d["items"][0]["done"] = True
        return d

    new, patches = run(recipe)
    assert new["items"][0]["done"] is True
    assert patches == [{"op": "replace", "path": "/items/0/done", "value": True}]
    assert produce(BASE, lambda d: BASE) == (BASE, [])
    assert produce(5, lambda n: n) == (5, [])
    assert produce(2.5, lambda x: x + 0.0)[1] == []  # an equal scalar changes nothing


def _undone(d: Any) -> Any:
    d["x"] = 1
    del d["x"]
    return {"x": 2}


@pytest.mark.parametrize(
    "recipe",
    [
        pytest.param(lambda d: (d.__setitem__("x", 1), {"x": 2})[1], id="change-and-return"),
        pytest.param(_undone, id="change-undone-then-return"),
        pytest.param(lambda d: d["items"].pop(), id="a-lambda-that-returns-what-it-popped"),
    ],
)
def test_changing_the_draft_and_returning_a_value_raises(recipe: Any) -> None:
    kept: list[Any] = []
    state = thaw(BASE)
    with pytest.raises(ValueError, match="changed its draft and also returned a new state"):
        produce(state, lambda d: (kept.append(d), recipe(d))[1])
    with pytest.raises(RuntimeError, match="after its recipe ended"):
        kept[0]["x"] = 3
    assert state == BASE


@pytest.mark.parametrize(
    ("state", "returned", "message"),
    [
        pytest.param(BASE, {"tags": {"a"}}, "not a JSON value at /tags: set", id="nested"),
        pytest.param(5, (5,), "not a JSON value at the root: tuple", id="root"),
        pytest.param(BASE, math.nan, "not a JSON value at the root: float nan", id="nan"),
    ],
)
def test_a_returned_value_is_validated(state: Any, returned: Any, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        produce(state, lambda d: returned)


def test_draft_session_finish_takes_the_returned_value() -> None:
    session = DraftSession(BASE)
    new, patches = session.finish({"a": 1})
    assert new == {"a": 1} and patches == [{"op": "replace", "path": "", "value": {"a": 1}}]
    with pytest.raises(RuntimeError, match="already ended"):
        session.finish()


# -- cost grows with the change, not with the state ------------------------------------


def _best_of(fn: Callable[[], object], runs: int = 5) -> float:
    best = math.inf
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def test_cost_follows_the_change_not_the_state() -> None:
    """No deep copy, no freeze of the whole state, no diff: a 100,000-key state costs about
    what an empty one does (bounds are loose: a regression here is 1,000x, not 2x)."""
    plain_big = {"big": {f"k{i}": {"v": [i]} for i in range(100_000)}, "small": {"x": 0}}
    big, small = freeze(plain_big), freeze({"big": {}, "small": {"x": 0}})

    def change(d: Any) -> None:
        d["small"]["x"] += 1

    t_small = _best_of(lambda: produce(small, change))
    assert _best_of(lambda: produce(big, change)) < max(20 * t_small, 0.005)
    _, patches = produce(big, change)
    a_small = _best_of(lambda: apply_patches(small, patches))
    assert _best_of(lambda: apply_patches(big, patches)) < max(20 * a_small, 0.005)
    deep = _best_of(lambda: copy.deepcopy(plain_big), runs=1)
    assert _best_of(lambda: produce(plain_big, change), runs=3) < deep / 10
