"""Standalone transport: ``websockets.asyncio.server.serve``.

Frames are written synchronously to each transport: one encoded patch, the
same bytes for every subscriber, no task per send, and order kept with
everything else written to that connection. A server's WebSocket frame is not
masked, so without extensions it is the same bytes on every connection: it is
framed once and written to each transport, which halves the server's CPU per
delivered patch against :func:`websockets.asyncio.server.broadcast` (that one
frames the message again for each connection; it still serves connections
that negotiated per-message deflate). Nothing here applies backpressure, so
each peer checks its transport's write buffer after writing and closes itself
(1013) above ``max_send_buffer``. Heartbeats are the protocol's own
``ping``/``pong``, so the websockets keepalive is off.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from http import HTTPStatus
from urllib.parse import urlsplit

from websockets.asyncio.server import Server, ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode
from websockets.http11 import Request, Response
from websockets.protocol import State

from ..session import CLOSE_TRY_AGAIN
from . import Hub

__all__ = ["WebSocketPeer", "listen"]

log = logging.getLogger("hotstate_rx")


class WebSocketPeer:
    """A :class:`~hotstate_rx.transports.Peer` over a websockets connection."""

    __slots__ = ("_closing", "_max_send_buffer", "ws")

    def __init__(self, ws: ServerConnection, max_send_buffer: int) -> None:
        self.ws = ws
        self._max_send_buffer = max_send_buffer
        self._closing: asyncio.Task[None] | None = None

    def send(self, frame: bytes) -> None:
        self.send_many((self,), frame)

    @classmethod
    def send_many(cls, peers: Sequence[WebSocketPeer], frame: bytes) -> None:
        wire: bytes | None = None  # the WebSocket frame, built for the first plain peer
        extended: list[WebSocketPeer] = []
        for peer in peers:
            ws = peer.ws
            if peer._closing is not None or ws.protocol.state is not State.OPEN:
                continue
            if ws.protocol.extensions:  # e.g. deflate: this connection's own frame
                extended.append(peer)
                continue
            if wire is None:
                wire = Frame(Opcode.BINARY, frame).serialize(mask=False)
            # The websockets protocol writes everything it queues at once, so
            # nothing of its own is pending here: order on the wire is kept.
            ws.transport.write(wire)
            peer._check_buffer()
        if extended:
            broadcast([peer.ws for peer in extended], frame)
            for peer in extended:
                peer._check_buffer()

    def _check_buffer(self) -> None:
        transport = self.ws.transport
        if transport is not None and transport.get_write_buffer_size() > self._max_send_buffer:
            log.warning("hotstate_rx: closing %s: send buffer over the limit", self.ws.id)
            self.close(CLOSE_TRY_AGAIN, "client too slow")

    def close(self, code: int, reason: str) -> None:
        if self._closing is None:
            self._closing = asyncio.get_running_loop().create_task(self.ws.close(code, reason))

    async def wait_closed(self) -> None:
        if self._closing is not None:
            await self._closing


async def listen(
    hub: Hub,
    *,
    host: str,
    port: int,
    path: str | None,
    heartbeat: float,
    max_message_size: int,
    max_send_buffer: int,
    compression: str | None,
) -> Server:
    """Start accepting connections for ``hub``; returns the running websockets server."""

    async def handler(ws: ServerConnection) -> None:
        peer = WebSocketPeer(ws, max_send_buffer)
        link = hub.open(peer, heartbeat)
        try:
            async for frame in ws:
                link.receive(frame)
        except ConnectionClosed:
            pass  # abnormal closes (1006, 1009, ...) end the connection like normal ones
        finally:
            link.lost()
            await peer.wait_closed()

    def check_path(connection: ServerConnection, request: Request) -> Response | None:
        if path is not None and urlsplit(request.path).path != path:
            return connection.respond(HTTPStatus.NOT_FOUND, "Not Found\n")
        return None

    return await serve(
        handler,
        host,
        port,
        process_request=check_path,
        max_size=max_message_size,
        compression=compression,
        ping_interval=None,
    )
