"""Marble tests of hotstate_rx.rx on virtual time: no event loop, no socket.

With no loop running, the server delivers store notifications synchronously in
the mutating thread, so RxPY's TestScheduler drives stores, feeds and streams
deterministically.
"""

from __future__ import annotations

from typing import Any
from unittest.mock import ANY

import pytest
import reactivex
from reactivex import operators as ops
from reactivex.testing import ReactiveTest, TestScheduler
from reactivex.testing.subscription import Subscription

from hotstate_rx.rx import (
    LIFECYCLE_EVENT_TYPES,
    ServerError,
    StoreCreated,
    StoreDeleted,
    changes,
    derived_store,
    feed_events,
    feed_store,
    lifecycle_events,
)
from hotstate_rx.server import Hotstate, Server
from hotstate_rx.server.handle import StoreHandle
from hotstate_rx.server.lifecycle import LIFECYCLE_EVENTS
from hotstate_rx.server.store import Change, Removed

on_next = ReactiveTest.on_next
on_error = ReactiveTest.on_error
on_completed = ReactiveTest.on_completed
subscribe = ReactiveTest.subscribe


@pytest.fixture
def scheduler() -> TestScheduler:
    return TestScheduler()


@pytest.fixture
def server() -> Server:
    return Hotstate()


@pytest.fixture
def sensor(server: Server) -> StoreHandle:
    handle = server.create_store("Sensor", {"t": 0, "meta": {"unit": "C"}})
    handle.init()
    return handle


def at(scheduler: TestScheduler, ticks: int, action: Any) -> None:
    scheduler.schedule_absolute(ticks, lambda *_: action())


def patches_of(handle: StoreHandle, key: str | None = None) -> reactivex.Observable[Any]:
    """What subscribers of the instance receive: patches, or None for a snapshot."""
    return changes(handle, key).pipe(ops.map(lambda c: getattr(c, "patches", "removed")))


def replace(path: str, value: Any) -> list[dict[str, Any]]:
    return [{"op": "replace", "path": path, "value": value}]


# -- changes -----------------------------------------------------------------


def test_changes_of_a_store(scheduler: TestScheduler, server: Server) -> None:
    todos = server.create_store("Todos", {"items": []})
    todos.init()
    at(scheduler, 210, lambda: todos.update(lambda d: d["items"].append("milk")))
    at(scheduler, 220, lambda: todos.set({"items": []}))
    at(scheduler, 230, todos.delete)
    at(scheduler, 240, todos.init)

    results = scheduler.start(lambda: changes(todos))

    assert results.messages == [
        on_next(
            210,
            Change(
                "Todos",
                None,
                2,
                {"items": ["milk"]},
                [
                    {"op": "add", "path": "/items/-", "value": "milk"},
                ],
                ANY,
            ),
        ),
        on_next(220, Change("Todos", None, 3, {"items": []}, None, ANY)),
        on_next(230, Removed("Todos", None)),
        on_next(240, Change("Todos", None, 1, {"items": []}, None, ANY)),
    ]


def test_changes_of_one_dynamic_instance(scheduler: TestScheduler, server: Server) -> None:
    rooms = server.create_store("Room:*", {"n": 0})
    at(scheduler, 210, lambda: rooms.set("a", {"n": 1}))
    at(scheduler, 220, lambda: rooms.set("b", {"n": 1}))
    at(scheduler, 230, lambda: rooms.update("a", lambda d: d.update(n=2)))

    results = scheduler.start(lambda: changes(rooms, "a").pipe(ops.map(lambda c: c.version)))

    assert results.messages == [on_next(210, 1), on_next(210, 2), on_next(230, 3)]


