"""End to end over real sockets: server streams and feeds -> WebSocket -> client streams.

Server on 127.0.0.1 (``server`` / ``url`` fixtures of ``tests/conftest.py``),
real ``hotstate_rx.client`` clients, no sleeps: each step awaits what the
observer saw, bounded by TIMEOUT.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import reactivex
from reactivex import operators as ops

from hotstate_rx import Server
from hotstate_rx.client import Client
from hotstate_rx.rx import derived_store, feed_events, feed_store

TIMEOUT = 5.0


class Recorder:
    """An observer that records values; ``await until(predicate)`` waits, bounded."""

    def __init__(self) -> None:
        self.values: list[Any] = []
        self.error: Exception | None = None
        self._changed = asyncio.Event()

    def on_next(self, value: Any) -> None:
        self.values.append(value)
        self._changed.set()

    def on_error(self, error: Exception) -> None:
        self.error = error
        self._changed.set()

    def on_completed(self) -> None:
        self._changed.set()

    async def until(self, predicate: Callable[[list[Any]], bool]) -> None:
        async with asyncio.timeout(TIMEOUT):
            while not predicate(self.values):
                self._changed.clear()
                await self._changed.wait()


@pytest.fixture
async def client(url: str) -> AsyncIterator[Client]:
    client = Client(url, reconnect=False)
    yield client
    await client.close()


def summarize(todos_and_config: tuple[Any, Any]) -> dict[str, Any]:
    todos, config = todos_and_config
    items = todos["items"]
    return {
        "todos": {"count": len(items), "open": sum(not t["done"] for t in items)},
        "theme": config["theme"],
    }


async def test_derived_store_to_client_select(server: Server, url: str, client: Client) -> None:
    todos = server.create_store("Todos", {"items": []})
    config = server.create_store("Config", {"theme": "dark"})
    todos.init()
    config.init()
    derived_store(
        server,
        "Summary",
        reactivex.combine_latest(todos.observe(), config.observe()).pipe(ops.map(summarize)),
    )
    counts, themes, states = Recorder(), Recorder(), Recorder()
    client.select("Summary", lambda s: s["todos"]).subscribe(counts)
    client.select("Summary", lambda s: s["theme"]).subscribe(themes)
    client.subscribe("Summary").subscribe(states)
    await counts.until(lambda v: len(v) == 1)
    await themes.until(lambda v: len(v) == 1)

    config.set({"theme": "light"})  # another slice changes...
    await themes.until(lambda v: len(v) == 2)
    todos.update(lambda d: d["items"].append({"text": "Ship it", "done": False}))
    await counts.until(lambda v: len(v) == 2)

    # ...and the selected slice emitted nothing for it: its object was shared.
    assert counts.values == [{"count": 0, "open": 0}, {"count": 1, "open": 1}]
    assert themes.values == ["dark", "light"]
    first, after_theme = states.values[0], states.values[1]
    assert after_theme["theme"] == "light"
    assert after_theme["todos"] is first["todos"]


async def test_a_fed_store_piped_through_operators_on_the_client(
    server: Server, url: str, client: Client
) -> None:
    sensor = server.create_store("Sensor", {"t": -1, "unit": "C"})
    readings = reactivex.interval(0.001).pipe(ops.take(6), ops.map(lambda i: {"t": i, "unit": "C"}))
    even = Recorder()
    handle = client.subscribe("Sensor")
    handle.pipe(
        ops.map(lambda s: s["t"]),
        ops.filter(lambda t: t >= 0 and t % 2 == 0),
        ops.distinct_until_changed(),
    ).subscribe(even)
    await handle.ready()

    feed_store(sensor, readings)
    await even.until(lambda v: v[-1:] == [4])

    assert even.values == [0, 2, 4]  # every sample arrived, in order, as a patch


async def test_an_event_channel_fed_by_an_observable(
    server: Server, url: str, client: Client
) -> None:
    ticks = Recorder()
    client.events("tick").pipe(ops.take(3), ops.to_list()).subscribe(ticks)
    await client.ready()

    feed_events(server, "tick", reactivex.interval(0.001).pipe(ops.map(lambda i: {"n": i})))
    await ticks.until(lambda v: bool(v))

    assert ticks.values == [[{"n": 0}, {"n": 1}, {"n": 2}]]
