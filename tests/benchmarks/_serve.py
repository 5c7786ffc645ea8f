"""Server process for the benchmarks whose load is the client in the parent.

    python -m tests.benchmarks._serve hotstate-echo   # hotstate_rx, handler "echo"
    python -m tests.benchmarks._serve hotstate-echo-secure  # the same behind authenticate + access
    python -m tests.benchmarks._serve hotstate-count [DB full|normal]  # "bump" changes a store
    python -m tests.benchmarks._serve bare-echo       # bare websockets + msgpack
    python -m tests.benchmarks._serve socketio-echo   # python-socketio, event "echo" acknowledged
    python -m tests.benchmarks._serve bare-patches N  # hello, snapshot, N patches
    python -m tests.benchmarks._serve --loop uvloop KIND ...  # on uvloop (default: asyncio)

The hotstate servers keep the default limits but the rate limit, raised out
of reach: its arithmetic runs on every frame, and never pauses the load; and
``hotstate-count`` lets :data:`PENDING` calls wait at once: with storage an
answer waits for its commit and counts as running until then, and the
pipelined benchmark keeps 100 in flight (the default limit is 64).
Reports ``{"url": ...}`` once it accepts connections and serves until its
stdin closes. ``bare-patches`` feeds a client a 100,000-item store: it answers
``hello`` and ``sub`` like a hotstate server, then sends N pre-encoded patches
as fast as the connection takes them (``await send`` honours backpressure).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import msgpack
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from hotstate_rx import Hotstate, RateLimit
from hotstate_rx.protocol import (
    ClientHello,
    PatchMessage,
    ServerHello,
    Snapshot,
    Subscribe,
    decode_client_message,
    encode,
)
from hotstate_rx.server.loops import loop_factory
from hotstate_rx.server.storage import SQLiteStorage

from . import _socketio
from ._harness import Parent
from .bench_calls import IN_FLIGHT

UNTHROTTLED = RateLimit(rate=1e9, burst=10**9)
PENDING = 2 * IN_FLIGHT

BIG_STORE = "Items"
BIG_ITEMS = 100_000


def big_state() -> dict[str, Any]:
    """A 100,000-item store (a list of ints: the snapshot stays under 1 MiB)."""
    return {"items": list(range(BIG_ITEMS))}


def big_patches(count: int, first_version: int) -> list[bytes]:
    """``count`` encoded patches, each replacing one item of :func:`big_state`."""
    return [
        encode(
            PatchMessage(
                BIG_STORE,
                first_version + k,
                [{"op": "replace", "path": f"/items/{k * 7919 % BIG_ITEMS}", "value": -k}],
            )
        )
        for k in range(count)
    ]


async def _bare_echo(ws: ServerConnection) -> None:
    async for frame in ws:
        req = msgpack.unpackb(frame)
        await ws.send(msgpack.packb({"t": "res", "i": req["i"], "r": req["a"]}))


def _bare_patches(count: int) -> Any:
    snapshot = encode(Snapshot(BIG_STORE, 1, big_state()))
    patches = big_patches(count, 2)

    async def handle(ws: ServerConnection) -> None:
        with contextlib.suppress(ConnectionClosed):  # however the client leaves
            async for frame in ws:
                msg = decode_client_message(frame)
                if isinstance(msg, ClientHello):
                    await ws.send(encode(ServerHello("bench", 0.0)))
                elif isinstance(msg, Subscribe):
                    await ws.send(snapshot)
                    for patch in patches:
                        await ws.send(patch)

    return handle


async def _start(kind: str, args: list[str]) -> tuple[str, Callable[[], Awaitable[None]]]:
    """The URL to connect to, and how to close the server."""
    if kind in {"hotstate-echo", "hotstate-echo-secure"}:
        if kind == "hotstate-echo":
            hub = Hotstate(rate_limit=UNTHROTTLED)
            hub.handle("echo", lambda args: args)
        else:  # what a secured server adds to every call: its ctx and one access rule
            hub = Hotstate(authenticate=lambda info: {"name": info.token}, rate_limit=UNTHROTTLED)
            hub.handle("echo", lambda args: args, access=lambda ctx: ctx.user["name"] == "bench")
        await hub.listen(port=0, host="127.0.0.1")
        return f"ws://127.0.0.1:{hub.port}", hub.close
    if kind == "hotstate-count":  # an acknowledged change: with storage, a durable one
        storage = SQLiteStorage(args[0], synchronous=args[1]) if args else None
        hub = Hotstate(storage=storage, rate_limit=UNTHROTTLED, max_pending_calls=PENDING)
        counter = hub.create_store("Counter", {"n": 0, "by": ""})

        def bump(args: Any) -> int:
            counter.update(lambda d: d.update(n=d["n"] + 1, by=args["text"]))
            return int(counter.get()["n"])

        hub.handle("bump", bump)
        await hub.listen(port=0, host="127.0.0.1")
        return f"ws://127.0.0.1:{hub.port}", hub.close
    if kind == "socketio-echo":  # an acknowledged event: socket.io's request/response
        sio = _socketio.server()

        async def echo(sid: str, args: Any) -> Any:
            return args

        sio.on("echo", echo)
        return await _socketio.listen(sio)
    handler = _bare_echo if kind == "bare-echo" else _bare_patches(int(args[0]))
    server: Server = await serve(handler, "127.0.0.1", 0, compression=None, max_size=None)

    async def close() -> None:
        server.close()
        await server.wait_closed()

    return f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}", close


async def main(argv: list[str]) -> None:
    kind, *args = argv
    kinds = {
        "hotstate-echo",
        "hotstate-echo-secure",
        "hotstate-count",
        "bare-echo",
        "socketio-echo",
        "bare-patches",
    }
    if kind not in kinds:
        raise SystemExit(__doc__)
    parent = await Parent.connect()
    url, close = await _start(kind, args)
    parent.send({"url": url})
    while await parent.recv() is not None:
        pass
    await close()


if __name__ == "__main__":
    argv = sys.argv[1:]
    loop = "asyncio"
    if argv[:1] == ["--loop"]:
        loop, argv = argv[1], argv[2:]
    with asyncio.Runner(loop_factory=loop_factory(loop)) as runner:
        runner.run(main(argv))