def test_changes_of_a_server_covers_every_store(scheduler: TestScheduler, server: Server) -> None:
    a = server.create_store("A", 1)
    b = server.create_store("B", 1)
    at(scheduler, 210, lambda: a.set(2))
    at(scheduler, 220, lambda: b.set(2))

    results = scheduler.start(lambda: changes(server).pipe(ops.map(lambda c: (c.store, c.state))))

    assert results.messages == [
        on_next(210, ("A", 1)),  # first use: created from the defaults
        on_next(210, ("A", 2)),
        on_next(220, ("B", 1)),
        on_next(220, ("B", 2)),
    ]


def test_disposing_changes_unregisters(scheduler: TestScheduler, sensor: StoreHandle) -> None:
    at(scheduler, 210, lambda: sensor.set({"t": 1}))
    at(scheduler, 310, lambda: sensor.set({"t": 2}))

    results = scheduler.start(lambda: patches_of(sensor), disposed=300)

    assert results.messages == [on_next(210, None)]


def test_changes_checks_its_arguments(server: Server) -> None:
    rooms = server.create_store("Room:*", {})
    with pytest.raises(TypeError, match="dynamic store"):
        changes(rooms, None)
    with pytest.raises(TypeError, match="takes no key"):
        changes(server, "a")
    with pytest.raises(TypeError, match="Server or a StoreHandle"):
        changes("Room:*")  # type: ignore[arg-type]


# -- lifecycle_events -------------------------------------------------------------


def test_server_events_as_values(scheduler: TestScheduler, server: Server) -> None:
    rooms = server.create_store("Room:*", {})
    at(scheduler, 210, lambda: rooms.init("a"))
    at(scheduler, 220, lambda: rooms.delete("a"))

    results = scheduler.start(lambda: lifecycle_events(server, "store_created", "store_deleted"))

    assert results.messages == [
        on_next(210, StoreCreated("Room:a", "a")),
        on_next(220, StoreDeleted("Room:a")),
    ]


def test_server_events_rejects_unknown_names(server: Server) -> None:
    with pytest.raises(ValueError, match="unknown server event 'connect'"):
        lifecycle_events(server, "connect")


def test_every_server_event_has_a_value_type() -> None:
    assert set(LIFECYCLE_EVENT_TYPES) == LIFECYCLE_EVENTS


# -- feed_store -------------------------------------------------------------------


def test_feed_store_sends_the_difference(scheduler: TestScheduler, sensor: StoreHandle) -> None:
    meta = sensor.get()["meta"]
    source = scheduler.create_hot_observable(
        on_next(210, {"t": 1, "meta": {"unit": "C"}}),
        on_next(220, {"t": 1, "meta": {"unit": "C"}}),  # equal: nothing to send
        on_next(230, {"t": 2, "meta": {"unit": "C"}}),
        on_completed(240),
    )
    scheduler.schedule_absolute(200, lambda *_: feed_store(sensor, source))
    at(scheduler, 250, lambda: sensor.update(lambda d: d.update(t=9)))  # the store lives on

    results = scheduler.start(lambda: patches_of(sensor), subscribed=150)

    assert results.messages == [
        on_next(210, replace("/t", 1)),
        on_next(230, replace("/t", 2)),
        on_next(250, replace("/t", 9)),
    ]
    assert source.subscriptions == [subscribe(200, 240)]
    assert sensor.get()["meta"] is meta  # never replaced: selectors see no change


def test_feed_store_with_a_recipe(scheduler: TestScheduler, server: Server) -> None:
    log = server.create_store("Log:*", {"lines": []})
    source = scheduler.create_cold_observable(on_next(10, "boot"), on_next(20, "ready"))
    feed = []
    at(
        scheduler,
        200,
        lambda: feed.append(
            feed_store(log, source, "app", recipe=lambda d, line: d["lines"].append(line))
        ),
    )

    results = scheduler.start(lambda: patches_of(log, "app"), subscribed=150)

    assert results.messages == [
        on_next(200, None),  # feed_store creates the instance (init)
        on_next(210, [{"op": "add", "path": "/lines/-", "value": "boot"}]),
        on_next(220, [{"op": "add", "path": "/lines/-", "value": "ready"}]),
    ]


