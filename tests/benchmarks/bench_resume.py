"""Resume: 1,000 clients come back after a 1 s drop, versus 1,000 snapshots.

A server (a helper process: ``bench_resume serve``) holds ``Items``, a store
of 1,000 todo-like items. 1,000 raw clients subscribe, then every connection
is aborted (no close frame: the sessions are parked), the server makes 10
changes, and after a second the clients reconnect, in one of two ways:

- **resume**: ``hello`` with the session's token and ``sub`` naming the
  version and epoch held: the server sends the 10 missed patches;
- **snapshot**: a fresh ``hello`` and a plain ``sub``, as every reconnect
  was before: the server sends the whole state.

Both run in the same process of the same server, alternating, each
:data:`REPEATS` times; the figures are medians: the server's CPU time for the
reconnect (from its first ``hello`` to the last client holding the current
version) and the bytes the clients received then.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time

from websockets.asyncio.client import ClientConnection, connect

from hotstate_rx import Server
from hotstate_rx.protocol import (
    ClientHello,
    PatchMessage,
    ServerHello,
    Snapshot,
    Subscribe,
    decode_server_message,
    encode,
)

from ._harness import Parent, Row, emit, raise_fd_limit, spawn

CLIENTS = 1000
ITEMS = 1000
CHANGES = 10
DROP = 1.0
REPEATS = 3
CONCURRENT_OPENS = 32
STORE = "Items"
SNAPSHOTS = "a snapshot each (re-subscribing without resume)"
CATCH_UP = 120.0
"""Seconds a reconnect of all clients may take: a stall fails the run, named."""


# -- the server process --------------------------------------------------------


async def serve() -> None:
    server = Server()
    items = server.create_store(
        STORE, {"items": [{"id": i, "text": f"item {i}", "done": False} for i in range(ITEMS)]}
    )
    await server.listen(port=0, host="127.0.0.1", heartbeat=0)
    parent = await Parent.connect()
    parent.send({"url": f"ws://127.0.0.1:{server.port}"})
    while (command := await parent.recv()) is not None:
        if "change" in command:
            for k in range(command["change"]):  # each a real change: done flips
                items.update(
                    lambda d, k=k: d["items"][k * 97 % ITEMS].update(
                        done=not d["items"][k * 97 % ITEMS]["done"]
                    )
                )
        parent.send({"cpu": time.process_time()})
    await server.close()


# -- the clients (this process) ---------------------------------------------------


class Held:
    """What one raw client knows of its session and its copy."""

    __slots__ = ("epoch", "token", "version", "ws")

    def __init__(self) -> None:
        self.token: str | None = None
        self.version = 0
        self.epoch: str | None = None
        self.ws: ClientConnection | None = None


async def open_all(url: str, held: list[Held], resume: bool) -> int:
    """(Re)connect every client and wait until each holds the current version;
    returns the bytes received on the way."""
    gate = asyncio.Semaphore(CONCURRENT_OPENS)
    received = 0

    async def one(h: Held) -> None:
        nonlocal received
        async with gate:
            ws = await connect(url, compression=None, max_size=None)
        h.ws = ws
        asking = resume and h.token is not None
        await ws.send(encode(ClientHello(resume=h.token if asking else None)))
        sub = Subscribe(STORE, h.version, h.epoch) if asking else Subscribe(STORE)
        await ws.send(encode(sub))
        target = h.version + CHANGES if asking else None
        while True:
            frame = await ws.recv()
            received += len(frame)
            message = decode_server_message(frame)
            if isinstance(message, ServerHello):
                h.token = message.resume
            elif isinstance(message, Snapshot):
                h.version, h.epoch = message.version, message.epoch
                if target is None or h.version >= target:
                    return
            elif isinstance(message, PatchMessage):
                h.version = message.version
                if target is not None and h.version >= target:
                    return

    await asyncio.wait_for(asyncio.gather(*(one(h) for h in held)), CATCH_UP)
    return received


def drop_all(held: list[Held]) -> None:
    for h in held:
        if h.ws is not None and h.ws.transport is not None:
            h.ws.transport.abort()  # no close frame: the network failed
        h.ws = None


async def measure() -> dict[str, list[float]]:
    raise_fd_limit()
    figures: dict[str, list[float]] = {
        k: [] for k in ("resume cpu", "resume bytes", "snap cpu", "snap bytes")
    }
    async with spawn("bench_resume", "serve") as server:
        url = (await server.recv())["url"]
        for _ in range(REPEATS):
            for way in ("resume", "snap"):
                held = [Held() for _ in range(CLIENTS)]
                await open_all(url, held, resume=False)
                drop_all(held)
                server.send({"change": CHANGES})
                await server.recv()
                await asyncio.sleep(DROP)  # the drop lasts a second (pacing, not a wait)
                server.send({})
                before = (await server.recv())["cpu"]
                received = await open_all(url, held, resume=way == "resume")
                server.send({})
                after = (await server.recv())["cpu"]
                figures[f"{way} cpu"].append(after - before)
                figures[f"{way} bytes"].append(received)
                drop_all(held)
    return figures


async def main() -> None:
    figures = {k: statistics.median(v) for k, v in (await measure()).items()}
    case = f"{CLIENTS:,} clients, {ITEMS:,} items, {CHANGES} changes missed"
    emit(
        [
            Row(
                "resume",
                case,
                "server CPU to catch up",
                figures["resume cpu"] * 1000,
                "ms",
                figures["snap cpu"] * 1000,
                "ratio < 1",
                against=SNAPSHOTS,
            ),
            Row(
                "resume",
                case,
                "bytes sent to catch up",
                figures["resume bytes"] / 1024,
                "KiB",
                figures["snap bytes"] / 1024,
                "ratio < 1",
                against=SNAPSHOTS,
            ),
        ]
    )


if __name__ == "__main__":
    asyncio.run(serve() if sys.argv[1:] == ["serve"] else main())
