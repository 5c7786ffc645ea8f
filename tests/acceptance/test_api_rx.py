"""API.md §4: every store and event stream is a ``reactivex.Observable``."""

from __future__ import annotations

import asyncio
import operator
from collections.abc import Callable
from typing import Any

import pytest
import reactivex
from acceptance_helpers import TIMEOUT, Connect, Recorder
from reactivex import operators as ops

from hotstate_rx import Hotstate, Server
from hotstate_rx.client import Client

Rec = Callable[[], Recorder]


class Observer:
    """Records on_next values, the error and completion of one subscription."""

    def __init__(self) -> None:
        self.values = Recorder()
        self.completed = asyncio.Event()
        self.errors: list[Exception] = []

    def attach(self, source: reactivex.Observable[Any]) -> Any:
        return source.subscribe(self.values, self.errors.append, lambda: self.completed.set())


# -- server: h.observe() -------------------------------------------------------------


async def test_observe_static_emits_current_then_every_new_state(server: Server) -> None:
    config = server.create_store("Config", {"theme": "dark"})
    config.init()
    source = config.observe()
    assert isinstance(source, reactivex.Observable)
    obs = Observer()
    sub = obs.attach(source)
    assert obs.values.items == [{"theme": "dark"}]
    config.update(lambda d: d.__setitem__("theme", "light"))
    config.set({"theme": "blue"})
    with config.mutate() as d:
        d["lang"] = "pt"
    await obs.values.count(4)
    assert obs.values.items == [
        {"theme": "dark"},
        {"theme": "light"},
        {"theme": "blue"},
        {"theme": "blue", "lang": "pt"},
    ]
    sub.dispose()
    config.set({"theme": "after"})
    assert len(obs.values.items) == 4


async def test_observe_dynamic_and_completes_on_delete(server: Server) -> None:
    rooms = server.create_store("Room:*", {"messages": []})
    rooms.init("general")
    obs, other = Observer(), Observer()
    obs.attach(rooms.observe("general"))
    rooms.init("random")
    other.attach(rooms.observe("random"))
    rooms.update("general", lambda d: d["messages"].append("hi"))
    await obs.values.count(2)
    assert obs.values.items == [{"messages": []}, {"messages": ["hi"]}]
    rooms.delete("general")
    await asyncio.wait_for(obs.completed.wait(), TIMEOUT)
    assert obs.errors == []
    assert other.values.items == [{"messages": []}]
    assert not other.completed.is_set()


async def test_observe_static_completes_on_delete(server: Server) -> None:
    config = server.create_store("Config", {"v": 1})
    config.init()
    obs = Observer()
    obs.attach(config.observe())
    config.delete()
    await asyncio.wait_for(obs.completed.wait(), TIMEOUT)


async def test_observe_sees_mutations_from_another_thread_in_order(server: Server) -> None:
    import threading

    counter = server.create_store("Counter", {"n": 0})
    counter.init()
    obs = Observer()
    obs.attach(counter.observe())

    def work() -> None:
        for _ in range(100):
            counter.update(lambda d: d.__setitem__("n", d["n"] + 1))

    thread = threading.Thread(target=work)
    thread.start()
    await obs.values.until(lambda s: s["n"] == 100)
    thread.join()
    assert [s["n"] for s in obs.values.items] == list(range(101))


async def test_server_states_are_immutable_and_share_structure(server: Server) -> None:
    store = server.create_store("S", {"a": {"x": [1]}, "b": {"y": [2]}})
    store.init()
    obs = Observer()
    obs.attach(store.observe())
    store.update(lambda d: d["a"]["x"].append(3))
    first, second = await obs.values.count(2)
    assert second["b"] is first["b"]
    assert second["a"] is not first["a"]
    with pytest.raises((TypeError, AttributeError)):
        second["b"]["z"] = 1
    with pytest.raises((TypeError, AttributeError)):
        second["a"]["x"].append(4)
    assert store.get() == {"a": {"x": [1, 3]}, "b": {"y": [2]}}


async def test_distinct_until_changed_on_a_slice_by_identity(server: Server) -> None:
    store = server.create_store("S", {"todos": [], "config": {"theme": "dark"}})
    store.init()
    slices = Recorder()
    store.observe().pipe(
        ops.map(operator.itemgetter("config")),
        ops.distinct_until_changed(comparer=operator.is_),
    ).subscribe(slices)
    store.update(lambda d: d["todos"].append(1))
    store.update(lambda d: d["todos"].append(2))
    store.update(lambda d: d["config"].__setitem__("theme", "light"))
    await slices.count(2)
    assert slices.items == [{"theme": "dark"}, {"theme": "light"}]


# -- client: handles, events, status -----------------------------------------------------------


