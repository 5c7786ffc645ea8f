"""produce and drafts: the dict/list surface, patches, sharing, moves, revocation, errors."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import jsonpatch
import pytest

from hotstate_rx.draft import DictDraft, DraftSession, ListDraft, apply_patches, current, produce
from hotstate_rx.frozen import FrozenDict, FrozenList, freeze, thaw

BASE = freeze({
    "items": [{"id": i, "done": False} for i in range(4)],
    "done": [],
    "meta": {"title": "t", "a/b": 1, "m~n": 2},
})


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


def test_attached_draft_stored_twice_is_copied_by_value() -> None:
    def recipe(d: Any) -> None:
        first = d["items"][0]
        d["copy"] = first
        d["items"].append(first)
        first["done"] = True

    new, _ = run(recipe)
    assert new["copy"] == {"id": 0, "done": False} == new["items"][-1]
    assert new["items"][0] == {"id": 0, "done": True}


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
    ],
)
def test_non_json_values_raise_naming_the_path(recipe: Any, where: str) -> None:
    with pytest.raises(TypeError, match="not a JSON value at") as err:
        produce(BASE, recipe)
    assert where in str(err.value)


def test_recipe_exception_changes_nothing() -> None:
    def recipe(d: Any) -> None:
        d["items"].clear()
        raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        produce(BASE, recipe)
    assert len(BASE["items"]) == 4


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


def test_scalar_root_is_returned_unchanged() -> None:
    assert produce(5, lambda d: None) == (5, [])


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
        assert m == {"title": "t", "a/b": 1, "k": [1]} and m != {}
        assert repr(m).startswith("DictDraft({")
        d["done"].append(m)  # an attached draft: stored by value
        m.clear()

    new, _ = run(recipe)
    assert new["meta"] == {} and new["done"] == [{"title": "t", "a/b": 1, "k": [1]}]


def test_list_surface() -> None:
    def recipe(d: Any) -> None:
        ll = d["l"]
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


def test_pure_modules_import_no_io() -> None:
    banned = {"asyncio", "websockets", "reactivex", "textual", "nicegui"}
    drafts = ("draft", "_draft_session", "_draft_node", "_draft_dict", "_draft_list")
    for name in (*drafts, "patch", "frozen", "pointer"):
        path = Path(__file__).parent.parent / "hotstate_rx" / f"{name}.py"
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                assert not {a.name.split(".")[0] for a in node.names} & banned
            elif isinstance(node, ast.ImportFrom):
                assert (node.module or "").split(".")[0] not in banned


def test_shared_empty_children_stay_empty() -> None:
    """Leaf drafts share one empty ``_children`` dict; no operation may insert into it."""
    from hotstate_rx._draft_node import _NO_CHILDREN

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
