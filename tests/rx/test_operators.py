"""``hotstate_rx.rx.operators`` on virtual time (reactivex's TestScheduler)."""

from __future__ import annotations

import reactivex
from reactivex.testing.marbles import marbles_testing

from hotstate_rx.frozen import freeze
from hotstate_rx.patch import apply_patches
from hotstate_rx.rx.operators import same, select

TODOS = freeze({"todos": ["milk"], "config": {"theme": "dark"}})
THEME_CHANGED = apply_patches(TODOS, [{"op": "replace", "path": "/config/theme", "value": "x"}])
TODO_ADDED = apply_patches(THEME_CHANGED, [{"op": "add", "path": "/todos/-", "value": "eggs"}])
REBUILT = freeze({"todos": ["milk", "eggs"], "config": {"theme": "x"}})  # equal, not shared


def test_select_emits_nothing_when_another_slice_changes() -> None:
    assert THEME_CHANGED["todos"] is TODOS["todos"]
    with marbles_testing() as (start, cold, _hot, exp):
        states = cold("-a-b-c-d-|", {"a": TODOS, "b": THEME_CHANGED, "c": TODO_ADDED, "d": REBUILT})
        result = start(states.pipe(select(lambda s: s["todos"])))
        assert result == exp("-a---c---|", {"a": TODOS["todos"], "c": TODO_ADDED["todos"]})


def test_select_compares_by_equality_when_identity_differs() -> None:
    with marbles_testing() as (start, cold, _hot, exp):
        states = cold("-a-b-c-|", {"a": {"n": 1}, "b": {"n": 1}, "c": {"n": 2}})
        assert start(states.pipe(select(lambda s: dict(s)))) == exp(
            "-a---c-|", {"a": {"n": 1}, "c": {"n": 2}}
        )


def test_a_selector_that_raises_errors_the_stream() -> None:
    boom = KeyError("missing")

    def selector(state: dict) -> object:
        if "x" not in state:
            raise boom
        return state["x"]

    with marbles_testing() as (start, cold, _hot, exp):
        states = cold("-a-b-|", {"a": {"x": 1}, "b": {}})
        assert start(states.pipe(select(selector))) == exp("-a-#", {"a": 1}, boom)


def test_same_is_identity_then_equality() -> None:
    shared = [1]
    assert same(shared, shared)
    assert same([1], [1])
    assert not same([1], [2])


def test_identity_is_checked_before_equality() -> None:
    class NeverEqual:
        def __eq__(self, other: object) -> bool:
            raise AssertionError("== must not run on the very same object")

        __hash__ = object.__hash__

    slice_ = NeverEqual()
    seen: list[object] = []
    reactivex.of(1, 2, 3).pipe(select(lambda _s: slice_)).subscribe(seen.append)
    assert len(seen) == 1 and seen[0] is slice_
