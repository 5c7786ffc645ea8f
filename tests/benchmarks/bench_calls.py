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
spends per call (the server's read from its process), which load on a shared
machine moves far less than rates. Each figure is the median of
:data:`REPEATS` runs, all servers interleaved. Targets (#17): sequential calls
at 0.85 of that send-then-recv floor, pipelined ones at 0.9 of the bare
reader task's rate.

Security's cost, in the same run: the same calls to a server with
``authenticate`` and an ``access`` rule on the function, against the plain
hotstate server (target: at most 5% fewer round trips, 5% more server CPU).

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
import socketio
from websockets.asyncio.client import ClientConnection, connect

from hotstate_rx.client import Client
from hotstate_rx.server.loops import loop_factory

from ._harness import Child, Row, cpu_seconds, emit, spawn

ARGS = {"text": "hello", "n": 42}
IN_FLIGHT = 100
WARMUP = 0.1
DURATION = 0.6
REPEATS = 7
SECURE = "hotstate_rx without authenticate + access"
ON_ASYNCIO = "hotstate_rx on asyncio at both ends"
SIDES = ("bare", "hot", "secure", "peer")
"""The bare baseline, hotstate_rx, hotstate_rx behind security, python-socketio."""

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


def _clocks(server: Child) -> tuple[Callable[[], float], Callable[[], float]]:
    """CPU seconds of the server's process and of this one (the client's)."""
    return partial(cpu_seconds, server.pid), time.process_time


async def measure() -> dict[tuple[str, int], list[Figures]]:
    """Every side at both concurrencies REPEATS times, interleaved (load on the
    machine drifts; interleaving spreads it over all sides)."""
    runs: dict[tuple[str, int], list[Figures]] = {}
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
                        figures = await Figures.of(call, callers, server)
                        runs.setdefault((side, callers), []).append(figures)
        finally:
            await sio.disconnect()
            await signed.close()
            await client.close()
            await caller.close()
            await ws.close()
    return runs


@dataclass(frozen=True, slots=True)
class Figures:
    """One side's calls: the rate, then CPU µs per call of its server and client."""

    rate: float
    server_us: float
    client_us: float

    @classmethod
    async def of(cls, call: Call, callers: int, server: Child) -> Figures:
        per_second, (server_s, client_s) = await timed(call, callers, _clocks(server))
        return cls(per_second, server_s * 1e6, client_s * 1e6)


async def on_loop(loop: str) -> tuple[Figures, Figures]:
    """Sequential and pipelined calls, the server in a process on ``loop`` and
    the client on the running loop (the caller makes it the same kind)."""
    async with spawn("_serve", "--loop", loop, "hotstate-echo") as hot:
        client = Client()
        client.connect((await hot.recv())["url"])
        try:
            await asyncio.wait_for(client.ready(), 30)
            got = [
                await Figures.of(lambda: client.call("echo", ARGS), callers, hot)
                for callers in (1, IN_FLIGHT)
            ]
            return got[0], got[1]
        finally:
            await client.close()


def measure_loops() -> dict[str, tuple[Figures, Figures]]:
    """Median figures, sequential and pipelined, on asyncio and on uvloop,
    the two alternating :data:`REPEATS` times."""
    runs: dict[str, list[tuple[Figures, Figures]]] = {"asyncio": [], "uvloop": []}
    for _ in range(REPEATS):
        for loop, into in runs.items():
            with asyncio.Runner(loop_factory=loop_factory(loop)) as runner:
                into.append(runner.run(on_loop(loop)))
    return {
        loop: (_median(r[0] for r in got), _median(r[1] for r in got)) for loop, got in runs.items()
    }


def _median(runs: Iterable[Figures]) -> Figures:
    every = list(runs)
    return Figures(*(statistics.median(getattr(r, f) for r in every) for f in Figures.__slots__))


def main() -> None:
    runs = asyncio.run(measure())
    rows: list[Row] = []
    pipelined = f"pipelined ({IN_FLIGHT} in flight)"
    for callers, case, goal in ((1, "sequential", 0.85), (IN_FLIGHT, pipelined, 0.9)):
        bare, hot, secure, peer = (_median(runs[side, callers]) for side in SIDES)
        secured = f"{case}, authenticate + access"
        rows += [
            Row("calls", case, "round trips", hot.rate, "/s", bare.rate, f"ratio >= {goal}",
                peer.rate),
            Row("calls", case, "server CPU per call", hot.server_us, "µs", bare.server_us, "",
                peer.server_us),
            Row("calls", case, "client CPU per call", hot.client_us, "µs", bare.client_us, "",
                peer.client_us),
            Row("calls", secured, "round trips", secure.rate, "/s", hot.rate, "ratio >= 0.95",
                against=SECURE),
            Row("calls", secured, "server CPU per call", secure.server_us, "µs", hot.server_us,
                "ratio <= 1.05", against=SECURE),
        ]  # fmt: skip
    emit(rows)
    try:
        loops = measure_loops()
    except ImportError as exc:  # uvloop is an extra
        print(f"uvloop rows skipped: {exc}")
        return
    for index, case in enumerate(("sequential", pipelined)):
        uv, base = loops["uvloop"][index], loops["asyncio"][index]
        case = f"{case}, uvloop at both ends"
        emit(
            [
                Row("calls", case, "round trips", uv.rate, "/s", base.rate, against=ON_ASYNCIO),
                Row("calls", case, "server CPU per call", uv.server_us, "µs", base.server_us,
                    against=ON_ASYNCIO),
                Row("calls", case, "client CPU per call", uv.client_us, "µs", base.client_us,
                    against=ON_ASYNCIO),
            ]
        )  # fmt: skip


if __name__ == "__main__":
    main()
