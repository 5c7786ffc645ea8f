"""Clustered servers on loopback sharing the run's ``redis-server``
(``tests/conftest.py``), node subprocesses to kill, clients, and a TCP proxy
whose target a test switches from one node to another (a load balancer, as
a failing-over client sees it)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from tcp_proxy import CuttingProxy

from hotstate_rx import Server
from hotstate_rx.client import Client

TIMEOUT = 5.0

NODE = Path(__file__).with_name("node_main.py")

StartNode = Callable[..., Awaitable[Server]]
MakeClient = Callable[..., Client]


@pytest.fixture
def redis_url(shared_redis: Any) -> str:
    """The run's shared ``redis-server`` (emptied before each test), by URL."""
    return str(shared_redis.url)


@pytest.fixture
async def start_server(redis_url: str) -> AsyncIterator[StartNode]:
    """``await start_server(setup=None, **options)`` -> a clustered server on
    loopback (``server.port``), set up by ``setup(server)``; closed at teardown."""
    servers: list[Server] = []

    async def start(setup: Callable[[Server], Any] | None = None, **options: Any) -> Server:
        options = {"cluster": redis_url, "cluster_timeout": 0.5, **options}
        server = Server(**options)
        servers.append(server)
        if setup is not None:
            setup(server)
        await server.listen(port=0, host="127.0.0.1")
        return server

    yield start
    for server in servers:  # a close that hangs fails, naming what still runs
        try:
            await asyncio.wait_for(asyncio.shield(server.close()), 2 * TIMEOUT)
        except TimeoutError:
            running = "\n".join(repr(task) for task in asyncio.all_tasks())
            raise AssertionError(f"a clustered server did not close; running:\n{running}") from None


Balancer = CuttingProxy
"""A load balancer in front of the nodes: :meth:`CuttingProxy.fail_over`."""


@pytest.fixture
async def balancer() -> AsyncIterator[Callable[[int], Awaitable[Balancer]]]:
    """``await balancer(port)`` -> a :class:`Balancer` in front of ``port``;
    ``url``: where clients connect."""
    made: list[Balancer] = []

    async def start(port: int) -> Balancer:
        proxy = Balancer(port)
        made.append(proxy)
        await proxy.start()
        return proxy

    yield start
    for proxy in made:
        await proxy.close()


class Recorder:
    """Collects what a listener is called with; :meth:`until` awaits a condition."""

    def __init__(self) -> None:
        self.values: list[Any] = []
        self._changed = asyncio.Event()

    def __call__(self, value: Any = None) -> None:
        self.values.append(value)
        self._changed.set()

    async def until(
        self, condition: Callable[[list[Any]], bool], timeout: float = TIMEOUT
    ) -> list[Any]:
        async with asyncio.timeout(timeout):
            while not condition(self.values):
                self._changed.clear()
                await self._changed.wait()
        return self.values


@pytest.fixture
def spawn_node(redis_url: str, start_node: Any) -> Callable[[], Awaitable[Any]]:
    """``await spawn_node()`` -> a :class:`~node_proc.NodeProcess` serving
    ``node_main.py`` on this test's cluster (killed at the end, whatever happens)."""

    async def spawn() -> Any:
        return await start_node(NODE, args=[redis_url])

    return spawn
