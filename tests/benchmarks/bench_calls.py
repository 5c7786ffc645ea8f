"""Calls: round trips per second through ``client.call`` against a trivial handler.

The server runs in a helper process (``_serve``); the calls come from this
one. Sequential: one call at a time. Pipelined: :data:`IN_FLIGHT` callers
at once on one connection. The baseline, in the same run: a bare
``websockets`` echo server decoding a msgpack request and answering a msgpack
response of the same shape, driven by the least a hand-written client needs
(``send`` then ``recv``; or, pipelined, a reader task resolving futures
by id). The peer, in the same run: python-socketio, ``AsyncClient.call`` (the
websocket transport only) of an event whose handler returns its argument, on
an ``AsyncServer`` over aiohttp. Besides the rates, the CPU time each side
spends per call (the server's from its own process), which load on a shared
machine moves far less than rates. Each figure is the median of
:data:`REPEATS` runs, all servers interleaved.

Security's cost, in the same run: the same calls to a server with
``authenticate`` and an ``access`` rule on the function, against the plain
hotstate server (target: at most 5% fewer round trips, 5% more server CPU).
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import msgpack
import socketio
from websockets.asyncio.client import ClientConnection, connect

from hotstate_rx.client import Client

from ._harness import Child, Row, emit, spawn

ARGS = {"text": "hello", "n": 42}
IN_FLIGHT = 100
WARMUP = 0.1
DURATION = 0.6
REPEATS = 7
SECURE = "hotstate_rx without authenticate + access"

Call = Callable[[], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Window:
    """One timed run: calls completed, and the seconds of clock and CPU they took."""

    calls: int
    seconds: float
    client_cpu: float
    server_cpu: float
    """NaN when the server's process was not asked."""

    @property
    def per_second(self) -> float:
        return self.calls / self.seconds


async def _server_cpu(server: Child | None) -> float:
    if server is None:
        return float("nan")
    server.send({})
    return float((await server.recv())["cpu"])


async def timed_calls(call: Call, callers: int, server: Child | None = None) -> Window:
    """Calls completed over :data:`DURATION` by ``callers`` concurrent callers,
    after a warm-up; ``server``, a ``_serve`` process, reports its CPU time."""
    loop = asyncio.get_running_loop()
    done = 0
    end = 0.0

    async def caller() -> None:
        nonlocal done
        while loop.time() < end:
            await call()
            done += 1

    end = loop.time() + WARMUP
    await asyncio.gather(*(caller() for _ in range(callers)))
    server0 = await _server_cpu(server)
    done, cpu0, start = 0, time.process_time(), loop.time()
    end = start + DURATION
    await asyncio.gather(*(caller() for _ in range(callers)))
    seconds, cpu1 = loop.time() - start, time.process_time()
    return Window(done, seconds, cpu1 - cpu0, await _server_cpu(server) - server0)


class BareCaller:
    """The least a hand-written client needs: ids, futures, one reader task."""

    def __init__(self, ws: ClientConnection) -> None:
        self._ws = ws
        self._ids = itertools.count()
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        async for frame in self._ws:
            res = msgpack.unpackb(frame)
            self._pending.pop(res["i"]).set_result(res["r"])

    async def call(self) -> Any:
        i = next(self._ids)
        future = self._pending[i] = asyncio.get_running_loop().create_future()
        await self._ws.send(msgpack.packb({"t": "rpc", "i": i, "n": "echo", "a": ARGS}))
        return await future

    async def close(self) -> None:
        await self._ws.close()
        await self._reader


async def _bare_round_trip(ws: ClientConnection) -> Any:
    await ws.send(msgpack.packb({"t": "rpc", "i": 1, "n": "echo", "a": ARGS}))
    return msgpack.unpackb(await ws.recv())["r"]


SIDES = ("bare", "hot", "secure", "peer")


async def measure() -> dict[tuple[str, int], list[Window]]:
    """Every side at both concurrencies REPEATS times, interleaved (load on the
    machine drifts; interleaving spreads it over all sides)."""
    windows: dict[tuple[str, int], list[Window]] = {}
    async with (
        spawn("_serve", "bare-echo") as bare,
        spawn("_serve", "hotstate-echo") as hot,
        spawn("_serve", "hotstate-echo-secure") as secure,
        spawn("_serve", "socketio-echo") as peer,
    ):
        bare_url = (await bare.recv())["url"]
        ws = await connect(bare_url, compression=None)
        caller = BareCaller(await connect(bare_url, compression=None))
        client = Client()
        client.connect((await hot.recv())["url"])
        signed = Client(token="bench")
        signed.connect((await secure.recv())["url"])
        sio = socketio.AsyncClient()
        try:
            await sio.connect((await peer.recv())["url"], transports=["websocket"])
            await asyncio.wait_for(client.ready(), 30)
            await asyncio.wait_for(signed.ready(), 30)
            hot_call = lambda: client.call("echo", ARGS)  # noqa: E731
            secure_call = lambda: signed.call("echo", ARGS)  # noqa: E731
            peer_call = lambda: sio.call("echo", ARGS)  # noqa: E731
            # Each side's call alone and pipelined (the bare one needs a reader task
            # to pipeline), and its server process.
            sides: dict[str, tuple[Call, Call, Child]] = {
                "bare": (lambda: _bare_round_trip(ws), caller.call, bare),
                "hot": (hot_call, hot_call, hot),
                "secure": (secure_call, secure_call, secure),
                "peer": (peer_call, peer_call, peer),
            }
            for _ in range(REPEATS):
                for callers in (1, IN_FLIGHT):
                    for side, (alone, piped, server) in sides.items():
                        call = alone if callers == 1 else piped
                        window = await timed_calls(call, callers, server)
                        windows.setdefault((side, callers), []).append(window)
        finally:
            await sio.disconnect()
            await signed.close()
            await client.close()
            await caller.close()
            await ws.close()
    return windows


def _figures(windows: list[Window]) -> tuple[float, float, float]:
    """Medians: round trips per second, and µs of server and client CPU per call."""
    return (
        statistics.median(w.per_second for w in windows),
        statistics.median(w.server_cpu / w.calls * 1e6 for w in windows),
        statistics.median(w.client_cpu / w.calls * 1e6 for w in windows),
    )


async def main() -> None:
    windows = await measure()
    rows: list[Row] = []
    for callers, case, goal in (
        (1, "sequential", 0.7),
        (IN_FLIGHT, f"pipelined ({IN_FLIGHT} in flight)", 0.6),
    ):
        bare, hot, secure, peer = (_figures(windows[side, callers]) for side in SIDES)
        rows += [
            Row("calls", case, "round trips", hot[0], "/s", bare[0], f"ratio >= {goal}", peer[0]),
            Row("calls", case, "server CPU per call", hot[1], "µs", bare[1], "", peer[1]),
            Row("calls", case, "client CPU per call", hot[2], "µs", bare[2], "", peer[2]),
        ]
        secured = f"{case}, authenticate + access"
        rows += [
            Row(
                "calls",
                secured,
                "round trips",
                secure[0],
                "/s",
                hot[0],
                "ratio >= 0.95",
                against=SECURE,
            ),
            Row(
                "calls",
                secured,
                "server CPU per call",
                secure[1],
                "µs",
                hot[1],
                "ratio <= 1.05",
                against=SECURE,
            ),
        ]
    emit(rows)


if __name__ == "__main__":
    asyncio.run(main())
