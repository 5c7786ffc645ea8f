"""A real ``redis-server`` per test (never a mock), and servers that share it.

Until the project-wide Redis fixtures land, each test starts its own Redis on
a free port in its temporary directory (no persistence unless asked) and
waits for it to answer PING, within a deadline."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hotstate_rx import Server
from hotstate_rx.client import Client

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
STARTUP = 10.0
"""Seconds a starting redis-server may take to answer PING."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisProcess:
    """One redis-server on 127.0.0.1 in ``directory``: start, stop, pause, resume."""

    def __init__(self, directory: Path, *, appendonly: bool = False) -> None:
        self.directory = directory
        self.port = _free_port()
        self.appendonly = appendonly
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        args = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1"]
        args += ["--dir", str(self.directory), "--save", ""]
        args += ["--appendonly", "yes" if self.appendonly else "no"]
        if self.appendonly:
            args += ["--appendfsync", "always"]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + STARTUP
        while not self.ping():
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not answer PING in {STARTUP} s")
            time.sleep(0.02)  # polling a process that is starting: nothing to await

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def pause(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGCONT)
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def client(self):  # type: ignore[no-untyped-def]
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisProcess]:
    """A fresh redis-server for this test."""
    if not Path(REDIS_SERVER).exists():
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    pytest.importorskip("redis", reason="the cluster needs redis-py: pip install 'redis>=5'")
    server = RedisProcess(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


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
async def nodes(redis_server: RedisProcess) -> AsyncIterator[Nodes]:
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
