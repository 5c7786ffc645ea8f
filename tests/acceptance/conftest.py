"""Fixtures for the acceptance suite: written from ``/work/shared/API.md`` only.

Everything here goes through the public API (``hotstate_rx``,
``hotstate_rx.client``, ``hotstate_rx.draft``) over real sockets on 127.0.0.1.
Nothing sleeps to synchronise: tests await a :class:`Recorder` (a callback that
remembers its calls) with a timeout.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from hotstate_rx import Hotstate, Server
from hotstate_rx.client import Hotstate as Client

TIMEOUT = 5.0
"""Upper bound for anything a test awaits."""


class Recorder:
    """A callable that records its calls and lets a test await one of them.

    Safe to call from any thread: calls made off the loop are handed over to it.
    One positional argument is recorded as itself, several as a tuple.
    """

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()
        self.items: list[Any] = []
        self._waiters: list[tuple[Callable[[list[Any]], bool], asyncio.Future[None]]] = []

    def __call__(self, *args: Any) -> None:
        item = args[0] if len(args) == 1 else args
        if threading.get_ident() == self._thread:
            self._add(item)
        else:
            self.loop.call_soon_threadsafe(self._add, item)

    def _add(self, item: Any) -> None:
        self.items.append(item)
        for check, fut in list(self._waiters):
            if not fut.done() and check(self.items):
                fut.set_result(None)

    async def _wait(self, check: Callable[[list[Any]], bool], timeout: float) -> None:
        if check(self.items):
            return
        fut: asyncio.Future[None] = self.loop.create_future()
        entry = (check, fut)
        self._waiters.append(entry)
        try:
            await asyncio.wait_for(fut, timeout)
        finally:
            self._waiters.remove(entry)

    async def until(
        self, predicate: Callable[[Any], bool] = lambda _: True, timeout: float = TIMEOUT
    ) -> Any:
        """The first recorded item matching ``predicate`` (waits for it)."""
        await self._wait(lambda items: any(predicate(i) for i in items), timeout)
        return next(i for i in self.items if predicate(i))

    async def count(self, n: int, timeout: float = TIMEOUT) -> list[Any]:
        """Wait until at least ``n`` items were recorded; all of them."""
        await self._wait(lambda items: len(items) >= n, timeout)
        return self.items


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    """A fresh server, closed at teardown (overrides the suite-wide fixture)."""
    srv = Hotstate()
    yield srv
    await srv.close()


@pytest.fixture
async def url(server: Server) -> str:
    """Start ``server`` on a free loopback port; its URL."""
    await server.listen(port=0, host="127.0.0.1")
    return f"ws://127.0.0.1:{server.port}"


@pytest.fixture
async def recorder() -> Callable[[], Recorder]:
    """``recorder()`` -> a new :class:`Recorder` bound to the running loop."""
    return Recorder


Connect = Callable[..., Awaitable[Client]]


@pytest.fixture
async def connect(url: str) -> AsyncIterator[Connect]:
    """``await connect(**options)`` -> a client connected to ``url`` (ready).

    ``connect(to=other_url)`` targets another server; ``ready=False`` skips the
    wait. Every client is closed at teardown.
    """
    clients: list[Client] = []

    async def open_client(*, to: str | None = None, ready: bool = True, **options: Any) -> Client:
        client = Client(**options)
        clients.append(client)
        client.connect(to or url)
        if ready:
            await asyncio.wait_for(client.ready(), TIMEOUT)
        return client

    yield open_client
    for client in clients:
        await asyncio.wait_for(client.close(), TIMEOUT)


@pytest.fixture
async def new_client() -> AsyncIterator[Callable[..., Client]]:
    """``new_client(*args, **options)`` -> an unconnected client, closed at teardown."""
    clients: list[Client] = []

    def make(*args: Any, **options: Any) -> Client:
        client = Client(*args, **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await asyncio.wait_for(client.close(), TIMEOUT)


@pytest.fixture
async def gate() -> AsyncIterator[asyncio.Event]:
    """An event server handlers may wait on; set at teardown so none hangs."""
    event = asyncio.Event()
    yield event
    event.set()
