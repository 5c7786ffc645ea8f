"""Fan-out: one store, a one-field change, C = 100 and 1,000 subscribers.

The server under test runs in this process with the driver that updates its
store; the subscribers are raw ``websockets`` clients in two helper processes
(``_receiver fanout``). The baseline, in the same run against the same
receivers, is what one would write by hand: a bare ``websockets`` server
(compression off) sending the same frames, each encoded once, with
``websockets.asyncio.server.broadcast``. The subscribers offer per-message
deflate, as browsers do, so each server's default is what gets measured.

Flow control: an update counts as delivered when every receiver process has
acknowledged it (all its connections hold it); the driver keeps at most
:data:`WINDOW` updates in flight. So both servers run as fast as the slowest
subscriber takes frames, and neither is credited for filling socket buffers.
The rate is counted over a fixed window after a warm-up; the latency runs from
the ``time.monotonic_ns()`` taken just before ``update()`` (or
``broadcast()``) to the receipt, for every subscriber. On two cores the
receivers saturate first, so the server's CPU time per delivered patch is
reported as well: it shows the server's own cost when the rate cannot. Each
figure is the median of :data:`REPEATS` runs, bare and hotstate interleaved.

Security's cost, in the same run: hotstate_rx with ``authenticate`` and an
``access`` rule on the store, against hotstate_rx without (target: at most 5%
fewer deliveries and at most 5% more server CPU per delivery). Both are asked
once per connection and subscription, never per patch.

uvloop's gain, in the same run (``pip install hotstate-rx[speed]``): the
hotstate_rx server on uvloop against the same server on asyncio (the
receivers stay on asyncio). Every run has a fresh loop of its kind.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass
from typing import Protocol

from websockets.asyncio.server import ServerConnection, broadcast, serve

from hotstate_rx import Hotstate
from hotstate_rx.protocol import PatchMessage, ServerHello, Snapshot, encode
from hotstate_rx.server.loops import LoopChoice, loop_factory

from ._fleet import Fleet
from ._harness import Row, emit, percentile, raise_fd_limit

STORE = "Bench"
DATA = {"ts": 0, "name": "fan-out benchmark"}
CLIENT_COUNTS = (100, 1000)
WINDOW = 4
"""Updates in flight: enough to overlap sending and receiving, small enough
that latency measures delivery rather than queueing."""
WARMUP = 0.5
DURATION = 2.0
REPEATS = 3
"""Runs per server and size, interleaved; the table shows medians."""


class Server(Protocol):
    """The side under test: it serves subscribers and publishes a timestamp."""

    url: str

    async def start(self) -> None: ...
    def publish(self, stamp: int) -> None: ...
    async def close(self) -> None: ...


class BareServer:
    """The hand-written baseline: same frames, encoded once, ``broadcast()``."""

    def __init__(self) -> None:
        self._conns: set[ServerConnection] = set()
        self._version = 0
        self.url = ""

    async def start(self) -> None:
        self._server = await serve(self._handle, "127.0.0.1", 0, compression=None)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}"

    async def _handle(self, ws: ServerConnection) -> None:
        await ws.recv()  # hello
        await ws.recv()  # sub
        await ws.send(encode(ServerHello("bare", 0.0)))
        await ws.send(encode(Snapshot(STORE, self._version, DATA)))
        self._conns.add(ws)
        try:
            await ws.wait_closed()
        finally:
            self._conns.discard(ws)

    def publish(self, stamp: int) -> None:
        self._version += 1
        ops = [{"op": "replace", "path": "/ts", "value": stamp}]
        broadcast(self._conns, encode(PatchMessage(STORE, self._version, ops)))

    async def close(self) -> None:
        self._server.close()
        await self._server.wait_closed()


class HotstateServer:
    """hotstate_rx with its defaults; ``publish`` is one ``update()``. ``secure``:
    behind ``authenticate`` (every receiver is let in) and an ``access`` rule."""

    def __init__(self, *, secure: bool = False) -> None:
        self.url = ""
        self._secure = secure

    async def start(self) -> None:
        if self._secure:
            self._server = Hotstate(authenticate=lambda info: {"name": "receiver"})
            rule = lambda ctx, key: ctx.user["name"] == "receiver"  # noqa: E731
            self._store = self._server.create_store(STORE, DATA, access=rule)
        else:
            self._server = Hotstate()
            self._store = self._server.create_store(STORE, DATA)
        await self._server.listen(port=0, host="127.0.0.1")
        self.url = f"ws://127.0.0.1:{self._server.port}"

    def publish(self, stamp: int) -> None:
        self._store.update(lambda draft: draft.__setitem__("ts", stamp))

    async def close(self) -> None:
        await self._server.close()


@dataclass(frozen=True, slots=True)
class Outcome:
    rate: float
    p50_ms: float
    p99_ms: float
    cpu_us: float
    extensions: list[str]

    @classmethod
    def median(cls, runs: list[Outcome]) -> Outcome:
        """Each figure's median over runs (load on a shared machine drifts)."""
        return cls(
            *(statistics.median(getattr(r, f) for r in runs) for f in _FIGURES),
            extensions=sorted({e for r in runs for e in r.extensions}),
        )


