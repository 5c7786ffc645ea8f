"""Helpers for the apps' tests (a uniquely named module: ``conftest`` is not importable)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import reactivex
from textual.pilot import Pilot

from hotstate_rx import Server
from hotstate_rx.client import Client

TIMEOUT = 5.0


async def serve(server: Server) -> str:
    """Listen on a free loopback port; the ws:// URL to dial."""
    await server.listen(port=0, host="127.0.0.1", heartbeat=0)
    return f"ws://127.0.0.1:{server.port}"


async def settle(pilot: Pilot[None], condition: Callable[[], bool]) -> None:
    """Let the app run until ``condition()`` holds (bounded: fails after TIMEOUT)."""
    for _ in range(int(TIMEOUT / 0.02)):
        if condition():
            return
        await pilot.pause(0.02)
    raise AssertionError("condition not reached in time")


async def until(
    source: reactivex.Observable[Any], predicate: Callable[[Any], bool], timeout: float = TIMEOUT
) -> Any:
    """The first value of ``source`` that satisfies ``predicate`` (current value included)."""
    found: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    def on_next(value: Any) -> None:
        if not found.done() and value is not None and predicate(value):
            found.set_result(value)

    subscription = source.subscribe(on_next)
    try:
        return await asyncio.wait_for(found, timeout)
    finally:
        subscription.dispose()


class Events:
    """Collects one client's events on one channel, in order."""

    def __init__(self, client: Client, channel: str) -> None:
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.stop = client.on(channel, self.queue.put_nowait)

    async def next(self, timeout: float = TIMEOUT) -> Any:
        return await asyncio.wait_for(self.queue.get(), timeout)


def sample(ts: float, cpu: float) -> dict[str, float]:
    """One machine sample as the dashboard's sampler makes it, with a chosen CPU figure."""
    return {
        "ts": ts,
        "cpu": cpu,
        "memory": 61.5,
        "load": 0.25,
        "net_rx": 1500.0,
        "net_tx": 200.0,
        "processes": 87,
    }
