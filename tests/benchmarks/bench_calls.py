"""Calls: round trips per second through ``client.call`` against a trivial handler.

The server runs in a helper process (``_serve``); the calls come from this
one. Sequential: one call at a time. Pipelined: :data:`IN_FLIGHT` callers
at once on one connection. The baseline, in the same run: a bare
``websockets`` echo server decoding a msgpack request and answering a msgpack
response of the same shape, driven by the least a hand-written client needs
(``send`` then ``recv``; or, pipelined, a reader task resolving futures
by id). Each rate is the median of :data:`REPEATS` runs, bare and hotstate
interleaved.

Security's cost, in the same run: the same calls to a server with
``authenticate`` and an ``access`` rule on the function, against the plain
hotstate server (target: at most 5% fewer round trips).
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
from collections.abc import Awaitable, Callable
from typing import Any

import msgpack
from websockets.asyncio.client import ClientConnection, connect

from hotstate_rx.client import Client

from ._harness import Row, emit, spawn

ARGS = {"text": "hello", "n": 42}
IN_FLIGHT = 100
WARMUP = 0.1
DURATION = 0.6
REPEATS = 7

Call = Callable[[], Awaitable[Any]]


async def rate(call: Call, callers: int) -> float:
    """Completed calls per second with ``callers`` concurrent callers."""
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
    done, start = 0, loop.time()
    end = start + DURATION
    await asyncio.gather(*(caller() for _ in range(callers)))
    return done / (loop.time() - start)


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


async def measure() -> dict[str, list[float]]:
    """Every rate REPEATS times, bare and hotstate interleaved (load on the
    machine drifts; interleaving spreads it over both sides)."""
    names = ("bare seq", "hot seq", "bare pipe", "hot pipe", "secure seq", "secure pipe")
    rates: dict[str, list[float]] = {name: [] for name in names}
    async with (
        spawn("_serve", "bare-echo") as bare,
        spawn("_serve", "hotstate-echo") as hot,
        spawn("_serve", "hotstate-echo-secure") as secure,
    ):
        bare_url = (await bare.recv())["url"]
        ws = await connect(bare_url, compression=None)
        caller = BareCaller(await connect(bare_url, compression=None))
        client = Client()
        client.connect((await hot.recv())["url"])
        signed = Client(token="bench")
        signed.connect((await secure.recv())["url"])
        try:
            await asyncio.wait_for(client.ready(), 30)
            await asyncio.wait_for(signed.ready(), 30)
            for _ in range(REPEATS):
                rates["bare seq"].append(await rate(lambda: _bare_round_trip(ws), 1))
                rates["hot seq"].append(await rate(lambda: client.call("echo", ARGS), 1))
                rates["secure seq"].append(await rate(lambda: signed.call("echo", ARGS), 1))
                rates["bare pipe"].append(await rate(caller.call, IN_FLIGHT))
                rates["hot pipe"].append(await rate(lambda: client.call("echo", ARGS), IN_FLIGHT))
                rates["secure pipe"].append(
                    await rate(lambda: signed.call("echo", ARGS), IN_FLIGHT)
                )
        finally:
            await signed.close()
            await client.close()
            await caller.close()
            await ws.close()
    return rates


async def main() -> None:
    rates = {k: statistics.median(v) for k, v in (await measure()).items()}
    bare_seq, hot_seq, bare_pipe, hot_pipe, secure_seq, secure_pipe = rates.values()
    secured = "authenticate + access (baseline: hotstate_rx without)"
    pipelined = f"pipelined ({IN_FLIGHT} in flight)"
    emit(
        [
            Row("calls", "sequential", "round trips", hot_seq, "/s", bare_seq, "ratio >= 0.7"),
            Row("calls", pipelined, "round trips", hot_pipe, "/s", bare_pipe, "ratio >= 0.6"),
            Row("calls", f"sequential, {secured}", "round trips", secure_seq, "/s", hot_seq,
                "ratio >= 0.95"),
            Row("calls", f"{pipelined}, {secured}", "round trips", secure_pipe, "/s", hot_pipe,
                "ratio >= 0.95"),
        ]
    )  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
