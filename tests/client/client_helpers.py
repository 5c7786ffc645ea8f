"""Helpers for client tests: an event-driven recorder and a scripted fake
server. Nothing here sleeps to synchronise: waits are on events, bounded by
TIMEOUT."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from typing import Any

from tcp_proxy import CuttingProxy
from websockets.asyncio.server import Server as WsServer
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from hotstate_rx import Server
from hotstate_rx.client import Client
from hotstate_rx.client.core import ClientCore
from hotstate_rx.protocol import (
    PROTOCOL_VERSION,
    ClientHello,
    ClientMessage,
    ServerHello,
    ServerMessage,
    Snapshot,
    decode_client_message,
    encode,
)

TIMEOUT = 5.0

MakeClient = Callable[..., Client]
"""``make_client(url=None, **options)``, the fixture of conftest.py."""
StartServer = Callable[..., Awaitable[tuple[Server, str]]]
"""``await start_server(setup=None, port=0, heartbeat=30.0, **options)`` -> (server, url)."""
ServeClient = Callable[..., Awaitable[tuple[Server, Client]]]
"""``await serve_client(setup=None, **client_options)`` -> (server, client)."""


# ------------------------------------------------------ the core, fed by hand

NODE = "ws://node1:4400"
"""The server URL a core fed by hand connects to (no socket is opened)."""


def connected(**options: Any) -> ClientCore:
    """A ``ClientCore`` whose socket opened and whose server said hello."""
    core = ClientCore(**options)
    core.connect([NODE])
    core.opened()
    core.receive(ServerHello("c1", 30.0))
    return core


def with_store(data: object = None, name: str = "Todos") -> ClientCore:
    """:func:`connected`, subscribed to ``name`` with a first snapshot of
    ``data`` (default ``{"items": []}``) at version 1."""
    return with_stores(name, data=data)


def with_stores(*names: str, data: object = None) -> ClientCore:
    """:func:`connected`, subscribed to each of ``names`` with a first snapshot."""
    core = connected()
    for name in names:
        core.subscribe(name)
        core.receive(Snapshot(name, 1, {"items": []} if data is None else data))
    return core


def add_item(text: str) -> Callable[[Any], Any]:
    """An optimistic function: ``state`` with ``text`` appended to its items."""
    return lambda s: {**s, "items": [*s["items"], text]}


# ------------------------------------------------------ real servers and clients


def todos_and_rooms(server: Server) -> None:
    """The usual stores: ``Todos`` and the dynamic ``Room:*`` (named after its key)."""
    server.create_store("Todos", {"items": [], "config": {"theme": "dark"}})
    server.create_store("Room:*", {"messages": []}).on_create(lambda key: {"name": key})


TODOS = {"items": [], "config": {"theme": "dark"}}
"""The first state of ``todos_and_rooms``' ``Todos``."""


def add_todo(server: Server, text: str) -> None:
    server.stores["Todos"].update(lambda d: d["items"].append(text))


class Recorder:
    """A callback (and observer) that records what it is given; ``await
    until(predicate)`` waits for the recorded list to satisfy ``predicate``."""

    def __init__(self) -> None:
        self.values: list[Any] = []
        self.completed = False
        self._changed = asyncio.Event()

    def __call__(self, value: Any = None) -> None:
        self.values.append(value)
        self._changed.set()

    def on_completed(self) -> None:
        self.completed = True
        self._changed.set()

    async def until(self, predicate: Callable[[list[Any]], bool]) -> list[Any]:
        async with asyncio.timeout(TIMEOUT):
            while not predicate(self.values):
                self._changed.clear()
                await self._changed.wait()
        return self.values

    async def value(self, expected: Any) -> list[Any]:
        """Wait until ``expected`` has been recorded."""
        return await self.until(lambda values: expected in values)

    async def done(self) -> None:
        async with asyncio.timeout(TIMEOUT):
            while not self.completed:
                self._changed.clear()
                await self._changed.wait()


def errors_of(client: Client) -> Recorder:
    """A recorder of what ``client`` reports on its ``"error"`` channel."""
    errors = Recorder()
    client.on("error", errors)
    return errors


class FakeServer:
    """A scripted protocol peer for what a real server never does (gaps,
    garbage, another protocol version, silence). Says hello to each
    connection, then records what the client sends."""

    def __init__(self, *, version: int = PROTOCOL_VERSION, heartbeat: float = 0.0) -> None:
        self.version = version
        self.heartbeat = heartbeat
        self.connections = 0
        self.hellos: list[ClientHello] = []
        """Each connection's hello, in order."""
        self.received: asyncio.Queue[ClientMessage] = asyncio.Queue()
        self.close_codes: asyncio.Queue[int | None] = asyncio.Queue()
        self.ws: ServerConnection | None = None
        self._connected = asyncio.Event()
        self._server: WsServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"ws://127.0.0.1:{port}"

    async def start(self) -> None:
        self._server = await serve(self._handle, "127.0.0.1", 0, ping_interval=None)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, ws: ServerConnection) -> None:
        hello = decode_client_message(await ws.recv())
        if not isinstance(hello, ClientHello):
            return
        self.connections += 1
        self.hellos.append(hello)
        self.ws = ws
        await ws.send(encode(ServerHello(f"fake{self.connections}", self.heartbeat, self.version)))
        self._connected.set()
        try:
            async for frame in ws:
                await self.received.put(decode_client_message(frame))
        except ConnectionClosed:
            pass
        await self.close_codes.put(ws.close_code)

    async def connected(self, count: int = 1) -> None:
        """Wait until ``count`` connections have said hello."""
        async with asyncio.timeout(TIMEOUT):
            while self.connections < count:
                self._connected.clear()
                await self._connected.wait()

    async def send(self, message: ServerMessage | bytes | str) -> None:
        assert self.ws is not None
        await self.ws.send(message if isinstance(message, bytes | str) else encode(message))

    async def expect(self, message: ClientMessage) -> None:
        """Wait for the client to send ``message`` (skipping anything else)."""
        async with asyncio.timeout(TIMEOUT):
            while (await self.received.get()) != message:
                pass


# ------------------------------------------------------ drops on loopback


def closed_ports(count: int) -> list[int]:
    """``count`` distinct loopback ports nobody listens on (bound together,
    then released, so none is given twice)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


__all__ = ["CuttingProxy"]  # from tcp_proxy: the client tests import it from here
