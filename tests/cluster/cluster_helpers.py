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


@pytest.fixture
async def make_client() -> AsyncIterator[MakeClient]:
    """``make_client(url, **options)`` -> a client with fast retries, closed at teardown."""
    clients: list[Client] = []

    def make(url: str, **options: Any) -> Client:
        options = {"reconnect_delay": 0.02, "reconnect_max": 0.1, "rpc_timeout": 3.0, **options}
        client = Client(url, **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


class Balancer:
    """A TCP proxy on loopback to one node at a time: :meth:`fail_over` cuts
    every connection (no close frame: the node vanished) and sends new ones
    to another node; with ``hold``, only after :meth:`release` (the client
    stays away meanwhile)."""

    def __init__(self, port: int) -> None:
        self.target = port
        self._pairs: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self._holding = False
        self.url = ""

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.url = f"ws://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self.url

    def fail_over(self, port: int, *, hold: bool = False) -> None:
        self.target = port
        self._holding = hold
        pairs, self._pairs = self._pairs, set()
        for a, b in pairs:
            a.transport.abort()
            b.transport.abort()

    def release(self) -> None:
        self._holding = False

    async def close(self) -> None:
        self.fail_over(self.target)
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._holding:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            writer.transport.abort()
            return
        self._pairs.add((writer, up_writer))
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.get_running_loop().create_task(_pipe(source, sink))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    try:
        while data := await source.read(65536):
            sink.write(data)
            await sink.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        sink.transport.abort()


@pytest.fixture
async def balancer() -> AsyncIterator[Callable[[int], Awaitable[Balancer]]]:
    """``await balancer(port)`` -> a :class:`Balancer` in front of ``port``."""
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

    async def until(self, condition: Callable[[list[Any]], bool]) -> list[Any]:
        async with asyncio.timeout(TIMEOUT):
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
