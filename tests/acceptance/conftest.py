"""Fixtures for the acceptance suite: written from ``/work/shared/API.md`` only.

Everything here goes through the public API (``hotstate_rx``,
``hotstate_rx.client``, ``hotstate_rx.draft``) over real sockets on 127.0.0.1.
Shared helpers (``Recorder``, ``TIMEOUT``) live in ``acceptance_helpers``, a
module name that no other test folder uses.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from acceptance_helpers import TIMEOUT, Connect, Recorder

from hotstate_rx import Hotstate, Server
from hotstate_rx.client import Client


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


@pytest.fixture
async def connect(request: pytest.FixtureRequest) -> AsyncIterator[Connect]:
    """``await connect(**options)`` -> a client connected to ``url`` (ready).

    ``connect(to=other_url)`` targets another server (and leaves ``server``
    alone); ``ready=False`` skips the
    wait. Every client is closed at teardown.
    """
    clients: list[Client] = []

    async def open_client(*, to: str | None = None, ready: bool = True, **options: Any) -> Client:
        client = Client(**options)
        clients.append(client)
        client.connect(to or request.getfixturevalue("url"))
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
