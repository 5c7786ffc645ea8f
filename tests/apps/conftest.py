"""Fixtures for the apps' tests: real servers on 127.0.0.1, real clients, all closed after."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from app_helpers import TIMEOUT

from apps.dashboard import derive
from hotstate_rx import Hotstate, Server
from hotstate_rx.client import Client


@pytest.fixture
async def stats_server() -> AsyncIterator[Server]:
    """A server holding the dashboard's ``Stats`` store, which the test sets by hand."""
    server = Hotstate()
    server.create_store("Stats", derive.empty_stats(2))
    yield server
    await server.close()


@pytest.fixture
async def clients() -> AsyncIterator[Callable[..., Awaitable[Client]]]:
    """``await clients(url, name="tester")``: a connected client signed in as
    ``name`` (the todo server's token; other servers ignore it), closed at teardown."""
    made: list[Client] = []

    async def connect(url: str, name: str = "tester") -> Client:
        client = Client(reconnect=False, token=name)
        made.append(client)
        client.connect(url)
        await asyncio.wait_for(client.ready(), TIMEOUT)
        return client

    yield connect
    for client in made:
        await client.close()
