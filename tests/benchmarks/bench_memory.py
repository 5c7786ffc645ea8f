"""Memory: per idle connected client, and per dynamic store instance.

Each case runs in a fresh process of its own (``bench_memory CASE``), so
freed memory of one case is not reused by the next and RSS deltas stay
honest. Connections: 1,000 raw clients (``_receiver idle``, another process)
complete the handshake and stay idle; the server's growth is measured twice,
as RSS (the whole process: interpreter arenas, buffers) without tracing, and
as Python allocations with ``tracemalloc`` in a separate run (tracing has its
own overhead in RSS). The baseline is a bare ``websockets`` server whose
handler answers ``hello`` and waits; the peer, python-socketio's
``AsyncServer`` on aiohttp, with the same receiver processes speaking
socket.io's framing (each connection joins the namespace and waits). The
receivers offer per-message deflate, as browsers do, and aiohttp accepts it:
python-socketio is measured again with the offer left out (``plain``), to
show what its compression contexts hold.

Rooms: 10,000 ``Room:*`` instances created with ``init(key)``, traced with
``tracemalloc``; their data (its own deep copy of the defaults) is measured
apart for scale: the total per instance, everything included, is what must
stay under the 5 KiB target.
"""

from __future__ import annotations

import asyncio
import copy
import gc
import sys
import tracemalloc
from collections.abc import Awaitable, Callable
from typing import Any

from websockets.asyncio.server import ServerConnection, serve

from hotstate_rx import Hotstate
from hotstate_rx.frozen import freeze
from hotstate_rx.protocol import ServerHello, encode

from . import _socketio
from ._fleet import Fleet
from ._harness import PEER, Parent, Row, emit, raise_fd_limit, rss_bytes, spawn

CLIENTS = 1000
ROOMS = 10_000
ROOM_DEFAULTS = {"title": "", "messages": [], "members": {}}
KIB = 1024


async def _bare_server() -> tuple[str, Callable[[], Awaitable[None]]]:
    async def handle(ws: ServerConnection) -> None:
        await ws.recv()
        await ws.send(encode(ServerHello("bare", 0.0)))
        await ws.wait_closed()

    server = await serve(handle, "127.0.0.1", 0, compression=None)

    async def close() -> None:
        server.close()
        await server.wait_closed()

    return f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}", close


async def _hotstate_server() -> tuple[str, Callable[[], Awaitable[None]]]:
    hub = Hotstate()
    await hub.listen(port=0, host="127.0.0.1")
    return f"ws://127.0.0.1:{hub.port}", hub.close


async def _socketio_server() -> tuple[str, Callable[[], Awaitable[None]]]:
    url, close = await _socketio.listen(_socketio.server())
    return _socketio.raw_url(url), close


SERVERS = {"hotstate": _hotstate_server, "bare": _bare_server, "socketio": _socketio_server}
"""Each kind of server, and the wire its receivers speak (``bare`` speaks hotstate's)."""


def _used(traced: bool) -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0] if traced else rss_bytes()


async def per_connection(kind: str, traced: bool, deflate: bool) -> float:
    """Bytes the server grows by per idle connected client."""
    if traced:
        tracemalloc.start()
    url, close = await SERVERS[kind]()
    wire = "socketio" if kind == "socketio" else "hotstate"
    try:
        before = _used(traced)
        async with Fleet.open("idle", url, CLIENTS, wire=wire, deflate=deflate):
            after = _used(traced)
    finally:
        await close()
    return (after - before) / CLIENTS


def per_room() -> tuple[float, float]:
    """Bytes per dynamic store instance, and per copy of its data alone."""
    tracemalloc.start()
    hub = Hotstate()
    rooms = hub.create_store("Room:*", ROOM_DEFAULTS)
    before = _used(True)
    for i in range(ROOMS):
        rooms.init(f"room-{i}")
    total = _used(True) - before
    before = _used(True)
    copies = [freeze(copy.deepcopy(ROOM_DEFAULTS)) for _ in range(ROOMS)]
    data = _used(True) - before
    del copies
    return total / ROOMS, data / ROOMS


async def run_case(case: str) -> None:
    """Child process: measure one case and report it to the parent."""
    parent = await Parent.connect()
    result: Any
    if case == "rooms":
        result = per_room()
    else:
        kind, how, *plain = case.split("-")
        result = await per_connection(kind, traced=how == "traced", deflate=not plain)
    parent.send({"result": result})


async def _in_child(case: str) -> Any:
    async with spawn("bench_memory", case) as child:
        return (await child.recv(timeout=180))["result"]


async def main() -> None:
    cases = [f"{kind}-{how}" for how in ("rss", "traced") for kind in SERVERS]
    conn = {
        case: await _in_child(case)
        for case in [*cases, "socketio-rss-plain", "socketio-traced-plain"]
    }
    room_total, room_data = await _in_child("rooms")
    clients, rooms = f"{CLIENTS:,} idle clients", f"{ROOMS:,} Room:* instances"
    emit(
        [
            Row(
                "memory",
                clients,
                "server RSS per connection",
                conn["hotstate-rss"] / KIB,
                "KiB",
                conn["bare-rss"] / KIB,
                "value < 50",
                conn["socketio-rss"] / KIB,
            ),
            Row(
                "memory",
                clients,
                "server Python heap per connection (tracemalloc)",
                conn["hotstate-traced"] / KIB,
                "KiB",
                conn["bare-traced"] / KIB,
                "value < 50",
                conn["socketio-traced"] / KIB,
            ),
            Row(
                "memory",
                rooms,
                "per instance, all included",
                room_total / KIB,
                "KiB",
                target="value < 5",
            ),
            Row("memory", rooms, "its data alone, as a deep copy", room_data / KIB, "KiB"),
        ]
    )
    print(
        f"{PEER} with deflate left out of the clients' offer: server RSS per connection "
        f"{conn['socketio-rss-plain'] / KIB:.1f} KiB, Python heap "
        f"{conn['socketio-traced-plain'] / KIB:.1f} KiB (with it, as in the table: "
        f"{conn['socketio-rss'] / KIB:.1f} and {conn['socketio-traced'] / KIB:.1f} KiB)."
    )


if __name__ == "__main__":
    raise_fd_limit()
    if len(sys.argv) > 1:
        asyncio.run(run_case(sys.argv[1]))
    else:
        asyncio.run(main())