def test_a_root_of_other_kind_is_a_snapshot(scheduler: TestScheduler, sensor: StoreHandle) -> None:
    source = scheduler.create_hot_observable(on_next(210, [1, 2]), on_next(220, [1, 3]))
    at(scheduler, 200, lambda: feed_store(sensor, source))

    results = scheduler.start(lambda: patches_of(sensor), subscribed=150)

    assert results.messages == [on_next(210, None), on_next(220, replace("/1", 3))]


def test_deleting_the_instance_ends_the_feed(scheduler: TestScheduler, server: Server) -> None:
    rooms = server.create_store("Room:*", {"v": 0})
    source = scheduler.create_hot_observable(on_next(210, {"v": 1}), on_next(240, {"v": 2}))
    at(scheduler, 200, lambda: feed_store(rooms, source, "lab"))
    at(scheduler, 230, lambda: rooms.delete("lab"))

    scheduler.start(lambda: patches_of(rooms, "lab"))

    assert source.subscriptions == [subscribe(200, 230)]
    assert not rooms.has("lab")  # the item at 240 did not create it again


def test_disposing_the_feed_unsubscribes(scheduler: TestScheduler, sensor: StoreHandle) -> None:
    source = scheduler.create_hot_observable(on_next(210, {"t": 1}), on_next(230, {"t": 2}))
    feed = []
    at(scheduler, 200, lambda: feed.append(feed_store(sensor, source)))
    at(scheduler, 220, lambda: feed[0].dispose())

    scheduler.start(lambda: patches_of(sensor))

    assert source.subscriptions == [subscribe(200, 220)]
    assert sensor.get() == {"t": 1}


def test_bad_items_are_reported_and_skipped(scheduler: TestScheduler, server: Server) -> None:
    sensor = server.create_store("Sensor", {"t": 0})
    boom = ValueError("sensor unplugged")
    source = scheduler.create_hot_observable(
        on_next(210, {"t": {1, 2}}),  # not JSON
        on_next(220, {"t": 2}),
        on_error(230, boom),
    )
    at(scheduler, 200, lambda: feed_store(sensor, source))

    results = scheduler.start(lambda: lifecycle_events(server, "error"))

    [bad, failed] = results.messages
    assert bad.time == 210
    assert isinstance(bad.value.value.error, TypeError)
    assert "not a JSON value at /t: set" in str(bad.value.value.error)
    assert failed == on_next(230, ServerError(boom, None))
    assert sensor.get() == {"t": 2}
    assert source.subscriptions == [subscribe(200, 230)]


def test_a_raising_recipe_changes_nothing(scheduler: TestScheduler, sensor: StoreHandle) -> None:
    def recipe(draft: Any, item: int) -> None:
        draft["t"] = item
        if item < 0:
            raise ValueError("negative")

    source = scheduler.create_hot_observable(on_next(210, -1), on_next(220, 5))
    at(scheduler, 200, lambda: feed_store(sensor, source, recipe=recipe))

    results = scheduler.start(lambda: patches_of(sensor))

    assert results.messages == [on_next(220, replace("/t", 5))]


def test_feed_store_checks_its_arguments(server: Server) -> None:
    rooms = server.create_store("Room:*", {})
    todos = server.create_store("Todos", {})
    with pytest.raises(TypeError, match="dynamic store"):
        feed_store(rooms, reactivex.empty())
    with pytest.raises(TypeError, match="static store"):
        feed_store(todos, reactivex.empty(), "k")
    with pytest.raises(TypeError, match="reactivex Observable"):
        feed_store(todos, [1, 2])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="recipe must be callable"):
        feed_store(todos, reactivex.empty(), recipe="x")  # type: ignore[arg-type]


# -- derived_store ------------------------------------------------------------------


