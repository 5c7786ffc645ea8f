"""Fixtures for client tests: real servers and clients on loopback, and the
scripted fake server of ``client_helpers``. ``server`` and ``url`` come from
``tests/conftest.py``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import pytest
from client_helpers import CuttingProxy, FakeServer, MakeClient, ServeClient, StartServer

from hotstate_rx import Server
from hotstate_rx.client import Client

if TYPE_CHECKING:
    from conftest import Certificates  # fixture types only: several conftest modules exist


@pytest.fixture
async def start_server() -> AsyncIterator[StartServer]:
    """``await start_server(setup, port=0, **server_options)`` -> (server, url): a real server,
    set up by ``setup(server)`` and listening on loopback; closed at teardown
    (closing twice is fine, for tests that stop it themselves). ``tls``:
    :class:`~conftest.Certificates` to serve ``wss://`` with."""
    servers: list[Server] = []

    async def start(
        setup: Callable[[Server], Any] | None = None,
        *,
        port: int = 0,
        heartbeat: float = 30.0,
        tls: Certificates | None = None,
        **options: Any,
    ) -> tuple[Server, str]:
        server = Server(**options)
        servers.append(server)
        if setup is not None:
            setup(server)
        files = {} if tls is None else {"certfile": tls.certfile, "keyfile": tls.keyfile}
        await server.listen(port=port, host="127.0.0.1", heartbeat=heartbeat, **files)
        return server, f"{'ws' if tls is None else 'wss'}://127.0.0.1:{server.port}"

    yield start
    for server in servers:
        await server.close()


@pytest.fixture
def serve_client(start_server: StartServer, make_client: MakeClient) -> ServeClient:
    """``await serve_client(setup=None, **client_options)`` -> (server, client):
    ``start_server(setup)``, then ``make_client`` connecting to it."""

    async def serve(
        setup: Callable[[Server], Any] | None = None, **options: Any
    ) -> tuple[Server, Client]:
        server, url = await start_server(setup)
        return server, make_client(url, **options)

    return serve


@pytest.fixture
async def fake_server() -> AsyncIterator[Callable[..., Awaitable[FakeServer]]]:
    fakes: list[FakeServer] = []

    async def start(**options: Any) -> FakeServer:
        fake = FakeServer(**options)
        await fake.start()
        fakes.append(fake)
        return fake

    yield start
    for fake in fakes:
        await fake.stop()


@pytest.fixture
async def proxy() -> AsyncIterator[Callable[[int], Awaitable[tuple[CuttingProxy, str]]]]:
    """``await proxy(port)`` -> (a :class:`CuttingProxy` to ``port``, its URL),
    closed at teardown."""
    proxies: list[CuttingProxy] = []

    async def start(port: int) -> tuple[CuttingProxy, str]:
        cutter = CuttingProxy(port)
        proxies.append(cutter)
        return cutter, await cutter.start()

    yield start
    for cutter in proxies:
        await cutter.close()