async def test_handle_is_an_observable_with_current_state_first(
    server: Server, url: str, connect: Connect
) -> None:
    todos = server.create_store("Todos", {"items": []})
    client = await connect()
    h = client.subscribe("Todos")
    assert isinstance(h, reactivex.Observable)
    early = Observer()
    early.attach(h)
    assert early.values.items == [], "no state before the first snapshot"
    await h.ready()
    await early.values.count(1)
    late = Observer()
    late.attach(h)
    assert late.values.items == [{"items": []}]
    todos.update(lambda d: d["items"].append("a"))
    await late.values.count(2)
    await early.values.count(2)
    assert late.values.items == early.values.items == [{"items": []}, {"items": ["a"]}]


async def test_handle_states_share_structure_and_are_immutable(
    server: Server, url: str, connect: Connect
) -> None:
    store = server.create_store("S", {"todos": [{"t": 1}], "config": {"theme": "dark"}})
    client = await connect()
    h = client.subscribe("S")
    await h.ready()
    obs = Observer()
    obs.attach(h)
    slices = Recorder()
    h.pipe(
        ops.map(operator.itemgetter("config")),
        ops.distinct_until_changed(comparer=operator.is_),
    ).subscribe(slices)
    store.update(lambda d: d["todos"].append({"t": 2}))
    store.update(lambda d: d["todos"][0].__setitem__("t", 0))
    first, second, third = await obs.values.count(3)
    assert second["config"] is first["config"]
    assert third["todos"][1] is second["todos"][1]
    assert slices.items == [{"theme": "dark"}]
    with pytest.raises((TypeError, AttributeError)):
        third["config"]["theme"] = "hacked"
    assert h.get_state()["config"] == {"theme": "dark"}


async def test_handle_observable_survives_unsubscribe_of_others(
    server: Server, url: str, connect: Connect
) -> None:
    store = server.create_store("S", {"n": 0})
    client = await connect()
    h = client.subscribe("S")
    await h.ready()
    a, b = Observer(), Observer()
    sub_a = a.attach(h)
    b.attach(h)
    sub_a.dispose()
    store.update(lambda d: d.__setitem__("n", 1))
    await b.values.count(2)
    assert a.values.items == [{"n": 0}]


async def test_client_events_is_an_observable_of_payloads(
    server: Server, url: str, connect: Connect
) -> None:
    client = await connect()
    source = client.events("notification")
    assert isinstance(source, reactivex.Observable)
    obs = Observer()
    obs.attach(source)
    others = Observer()
    others.attach(client.events("other"))
    server.emit("notification", {"title": "Deployed"})
    server.emit("notification", [1, 2])
    await obs.values.count(2)
    assert obs.values.items == [{"title": "Deployed"}, [1, 2]]
    assert others.values.items == []


async def test_client_events_piped_through_operators(
    server: Server, url: str, connect: Connect
) -> None:
    client = await connect()
    titles = Recorder()
    client.events("notification").pipe(
        ops.map(operator.itemgetter("title")), ops.filter(lambda t: t != "skip")
    ).subscribe(titles)
    for title in ("a", "skip", "b"):
        server.emit("notification", {"title": title})
    await titles.count(2)
    assert titles.items == ["a", "b"]


async def test_status_starts_with_the_current_value_and_follows(
    new_client: Callable[..., Client],
) -> None:
    server = Hotstate()
    await server.listen(port=0, host="127.0.0.1")
    try:
        client = new_client(reconnect_delay=0.02, reconnect_max=0.05)
        assert isinstance(client.status, reactivex.Observable)
        before = Recorder()
        client.status.subscribe(before)
        assert before.items == ["disconnected"]
        client.connect(f"ws://127.0.0.1:{server.port}")
        await asyncio.wait_for(client.ready(), TIMEOUT)
        await before.until(lambda s: s == "connected")
        assert before.items[:3] == ["disconnected", "connecting", "connected"]
        later = Recorder()
        client.status.subscribe(later)
        assert later.items == ["connected"]
    finally:
        await server.close()
    await later.until(lambda s: s == "reconnecting")
    client.destroy()
    await later.until(lambda s: s == "disconnected")
    assert set(before.items) <= {"connecting", "connected", "reconnecting", "disconnected"}


async def test_status_after_close_still_starts_with_the_current_value(
    server: Server, url: str, connect: Connect
) -> None:
    client = await connect()
    await client.close()
    seen = Recorder()
    client.status.subscribe(seen)
    assert seen.items == ["disconnected"]


async def test_observe_of_an_uninitialized_static_store_starts_with_its_state(
    server: Server,
) -> None:
    config = server.create_store("Config", {"theme": "dark"})
    seen = Recorder()
    config.observe().subscribe(seen)
    assert seen.items == [config.get()] == [{"theme": "dark"}]


async def test_status_values_compare_as_plain_strings(
    server: Server, url: str, connect: Connect
) -> None:
    client = await connect()
    seen = Recorder()
    client.status.subscribe(seen)
    assert seen.items == ["connected"]
    assert isinstance(seen.items[0], str)