def test_derived_store_combines_two_stores(scheduler: TestScheduler, server: Server) -> None:
    todos = server.create_store("Todos", {"items": []})
    config = server.create_store("Config", {"theme": "dark"})
    for handle in (todos, config):
        handle.init()
    summary: list[StoreHandle] = []

    def derive() -> reactivex.Observable[Any]:
        source = reactivex.combine_latest(todos.observe(), config.observe()).pipe(
            ops.map(lambda tc: {"count": len(tc[0]["items"]), "theme": tc[1]["theme"]})
        )
        summary.append(derived_store(server, "Summary", source))
        return patches_of(summary[0])

    at(scheduler, 210, lambda: todos.update(lambda d: d["items"].append("milk")))
    at(scheduler, 220, lambda: config.set({"theme": "light"}))
    at(scheduler, 230, lambda: todos.update(lambda d: d["items"].append("eggs")))

    results = scheduler.start(derive)

    assert results.messages == [
        on_next(210, replace("/count", 1)),
        on_next(220, replace("/theme", "light")),
        on_next(230, replace("/count", 2)),
    ]
    assert summary[0].get() == {"count": 2, "theme": "light"}
    assert server.list_stores() == ["Todos", "Config", "Summary"]


def test_derived_store_with_initial_and_recipe(scheduler: TestScheduler, server: Server) -> None:
    clicks = scheduler.create_hot_observable(on_next(210, "a"), on_next(220, "b"))
    handle: list[StoreHandle] = []

    def count(draft: Any, item: str) -> None:
        draft[item] = draft.get(item, 0) + 1

    at(
        scheduler,
        200,
        lambda: handle.append(derived_store(server, "Clicks", clicks, initial={}, recipe=count)),
    )
    scheduler.start(lambda: reactivex.never())

    assert handle[0].get() == {"a": 1, "b": 1}


def test_derived_store_ends_its_feed_on_delete(scheduler: TestScheduler, server: Server) -> None:
    source = scheduler.create_hot_observable(on_next(210, {"v": 1}))
    at(scheduler, 200, lambda: derived_store(server, "D", source, initial={"v": 0}))
    at(scheduler, 220, lambda: server.delete_store("D"))

    scheduler.start(lambda: reactivex.never())

    assert source.subscriptions == [subscribe(200, 220)]


def test_derived_store_needs_a_first_value(server: Server) -> None:
    subscribed: list[str] = []
    source = reactivex.never().pipe(ops.finally_action(lambda: subscribed.append("disposed")))
    with pytest.raises(ValueError, match="emitted nothing at subscription; pass initial="):
        derived_store(server, "D", source)
    assert subscribed == ["disposed"]
    assert "D" not in server.stores


def test_derived_store_checks_its_arguments(server: Server) -> None:
    with pytest.raises(ValueError, match="a derived store is static"):
        derived_store(server, "Room:*", reactivex.of({}))
    with pytest.raises(TypeError, match="needs initial="):
        derived_store(server, "D", reactivex.of({}), recipe=lambda d, x: None)
    server.create_store("Taken", {})
    with pytest.raises(ValueError, match="already registered"):
        derived_store(server, "Taken", reactivex.of({}))


# -- feed_events -------------------------------------------------------------------


def test_feed_events_checks_its_arguments(server: Server) -> None:
    with pytest.raises(TypeError, match="non-empty str"):
        feed_events(server, "", reactivex.empty())
    with pytest.raises(TypeError, match="reactivex Observable"):
        feed_events(server, "tick", None)  # type: ignore[arg-type]


def test_feed_events_reports_non_json_items(scheduler: TestScheduler, server: Server) -> None:
    source = scheduler.create_hot_observable(on_next(210, {1, 2}), on_next(220, "ok"))
    at(scheduler, 200, lambda: feed_events(server, "tick", source))

    results = scheduler.start(lambda: lifecycle_events(server, "error"))

    [reported] = results.messages
    assert reported.time == 210
    assert "not a JSON value" in str(reported.value.value.error)
    assert source.subscriptions == [Subscription(200)]  # still feeding
