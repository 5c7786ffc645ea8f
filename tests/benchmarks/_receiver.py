"""Load process: N raw ``websockets`` clients speaking hotstate's wire or socket.io's.

Raw clients, not ``hotstate_rx.client`` nor ``socketio.AsyncClient``, so that a
client library's cost does not hide the server's, and both servers under test
face the same receivers. Usage (driven by a parent through
:class:`~tests.benchmarks._harness.Child`)::

    python -m tests.benchmarks._receiver WIRE[+plain] fanout URL N STORE
    python -m tests.benchmarks._receiver WIRE[+plain] idle URL N [STORE]

``WIRE`` is ``hotstate`` (MessagePack frames: ``hello``, ``sub STORE``, then
``snap`` and ``patch``) or ``socketio`` (Engine.IO 4 over a websocket, text
frames: the server's ``0{open}``, ``40`` to join the namespace ``/``, then the
events ``42["sub", STORE]``, ``42["snap", {"v": ...}]`` and ``42["patch",
{"v": ..., "p": [...]}]``, the very JSON Patch payload hotstate sends; the
server's ping ``2`` is answered ``3``).

Both modes open N connections (at most :data:`CONCURRENT_OPENS` handshakes at
a time, so the server's listen backlog never overflows), subscribe to STORE,
and report ``{"ready": N, "versions": [v], "extensions": [...]}`` once every
connection holds its first snapshot (or, idle without STORE, once the server
has greeted it: hotstate's ``hello``, socket.io's namespace ``40``).
``extensions`` are the negotiated ``Sec-WebSocket-Extensions``: the clients
offer per-message deflate like browsers do, so each server's default is what
gets measured; ``+plain`` (``socketio+plain``) leaves the offer out, to show
what deflate costs a server that accepts it.

``fanout`` then timestamps every ``patch``: the changed value is the
``time.monotonic_ns()`` of the server's update (CLOCK_MONOTONIC is one clock
for every process on Linux). When all N connections of this process hold
version v, it reports ``{"ack": v}``: the parent paces updates on these acks so
that "as fast as possible" measures delivery, not buffer filling. On
``{"report": [lo, hi]}`` it answers ``{"latencies_ns": [...]}`` for versions in
``(lo, hi]``. Closing stdin closes every connection and ends the process.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from abc import ABC, abstractmethod
from array import array

import msgpack
from websockets.asyncio.client import ClientConnection, connect

from hotstate_rx.protocol import ClientHello, Pong, Subscribe, encode

from ._harness import Parent, raise_fd_limit

CONCURRENT_OPENS = 32
PONG = encode(Pong())


class Tally:
    """Counts arrivals per version across this process's connections."""

    def __init__(self, parent: Parent, n: int) -> None:
        self._parent = parent
        self._n = n
        self._snapped = 0
        self.versions: set[int] = set()
        self.ready = asyncio.Event()
        self._pending: dict[int, int] = {}
        self._seen = array("q")
        self._latency = array("q")

    def first(self, version: int) -> None:
        self.versions.add(version)
        self._snapped += 1
        if self._snapped == self._n:
            self.ready.set()

    def patch(self, version: int, stamp: int) -> None:
        self._latency.append(time.monotonic_ns() - stamp)
        self._seen.append(version)
        count = self._pending.get(version, 0) + 1
        if count == self._n:
            # Frames arrive in order on each connection, so all versions up to
            # this one are complete as well.
            del self._pending[version]
            self._parent.send({"ack": version})
        else:
            self._pending[version] = count

    def latencies(self, lo: int, hi: int) -> list[int]:
        return [lat for v, lat in zip(self._seen, self._latency, strict=True) if lo < v <= hi]


async def _client(
    url: str, frames: list[bytes | str], gate: asyncio.Semaphore, reader: _Reader, deflate: bool
) -> ClientConnection:
    async with gate:
        offer = "deflate" if deflate else None
        ws = await connect(url, max_size=None, open_timeout=60, compression=offer)
        for frame in frames:
            await ws.send(frame)
    reader.start(ws)
    return ws


