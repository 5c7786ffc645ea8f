"""hotstate_rx.rx on a running server: threads, the loop, close, real connections.

Uses the ``server`` / ``url`` fixtures of ``tests/conftest.py`` (a listening
server on 127.0.0.1, closed at teardown). Nothing sleeps: tests await an
asyncio.Event set by the observer, bounded by TIMEOUT.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import reactivex
from reactivex import operators as ops

from hotstate_rx import Server
from hotstate_rx.client import Client
from hotstate_rx.rx import (
    ClientConnected,
    ClientDisconnected,
    ClientSubscribed,
    ClientUnsubscribed,
    ServerError,
    changes,
    feed_events,
    feed_store,
    lifecycle_events,
)

TIMEOUT = 5.0


class Recorder:
    """An observer that records values, the thread of each call, and the end.

    ``await until(predicate)`` waits (bounded) until ``predicate(values)``;
    calls from other threads wake the waiter through the loop."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.values: list[Any] = []
        self.threads: set[int] = set()
        self.completed = False
        self.error: Exception | None = None
        self._changed = asyncio.Event()

    def _record(self) -> None:
        self.threads.add(threading.get_ident())
        self.loop.call_soon_threadsafe(self._changed.set)

    def on_next(self, value: Any) -> None:
        self.values.append(value)
        self._record()

    def on_completed(self) -> None:
        self.completed = True
        self._record()

    def on_error(self, error: Exception) -> None:
        self.error = error
        self._record()

    async def until(self, predicate: Callable[[Recorder], bool]) -> None:
        async with asyncio.timeout(TIMEOUT):
            while not predicate(self):
                self._changed.clear()
                await self._changed.wait()


@pytest.fixture
def loop_thread() -> int:
    return threading.get_ident()


@pytest.fixture
async def connect(url: str) -> AsyncIterator[Callable[[], Client]]:
    """Open hotstate clients to the listening server; all closed at teardown."""
    clients: list[Client] = []

    def open_client() -> Client:
        client = Client(url, reconnect=False)
        clients.append(client)
        return client

    yield open_client
    for client in clients:
        await client.close()


def disposed_flag(recorder: Recorder) -> Callable[[reactivex.Observable[Any]], Any]:
    """Operator recording (from any thread) that the source subscription ended."""
    return ops.finally_action(lambda: recorder.on_next("disposed"))


async def test_thread_mutations_reach_observers_on_the_loop(
    server: Server, url: str, loop_thread: int
) -> None:
    counter = server.create_store("Counter", {"n": 0})
    counter.init()
    seen = Recorder()
    changes(counter).pipe(ops.map(lambda c: c.state["n"])).subscribe(seen)

    def work() -> None:
        for _ in range(100):
            counter.update(lambda d: d.update(n=d["n"] + 1))

    worker = threading.Thread(target=work)
    worker.start()
    await seen.until(lambda r: r.values[-1:] == [100])
    worker.join()

    assert seen.values == list(range(1, 101))
    assert seen.threads == {loop_thread}


async def test_an_interval_feed_reaches_observers_on_the_loop(
    server: Server, url: str, loop_thread: int
) -> None:
    sensor = server.create_store("Sensor", {"t": -1, "unit": "C"})
    seen = Recorder()
    sensor.observe().pipe(ops.map(lambda s: s["t"])).subscribe(seen)
    samples = reactivex.interval(0.001).pipe(ops.take(5), ops.map(lambda i: {"t": i, "unit": "C"}))

    feed_store(sensor, samples)
    await seen.until(lambda r: r.values[-1:] == [4])

    assert seen.values == [-1, 0, 1, 2, 3, 4]
    assert seen.threads == {loop_thread}  # the interval emits on TimeoutScheduler threads


async def test_source_errors_reach_the_error_event_on_the_loop(
    server: Server, url: str, loop_thread: int
) -> None:
    sensor = server.create_store("Sensor", {})
    errors = Recorder()
    lifecycle_events(server, "error").subscribe(errors)
    boom = OSError("sensor unplugged")
    failing = reactivex.timer(0.001).pipe(ops.flat_map(lambda _: reactivex.throw(boom)))

    feed_store(sensor, failing)
    await errors.until(lambda r: bool(r.values))

    assert errors.values == [ServerError(boom, None)]
    assert errors.threads == {loop_thread}


async def test_close_ends_streams_and_feeds(server: Server, url: str) -> None:
    sensor = server.create_store("Sensor", {})
    every_change, events, feed = Recorder(), Recorder(), Recorder()
    changes(server).subscribe(every_change)
    lifecycle_events(server).subscribe(events)
    feed_store(sensor, reactivex.never().pipe(disposed_flag(feed)))
    feed_events(server, "tick", reactivex.never().pipe(disposed_flag(feed)))

    await server.close()

    assert every_change.completed
    assert events.completed
    assert feed.values == ["disposed", "disposed"]


async def test_lifecycle_events_of_a_real_client(
    server: Server, url: str, connect: Callable[[], Client]
) -> None:
    server.create_store("Todos", {"items": []})
    events = Recorder()
    lifecycle_events(server, "connection", "subscribe", "unsubscribe", "disconnect").subscribe(
        events
    )

    client = connect()
    todos = client.subscribe("Todos")
    await todos.ready()
    todos.release()
    await events.until(lambda r: len(r.values) == 3)
    cid = client.client_id
    await client.close()
    await events.until(lambda r: len(r.values) == 4)

    assert events.values == [
        ClientConnected(cid),
        ClientSubscribed("Todos", cid),
        ClientUnsubscribed("Todos", cid),
        ClientDisconnected(cid),
    ]


async def test_a_targeted_event_feed_ends_when_its_client_leaves(
    server: Server, url: str, connect: Callable[[], Client]
) -> None:
    connected = Recorder()
    lifecycle_events(server, "connection").subscribe(connected)
    client = connect()
    received = Recorder()
    client.events("tick").subscribe(received)
    await connected.until(lambda r: bool(r.values))
    [connection] = connected.values
    cid = connection.client_id
    feed = Recorder()
    ticks = reactivex.interval(0.001).pipe(disposed_flag(feed))

    feed_events(server, "tick", ticks, client_id=cid)
    await received.until(lambda r: len(r.values) >= 3)
    await client.close()
    await feed.until(lambda r: r.values == ["disposed"])

    assert received.values[:3] == [0, 1, 2]
