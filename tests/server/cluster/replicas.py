"""Servers that share one real ``redis-server`` (the fixtures of
``tests/conftest.py``: ``shared_redis`` for tests that only use it,
``redis_server`` for those that stop, pause or restart it), and waits that
wake on what the servers announce."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis
from redis_server import RedisServer

from hotstate_rx import Server
from hotstate_rx.client import Client


def redis_client(server: RedisServer) -> redis.Redis:
    """A plain redis-py client of ``server``, to read what the cluster wrote."""
    return redis.Redis.from_url(server.url, socket_timeout=5)


class Nodes:
    """Servers on one Redis, each listening on 127.0.0.1:0; all closed at the end."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.servers: list[Server] = []

    def server(self, setup: Callable[[Server], object] | None = None, **options: Any) -> Server:
        """A server on this cluster (``cluster_timeout`` 1 s unless given), set up by ``setup``."""
        options.setdefault("cluster_timeout", 1.0)
        server = Server(cluster=self.url, **options)
        self.servers.append(server)
        if setup is not None:
            setup(server)
        return server

    async def listening(
        self, count: int, setup: Callable[[Server], object] | None = None, **options: Any
    ) -> list[Server]:
        """``count`` servers set up alike, each listening on 127.0.0.1:0."""
        servers = [self.server(setup, **options) for _ in range(count)]
        for server in servers:
            await server.listen(0, "127.0.0.1")
        return servers

    async def close(self) -> None:
        servers, self.servers = self.servers, []
        for server in servers:
            await server.close()


@pytest.fixture
async def nodes(shared_redis: RedisServer) -> AsyncIterator[Nodes]:
    """Servers on the run's shared Redis (emptied before this test)."""
    cluster = Nodes(shared_redis.url)
    try:
        yield cluster
    finally:
        await cluster.close()


@pytest.fixture
async def own_nodes(redis_server: RedisServer) -> AsyncIterator[Nodes]:
    """Servers on this test's own Redis (``redis_server``: AOF on), which the
    test may stop, pause or restart."""
    cluster = Nodes(redis_server.url)
    try:
        yield cluster
    finally:
        await cluster.close()


TIMEOUT = 10.0
"""Upper bound for anything a cluster test awaits (several servers on 2 cores)."""


async def reach(server: Server, check: Callable[[], bool]) -> None:
    """Wait until ``check()`` holds, woken by each change ``server`` announces
    (what its bus handler applied included); fails after :data:`TIMEOUT`."""
    woke = asyncio.Event()
    stop = server.watch_stores(lambda _event: woke.set())
    try:
        async with asyncio.timeout(TIMEOUT):
            while not check():
                woke.clear()
                await woke.wait()
    finally:
        stop()


class Seen:
    """A client subscription's callback: every state it emits, awaitable."""

    def __init__(self) -> None:
        self.values: list[Any] = []
        self._changed = asyncio.Event()

    def __call__(self, value: Any) -> None:
        self.values.append(value)
        self._changed.set()

    async def until(self, predicate: Callable[[Any], bool]) -> Any:
        """Wait until the latest state satisfies ``predicate``; return it."""
        async with asyncio.timeout(TIMEOUT):
            while not self.values or not predicate(self.values[-1]):
                self._changed.clear()
                await self._changed.wait()
        return self.values[-1]


@pytest.fixture
async def clients() -> AsyncIterator[Callable[[str], Client]]:
    """``clients(url)`` -> a connected-to-be :class:`Client`, closed at teardown."""
    made: list[Client] = []

    def make(url: str) -> Client:
        client = Client(url, reconnect_delay=0.02, reconnect_max=0.2, rpc_timeout=TIMEOUT)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()