class _Reader(ABC):
    """Reads every connection in its own task; owns those tasks. One subclass per wire."""

    def __init__(self, tally: Tally, store: str | None, *, timed: bool) -> None:
        self._tally = tally
        self._store = store
        self._timed = timed
        self._tasks: list[asyncio.Task[None]] = []

    @abstractmethod
    def opening(self) -> list[bytes | str]:
        """The frames every connection sends as soon as it is open."""

    def start(self, ws: ClientConnection) -> None:
        self._tasks.append(asyncio.get_running_loop().create_task(self._read(ws)))

    @abstractmethod
    async def _read(self, ws: ClientConnection) -> None:
        """Consume one connection's frames until it closes."""

    async def close(self) -> None:
        """Wait for the readers to see their connection close (after ``ws.close()``)."""
        await asyncio.gather(*self._tasks, return_exceptions=True)


class _HotstateReader(_Reader):
    def opening(self) -> list[bytes | str]:
        frames: list[bytes | str] = [encode(ClientHello())]
        return frames + ([encode(Subscribe(self._store))] if self._store else [])

    async def _read(self, ws: ClientConnection) -> None:
        tally, timed, first = self._tally, self._timed, True
        first_kind = "snap" if self._store else "hello"
        async for frame in ws:
            msg = msgpack.unpackb(frame)
            kind = msg["t"]
            if kind == "patch" and timed:
                tally.patch(msg["v"], msg["p"][0]["value"])
            elif first and kind == first_kind:
                first = False
                tally.first(msg.get("v", 0))
            elif kind == "ping":
                await ws.send(PONG)


class _SocketioReader(_Reader):
    def opening(self) -> list[bytes | str]:
        return ["40"]  # join the namespace "/"; subscribe once the server has let us in

    async def _read(self, ws: ClientConnection) -> None:
        tally, timed, first = self._tally, self._timed, True
        async for frame in ws:
            if not isinstance(frame, str):
                raise ValueError(f"socket.io over a websocket sends text, got {frame!r:.40}")
            if frame.startswith('42["patch"'):
                if timed:
                    body = json.loads(frame[2:])[1]
                    tally.patch(body["v"], body["p"][0]["value"])
            elif frame.startswith('42["snap"') and first:
                first = False
                tally.first(json.loads(frame[2:])[1]["v"])
            elif frame.startswith("40"):  # joined the namespace
                if self._store:
                    await ws.send("42" + json.dumps(["sub", self._store]))
                else:
                    first = False
                    tally.first(0)
            elif frame == "2":  # Engine.IO ping
                await ws.send("3")


async def main(argv: list[str]) -> None:
    wire, mode, url, count, *rest = argv
    wire, plain, _ = wire.partition("+plain")
    store = rest[0] if rest else None
    if wire not in WIRES or mode not in {"fanout", "idle"} or (mode == "fanout" and not store):
        raise SystemExit(__doc__)
    raise_fd_limit()
    parent = await Parent.connect()
    n = int(count)
    tally = Tally(parent, n)
    reader = WIRES[wire](tally, store, timed=mode == "fanout")
    frames = reader.opening()
    gate = asyncio.Semaphore(CONCURRENT_OPENS)
    deflate = not plain
    conns = await asyncio.gather(*(_client(url, frames, gate, reader, deflate) for _ in range(n)))
    await asyncio.wait_for(tally.ready.wait(), 120)
    extensions = sorted({ws.response.headers.get("Sec-WebSocket-Extensions", "") for ws in conns})
    parent.send({"ready": n, "versions": sorted(tally.versions), "extensions": extensions})
    while (cmd := await parent.recv()) is not None:
        if "report" in cmd:
            lo, hi = cmd["report"]
            parent.send({"latencies_ns": tally.latencies(lo, hi)})
    await asyncio.gather(*(ws.close() for ws in conns), return_exceptions=True)
    await reader.close()


WIRES: dict[str, type[_Reader]] = {"hotstate": _HotstateReader, "socketio": _SocketioReader}


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
