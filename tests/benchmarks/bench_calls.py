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

uvloop's gain, in the same run (``pip install hotstate-rx[speed]``): the
same calls with the server and the client on uvloop, against both on asyncio,
each measured from a fresh server process and loop, the two loops
alternating :data:`REPEATS` times.
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import msgpack
from websockets.asyncio.client import ClientConnection, connect

from hotstate_rx.client import Client
from hotstate_rx.server.loops import loop_factory

from ._harness import Row, cpu_seconds, emit, spawn

ARGS = {"text": "hello", "n": 42}
IN_FLIGHT = 100
WARMUP = 0.1
DURATION = 0.6
REPEATS = 7

Call = Callable[[], Awaitable[Any]]


async def rate(call: Call, callers: int) -> float:
    """Completed calls per second with ``callers`` concurrent callers."""
    return (await timed(call, callers))[0]


async def timed(
    call: Call, callers: int, clocks: Sequence[Callable[[], float]] = ()
) -> tuple[float, list[float]]:
    """Completed calls per second with ``callers`` concurrent callers, and how
    far each of ``clocks`` (CPU seconds, say) advanced per call meanwhile."""
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
    before = [clock() for clock in clocks]
    end = start + DURATION
    await asyncio.gather(*(caller() for _ in range(callers)))
    spent = [(clock() - then) / max(done, 1) for clock, then in zip(clocks, before, strict=True)]
    return done / (loop.time() - start), spent


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


@dataclass(frozen=True, slots=True)
class OnLoop:
    """Calls with both ends on one kind of loop: rate, then CPU µs per call."""

    rate: float
    server_us: float
    client_us: float


async def on_loop(loop: str) -> tuple[OnLoop, OnLoop]:
    """Sequential and pipelined calls, the server in a process on ``loop`` and
    the client on the running loop (the caller makes it the same kind)."""
    async with spawn("_serve", "--loop", loop, "hotstate-echo") as hot:
        client = Client()
        client.connect((await hot.recv())["url"])
        clocks = (partial(cpu_seconds, hot.pid), time.process_time)
        try:
            await asyncio.wait_for(client.ready(), 30)
            got = []
            for callers in (1, IN_FLIGHT):
                per_second, (server, mine) = await timed(
                    lambda: client.call("echo", ARGS), callers, clocks
                )
                got.append(OnLoop(per_second, server * 1e6, mine * 1e6))
            return got[0], got[1]
        finally:
            await client.close()


def measure_loops() -> dict[str, tuple[OnLoop, OnLoop]]:
    """Median figures, sequential and pipelined, on asyncio and on uvloop,
    the two alternating :data:`REPEATS` times."""
    runs: dict[str, list[tuple[OnLoop, OnLoop]]] = {"asyncio": [], "uvloop": []}
    for _ in range(REPEATS):
        for loop, into in runs.items():
            with asyncio.Runner(loop_factory=loop_factory(loop)) as runner:
                into.append(runner.run(on_loop(loop)))
    return {
        loop: (_median(r[0] for r in got), _median(r[1] for r in got)) for loop, got in runs.items()
    }


def _median(runs: Iterable[OnLoop]) -> OnLoop:
    every = list(runs)
    return OnLoop(*(statistics.median(getattr(r, f) for r in every) for f in OnLoop.__slots__))


def main() -> None:
    rates = {k: statistics.median(v) for k, v in asyncio.run(measure()).items()}
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
    try:
        loops = measure_loops()
    except ImportError as exc:  # uvloop is an extra
        print(f"uvloop rows skipped: {exc}")
        return
    uvloop = "uvloop at both ends (baseline: hotstate_rx on asyncio)"
    for index, case in enumerate(("sequential", pipelined)):
        uv, base = loops["uvloop"][index], loops["asyncio"][index]
        emit(
            [
                Row("calls", f"{case}, {uvloop}", "round trips", uv.rate, "/s", base.rate),
                Row("calls", f"{case}, {uvloop}", "server CPU per call", uv.server_us, "µs",
                    base.server_us),
                Row("calls", f"{case}, {uvloop}", "client CPU per call", uv.client_us, "µs",
                    base.client_us),
            ]
        )  # fmt: skip


if __name__ == "__main__":
    main()
