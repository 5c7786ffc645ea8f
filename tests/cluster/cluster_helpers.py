"""A real ``redis-server`` per test (on a free port, in the test's temp dir),
clustered servers on loopback, clients, and a TCP proxy whose target a test
switches from one node to another (a load balancer, as a failing-over client
sees it)."""

from __future__ import annotations

import asyncio
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hotstate_rx import Server
from hotstate_rx.client import Client

TIMEOUT = 5.0

NODE = Path(__file__).with_name("node_main.py")

REDIS = shutil.which("redis-server") or "/usr/bin/redis-server"

StartNode = Callable[..., Awaitable[Server]]
MakeClient = Callable[..., Client]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """A fresh ``redis-server`` (no persistence) for this test; its URL."""
    import redis

    if not Path(REDIS).exists():
        pytest.fail("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    process = subprocess.Popen(
        [REDIS, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port, socket_connect_timeout=0.2)
    deadline = time.monotonic() + TIMEOUT
    try:
        while True:
            try:
                client.ping()
                break
            except redis.exceptions.ConnectionError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.02)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        client.close()
        process.terminate()
        process.wait(TIMEOUT)


@pytest.fixture
async def start_node(redis_url: str) -> AsyncIterator[StartNode]:
    """``await start_node(setup=None, **options)`` -> a clustered server on
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
    for server in servers:
        await server.close()


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
    to another node."""

    def __init__(self, port: int) -> None:
        self.target = port
        self._pairs: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self.url = ""

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.url = f"ws://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self.url

    def fail_over(self, port: int) -> None:
        self.target = port
        pairs, self._pairs = self._pairs, set()
        for a, b in pairs:
            a.transport.abort()
            b.transport.abort()

    async def close(self) -> None:
        self.fail_over(self.target)
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
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
async def spawn_node(redis_url: str) -> AsyncIterator[Callable[[], Any]]:
    """``await spawn_node()`` -> (process, port): a node in a subprocess."""
    processes: list[asyncio.subprocess.Process] = []

    async def spawn() -> tuple[asyncio.subprocess.Process, int]:
        process = await asyncio.create_subprocess_exec(
            sys.executable, str(NODE), redis_url, stdout=subprocess.PIPE
        )
        processes.append(process)
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), TIMEOUT * 2)
        return process, int(line)

    yield spawn
    for process in processes:
        if process.returncode is None:
            process.send_signal(signal.SIGKILL)
            await process.wait()
