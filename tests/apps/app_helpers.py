"""Helpers for the apps' tests (a uniquely named module: ``conftest`` is not importable)."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import reactivex
from textual.pilot import Pilot

from hotstate_rx import Server
from hotstate_rx.client import Client

TIMEOUT = 5.0
ROOT = Path(__file__).resolve().parents[2]


async def run_apps(*args: str, timeout: float = 60.0, **env_vars: str) -> tuple[int, str, str]:
    """``python -m apps ARGS`` from the checkout, as a person runs it, to its end:
    (exit status, stdout, stderr). Killed if it outlives ``timeout``."""
    # NiceGUI reads PYTEST_CURRENT_TEST as "screen test" and would ignore the port.
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"} | env_vars
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "apps", *args,
        cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def serve(server: Server) -> str:
    """Listen on a free loopback port; the ws:// URL to dial."""
    await server.listen(port=0, host="127.0.0.1", heartbeat=0)
    return f"ws://127.0.0.1:{server.port}"


async def stopped_url() -> str:
    """The ws:// URL of a server that listened and stopped: a node that is down."""
    server = Server()
    url = await serve(server)
    await server.close()
    return url


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
