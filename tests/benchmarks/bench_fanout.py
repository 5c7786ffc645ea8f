"""Fan-out: one store, a one-field change, C = 100 and 1,000 subscribers.

The server under test runs in this process with the driver that updates its
store; the subscribers are raw ``websockets`` clients in two helper processes
(``_receiver fanout``). The baseline, in the same run against the same
receivers, is what one would write by hand: a bare ``websockets`` server
(compression off) sending the same frames, each encoded once, with
``websockets.asyncio.server.broadcast``. The peer, in the same run against the
same receiver processes speaking socket.io's framing: python-socketio's
``AsyncServer`` (``_socketio``), the subscribers in a room, each change one
``emit`` of the same JSON Patch to the room. The subscribers offer per-message
deflate, as browsers do, so each server's default is what gets measured.

Flow control: an update counts as delivered when every receiver process has
acknowledged it (all its connections hold it); the driver keeps at most
:data:`WINDOW` updates in flight. So both servers run as fast as the slowest
subscriber takes frames, and neither is credited for filling socket buffers.
The rate is counted over a fixed window after a warm-up; the latency runs from
the ``time.monotonic_ns()`` taken just before ``update()`` (or
``broadcast()``) to the receipt, for every subscriber. On two cores the
receivers saturate first, so the server's CPU time per delivered patch is
reported as well: it shows the server's own cost when the rate cannot. At
C = 1,000 the same connections then get :data:`PACED` updates at
:data:`PACE_HZ` per second, the latency a person sees when nothing queues
("paced p99"). Each figure is the median of :data:`REPEATS` runs, the servers
interleaved.

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
import math
import statistics
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, Protocol

from websockets.asyncio.server import ServerConnection, broadcast, serve

from hotstate_rx import Hotstate
from hotstate_rx.protocol import PatchMessage, ServerHello, Snapshot, encode
from hotstate_rx.server.loops import LoopChoice, loop_factory

from . import _socketio
from ._fleet import Fleet
from ._harness import PEER, Row, emit, percentile, raise_fd_limit

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
PACED_AT = 1000
"""The subscriber count that also gets paced updates."""
PACE_HZ = 10
PACED = 20
SECURE = "hotstate_rx without authenticate + access"


class Server(Protocol):
    """The side under test: it serves subscribers and publishes a timestamp."""

    url: str
    wire: str
    """What the receivers speak: ``"hotstate"`` or ``"socketio"``."""

    async def start(self) -> None: ...
    def publish(self, stamp: int) -> Awaitable[Any] | None:
        """Send one change to every subscriber; an awaitable when the server's API is one."""

    async def close(self) -> None: ...


class BareServer:
    """The hand-written baseline: same frames, encoded once, ``broadcast()``."""

    def __init__(self) -> None:
        self._conns: set[ServerConnection] = set()
        self._version = 0
        self.url = ""
        self.wire = "hotstate"

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
        self.wire = "hotstate"
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


class SocketioServer:
    """python-socketio: ``sub`` joins the room named by the store and answers a
    snapshot; ``publish`` is one ``emit`` of the patch to that room."""

    def __init__(self) -> None:
        self.url = ""
        self.wire = "socketio"
        self._version = 0
        self._sio = _socketio.server()
        self._sio.on("sub", self._subscribe)

    async def _subscribe(self, sid: str, store: str) -> None:
        await self._sio.enter_room(sid, store)
        await self._sio.emit("snap", {"s": store, "v": self._version, "data": DATA}, to=sid)

    async def start(self) -> None:
        url, self._stop = await _socketio.listen(self._sio)
        self.url = _socketio.raw_url(url)

    def publish(self, stamp: int) -> Awaitable[Any]:
        self._version += 1
        ops = [{"op": "replace", "path": "/ts", "value": stamp}]
        return self._sio.emit("patch", {"s": STORE, "v": self._version, "p": ops}, room=STORE)

    async def close(self) -> None:
        await self._stop()


@dataclass(frozen=True, slots=True)
class Outcome:
    rate: float
    p50_ms: float
    p99_ms: float
    cpu_us: float
    paced_p99_ms: float
    """NaN unless the run was paced (:data:`PACED_AT` subscribers)."""
    extensions: list[str]

    @classmethod
    def median(cls, runs: list[Outcome]) -> Outcome:
        """Each figure's median over runs (load on a shared machine drifts)."""
        return cls(
            *(statistics.median(getattr(r, f) for r in runs) for f in _FIGURES),
            extensions=sorted({e for r in runs for e in r.extensions}),
        )


_FIGURES = ("rate", "p50_ms", "p99_ms", "cpu_us", "paced_p99_ms")


async def measure(server: Server, clients: int, *, deflate: bool = True) -> Outcome:
    """One run; ``deflate``: whether the subscribers offer per-message deflate."""
    await server.start()
    try:
        async with Fleet.open(
            "fanout", server.url, clients, STORE, server.wire, deflate=deflate
        ) as fleet:
            loop = asyncio.get_running_loop()
            sent = fleet.version

            async def publish() -> None:
                nonlocal sent
                sent += 1
                pending = server.publish(time.monotonic_ns())
                if pending is not None:
                    await pending

            async def run_for(seconds: float) -> None:
                end = loop.time() + seconds
                while loop.time() < end:
                    await fleet.until_acked(sent - WINDOW + 1)
                    await publish()

            await run_for(WARMUP)
            lo, done0, cpu0, t0 = sent, fleet.delivered(), time.process_time(), loop.time()
            await run_for(DURATION)
            hi, done1, cpu1, t1 = sent, fleet.delivered(), time.process_time(), loop.time()
            await fleet.until_acked(hi)
            latencies = await fleet.latencies_ns(lo, hi)
            paced_p99 = math.nan
            if clients == PACED_AT:
                tick = loop.time()
                for _ in range(PACED):
                    tick += 1 / PACE_HZ
                    await asyncio.sleep(tick - loop.time())  # pacing, not synchronisation
                    await publish()
                await fleet.until_acked(sent)
                paced_p99 = percentile(await fleet.latencies_ns(hi, sent), 99) / 1e6
            return Outcome(
                rate=(done1 - done0) / (t1 - t0),
                p50_ms=percentile(latencies, 50) / 1e6,
                p99_ms=percentile(latencies, 99) / 1e6,
                cpu_us=(cpu1 - cpu0) / max(done1 - done0, 1) * 1e6,
                paced_p99_ms=paced_p99,
                extensions=fleet.extensions,
            )
    finally:
        await server.close()