_FIGURES = ("rate", "p50_ms", "p99_ms", "cpu_us")


async def measure(server: Server, clients: int) -> Outcome:
    await server.start()
    try:
        async with Fleet.open("fanout", server.url, clients, STORE) as fleet:
            loop = asyncio.get_running_loop()
            sent = fleet.version

            async def run_for(seconds: float) -> None:
                nonlocal sent
                end = loop.time() + seconds
                while loop.time() < end:
                    await fleet.until_acked(sent - WINDOW + 1)
                    sent += 1
                    server.publish(time.monotonic_ns())

            await run_for(WARMUP)
            lo, done0, cpu0, t0 = sent, fleet.delivered(), time.process_time(), loop.time()
            await run_for(DURATION)
            hi, done1, cpu1, t1 = sent, fleet.delivered(), time.process_time(), loop.time()
            await fleet.until_acked(hi)
            latencies = await fleet.latencies_ns(lo, hi)
            return Outcome(
                rate=(done1 - done0) / (t1 - t0),
                p50_ms=percentile(latencies, 50) / 1e6,
                p99_ms=percentile(latencies, 99) / 1e6,
                cpu_us=(cpu1 - cpu0) / max(done1 - done0, 1) * 1e6,
                extensions=fleet.extensions,
            )
    finally:
        await server.close()


def rows(clients: int, hot: Outcome, bare: Outcome) -> list[Row]:
    case = f"C={clients:,}"
    goal = clients == max(CLIENT_COUNTS)
    return [
        Row("fan-out", case, "patches delivered", hot.rate, "/s", bare.rate,
            "ratio >= 0.7" if goal else ""),
        Row("fan-out", case, "latency p50", hot.p50_ms, "ms", bare.p50_ms),
        Row("fan-out", case, "latency p99", hot.p99_ms, "ms", bare.p99_ms,
            "ratio <= 2" if goal else ""),
        Row("fan-out", case, "server CPU per delivery", hot.cpu_us, "µs", bare.cpu_us),
    ]  # fmt: skip


def secure_rows(clients: int, secure: Outcome, hot: Outcome) -> list[Row]:
    case = f"C={clients:,}, authenticate + access (baseline: hotstate_rx without)"
    return [
        Row("fan-out", case, "patches delivered", secure.rate, "/s", hot.rate, "ratio >= 0.95"),
        Row("fan-out", case, "server CPU per delivery", secure.cpu_us, "µs", hot.cpu_us,
            "ratio <= 1.05"),
    ]  # fmt: skip


def uvloop_rows(clients: int, uv: Outcome, hot: Outcome) -> list[Row]:
    case = f"C={clients:,}, server on uvloop (baseline: hotstate_rx on asyncio)"
    return [
        Row("fan-out", case, "patches delivered", uv.rate, "/s", hot.rate),
        Row("fan-out", case, "latency p99", uv.p99_ms, "ms", hot.p99_ms),
        Row("fan-out", case, "server CPU per delivery", uv.cpu_us, "µs", hot.cpu_us),
    ]


def _accepted(outcome: Outcome) -> str:
    return "yes" if any("deflate" in e for e in outcome.extensions) else "no"


def run_on(loop: LoopChoice, server: Server, clients: int) -> Outcome:
    """One measurement on a fresh event loop of kind ``loop``."""
    with asyncio.Runner(loop_factory=loop_factory(loop)) as runner:
        return runner.run(measure(server, clients))


def main() -> None:
    raise_fd_limit()
    try:
        loop_factory("uvloop")
        with_uvloop = True
    except ImportError as exc:  # uvloop is an extra
        print(f"uvloop rows skipped: {exc}")
        with_uvloop = False
    for clients in CLIENT_COUNTS:
        bare_runs, hot_runs, secure_runs, uv_runs = [], [], [], []
        for _ in range(REPEATS):
            bare_runs.append(run_on("asyncio", BareServer(), clients))
            hot_runs.append(run_on("asyncio", HotstateServer(), clients))
            secure_runs.append(run_on("asyncio", HotstateServer(secure=True), clients))
            if with_uvloop:
                uv_runs.append(run_on("uvloop", HotstateServer(), clients))
        bare, hot = Outcome.median(bare_runs), Outcome.median(hot_runs)
        secure = Outcome.median(secure_runs)
        offered = "permessage-deflate offered by every subscriber; accepted by"
        print(f"C={clients:,}: {offered} hotstate_rx: {_accepted(hot)}, bare: {_accepted(bare)}")
        emit(rows(clients, hot, bare) + secure_rows(clients, secure, hot))
        if uv_runs:
            emit(uvloop_rows(clients, Outcome.median(uv_runs), hot))


if __name__ == "__main__":
    main()
