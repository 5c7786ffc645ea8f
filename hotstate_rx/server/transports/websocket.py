"""Standalone transport: ``websockets.asyncio.server.serve``.

Frames are written synchronously to each transport through
:mod:`hotstate_rx.net.batching`: one encoded patch is framed once and the same bytes go to
every subscriber, with no task per send, in order with everything else
written to that connection, and frames that pile up for one connection within
a loop iteration leave in one system call. Nothing here applies backpressure,
so each peer checks its transport's write buffer after writing and closes
itself (1013) above ``max_send_buffer``. Heartbeats are the protocol's own
``ping``/``pong``, so the websockets keepalive is off. Origins are checked in
``process_request``, before the handshake's response.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from http import HTTPStatus
from ssl import SSLContext
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from ...net.batching import Batcher, Outbox, binary_frame
from ..access import ConnectInfo, OriginPolicy
from ..session import CLOSE_TRY_AGAIN
from ..tls import HANDSHAKE_TIMEOUT
from . import Acceptor

__all__ = ["WebSocketPeer", "listen"]

log = logging.getLogger(__name__)


class WebSocketPeer:
    """A :class:`~hotstate_rx.server.transports.Peer` over a websockets connection."""

    __slots__ = ("_closing", "_max_send_buffer", "outbox", "ws")

    def __init__(self, ws: ServerConnection, max_send_buffer: int, batcher: Batcher) -> None:
        self.ws = ws
        self.outbox = Outbox(ws, batcher)
        self._max_send_buffer = max_send_buffer
        self._closing: asyncio.Task[None] | None = None

    def send(self, frame: bytes) -> None:
        self.send_many((self,), frame)

    @classmethod
    def send_many(cls, peers: Sequence[WebSocketPeer], frame: bytes) -> None:
        wire: bytes | None = None  # the WebSocket frame, built for the first plain peer
        for peer in peers:
            if peer._closing is not None:
                continue
            outbox = peer.outbox
            if outbox.plain:
                if wire is None:
                    wire = binary_frame(frame)
                outbox.write(wire)
            else:
                outbox.send(frame)
            peer._check_buffer()

    def _check_buffer(self) -> None:
        transport = self.ws.transport
        if transport is not None and transport.get_write_buffer_size() > self._max_send_buffer:
            log.warning("closing %s: send buffer over the limit", self.ws.id)
            self.close(CLOSE_TRY_AGAIN, "client too slow")

    def close(self, code: int, reason: str) -> None:
        if self._closing is None:
            self.outbox.flush()
            self._closing = asyncio.get_running_loop().create_task(self.ws.close(code, reason))

    async def wait_closed(self) -> None:
        if self._closing is not None:
            await self._closing


async def listen(
    acceptor: Acceptor,
    *,
    host: str,
    port: int,
    path: str | None,
    heartbeat: float,
    max_message_size: int,
    max_send_buffer: int,
    compression: str | None,
    origins: OriginPolicy,
    ssl: SSLContext | None = None,
) -> Server:
    """Start accepting connections for ``acceptor``; returns the running websockets server.

    With ``ssl``, ``wss://``: frames are still written to ``ws.transport``,
    which is then asyncio's TLS transport, encrypting what it is given."""

    batcher = Batcher(asyncio.get_running_loop())
    tls: dict[str, Any] = {}
    if ssl is not None:
        tls = {"ssl": ssl, "ssl_handshake_timeout": HANDSHAKE_TIMEOUT}

    async def handler(ws: ServerConnection) -> None:
        peer = WebSocketPeer(ws, max_send_buffer, batcher)
        link = acceptor.open(peer, heartbeat, _connect_info(ws.request, ws.remote_address))
        try:
            async for frame in ws:
                link.receive(frame)
        except ConnectionClosed:
            pass  # abnormal closes (1006, 1009, ...) end the connection like normal ones
        finally:
            link.lost(ws.close_code)
            await peer.wait_closed()

    def check_request(connection: ServerConnection, request: Request) -> Response | None:
        if path is not None and urlsplit(request.path).path != path:
            return connection.respond(HTTPStatus.NOT_FOUND, "Not Found\n")
        info = _connect_info(request, connection.remote_address)
        if not origins.allows(info.origin, info.headers.get("host")):
            log.info("refused a connection from origin %r", info.origin)
            return connection.respond(HTTPStatus.FORBIDDEN, "Forbidden origin\n")
        return None

    return await serve(
        handler,
        host,
        port,
        process_request=check_request,
        max_size=max_message_size,
        compression=compression,
        ping_interval=None,
        **tls,
    )


def _connect_info(request: Request | None, remote_address: object) -> ConnectInfo:
    if request is None:  # never for a connection handed to a handler; typed as optional
        return ConnectInfo()
    target = urlsplit(request.path)
    return ConnectInfo.from_upgrade(
        request.headers.raw_items(),
        path=target.path,
        query=target.query,
        remote_address=remote_address,
    )