def rows(clients: int, hot: Outcome, bare: Outcome, peer: Outcome) -> list[Row]:
    case = f"C={clients:,}"
    goal = clients == max(CLIENT_COUNTS)
    found = [
        Row(
            "fan-out",
            case,
            "patches delivered",
            hot.rate,
            "/s",
            bare.rate,
            "ratio >= 0.7" if goal else "",
            peer.rate,
        ),
        Row("fan-out", case, "latency p50", hot.p50_ms, "ms", bare.p50_ms, "", peer.p50_ms),
        Row(
            "fan-out",
            case,
            "latency p99",
            hot.p99_ms,
            "ms",
            bare.p99_ms,
            "ratio <= 2" if goal else "",
            peer.p99_ms,
        ),
        Row(
            "fan-out",
            case,
            "server CPU per delivery",
            hot.cpu_us,
            "µs",
            bare.cpu_us,
            "",
            peer.cpu_us,
        ),
    ]
    if clients == PACED_AT:
        found.append(
            Row(
                "fan-out",
                f"{case}, paced {PACE_HZ}/s",
                "latency p99",
                hot.paced_p99_ms,
                "ms",
                bare.paced_p99_ms,
                "",
                peer.paced_p99_ms,
            )
        )
    return found  # fmt: skip


def secure_rows(clients: int, secure: Outcome, hot: Outcome) -> list[Row]:
    case = f"C={clients:,}, authenticate + access"
    return [
        Row("fan-out", case, "patches delivered", secure.rate, "/s", hot.rate, "ratio >= 0.95",
            against=SECURE),
        Row("fan-out", case, "server CPU per delivery", secure.cpu_us, "µs", hot.cpu_us,
            "ratio <= 1.05", against=SECURE),
    ]  # fmt: skip


def uvloop_rows(clients: int, uv: Outcome, hot: Outcome) -> list[Row]:
    case, base = f"C={clients:,}, server on uvloop", "hotstate_rx on asyncio"
    return [
        Row("fan-out", case, "patches delivered", uv.rate, "/s", hot.rate, against=base),
        Row("fan-out", case, "latency p99", uv.p99_ms, "ms", hot.p99_ms, against=base),
        Row("fan-out", case, "server CPU per delivery", uv.cpu_us, "µs", hot.cpu_us, against=base),
    ]


def _accepted(outcome: Outcome) -> str:
    return "yes" if any("deflate" in e for e in outcome.extensions) else "no"


def run_on(loop: LoopChoice, server: Server, clients: int, *, deflate: bool = True) -> Outcome:
    """One measurement on a fresh event loop of kind ``loop``."""
    with asyncio.Runner(loop_factory=loop_factory(loop)) as runner:
        return runner.run(measure(server, clients, deflate=deflate))


def main() -> None:
    raise_fd_limit()
    try:
        loop_factory("uvloop")
        with_uvloop = True
    except ImportError as exc:  # uvloop is an extra
        print(f"uvloop rows skipped: {exc}")
        with_uvloop = False
    for clients in CLIENT_COUNTS:
        bare_runs, hot_runs, secure_runs, peer_runs, plain_runs, uv_runs = [], [], [], [], [], []
        for _ in range(REPEATS):
            bare_runs.append(run_on("asyncio", BareServer(), clients))
            hot_runs.append(run_on("asyncio", HotstateServer(), clients))
            secure_runs.append(run_on("asyncio", HotstateServer(secure=True), clients))
            peer_runs.append(run_on("asyncio", SocketioServer(), clients))
            if clients == PACED_AT:
                plain_runs.append(run_on("asyncio", SocketioServer(), clients, deflate=False))
            if with_uvloop:
                uv_runs.append(run_on("uvloop", HotstateServer(), clients))
        bare, hot = Outcome.median(bare_runs), Outcome.median(hot_runs)
        secure, peer = Outcome.median(secure_runs), Outcome.median(peer_runs)
        offered = "permessage-deflate offered by every subscriber; accepted by"
        print(
            f"C={clients:,}: {offered} hotstate_rx: {_accepted(hot)}, bare: {_accepted(bare)}, "
            f"{PEER}: {_accepted(peer)}"
        )
        if plain_runs:
            plain = Outcome.median(plain_runs)
            print(
                f"C={clients:,}: {PEER} with deflate left out of the subscribers' offer: "
                f"{plain.rate:,.0f} patches delivered/s, {plain.cpu_us:.1f} µs server CPU per "
                f"delivery, latency p99 {plain.p99_ms:.0f} ms, paced p99 "
                f"{plain.paced_p99_ms:.0f} ms."
            )
        emit(rows(clients, hot, bare, peer) + secure_rows(clients, secure, hot))
        if uv_runs:
            emit(uvloop_rows(clients, Outcome.median(uv_runs), hot))


if __name__ == "__main__":
    main()
