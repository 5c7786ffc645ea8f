"""Standalone transport: ``websockets.asyncio.server.serve``.

Frames are written synchronously to each transport through
:mod:`hotstate_rx.net.batching`: one encoded patch is framed once and the same bytes go to
every subscriber, with no task per send, in order with everything else
written to that connection, and frames that pile up for one connection within
a round (until more data arrives, or the next loop iteration) leave in one
system call. Nothing here applies backpressure,
so after every frame each peer counts what is queued for its connection (the
frames its outbox holds for the next iteration plus the transport's write
buffer: :attr:`~hotstate_rx.net.batching.Outbox.queued`) and closes itself
(1013) above ``max_send_buffer``. A close that cannot finish within
``close_timeout`` (the peer does not read, so even the close frame waits)
aborts the TCP connection. Heartbeats are the protocol's own ``ping``/``pong``,
so the websockets keepalive is off. Origins are checked in
``process_request``, before the handshake's response.

Reading: each frame goes to the hub as soon as it is parsed, in the
connection's data callback (:class:`~hotstate_rx.net.batching.InlineServerConnection`:
no reader task, no queue, no loop iteration between the socket and the hub).
When the rate limit says to wait, or while more than
:data:`~hotstate_rx.server.transports.FLOW_LIMIT` bytes wait for the peer
(``Outbox.drained``), the connection is held: the socket is not read, and
the frames parsed from the last read (at most 256 KiB of them, plus the
frame websockets is assembling, within ``max_message_size``) wait. What
waits when the connection is lost is dropped (a flood aborted mid-way would
otherwise be served at the rate limit long after its sender left).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from http import HTTPStatus
from ssl import SSLContext
from typing import Any, cast
from urllib.parse import urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import CLOSED

from ...net.batching import (
    Batcher,
    InlineServerConnection,
    Outbox,
    binary_frame,
    server_connection,
)
from ..access import ConnectInfo, OriginPolicy
from ..limits import Limits
from ..session import CLOSE_INTERNAL, CLOSE_TRY_AGAIN
from ..tls import HANDSHAKE_TIMEOUT
from . import FLOW_LIMIT, Acceptor, Link

__all__ = ["WebSocketPeer", "listen"]

log = logging.getLogger(__name__)


class WebSocketPeer:
    """A :class:`~hotstate_rx.server.transports.Peer` over a websockets connection."""

    __slots__ = ("_closing", "_limits", "outbox", "ws")

    def __init__(self, ws: ServerConnection, limits: Limits, batcher: Batcher) -> None:
        self.ws = ws
        self.outbox = Outbox(ws, batcher)
        self._limits = limits
        self._closing: asyncio.Task[None] | None = None

    def send(self, frame: bytes) -> None:
        if self._closing is None:
            outbox = self.outbox
            outbox.send(frame)  # framed for this connection alone
            if outbox.queued > self._limits.max_send_buffer:
                self._overflow()

    @property
    def queued(self) -> int:
        return self.outbox.queued

    @classmethod
    def send_many(cls, peers: Sequence[WebSocketPeer], frame: bytes) -> None:
        wire: bytes | None = None  # the WebSocket frame, built for the first plain peer
        limit = peers[0]._limits.max_send_buffer if peers else 0  # one hub's: one Limits
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
            if outbox.queued > limit:
                peer._overflow()

    def _overflow(self) -> None:
        log.warning("closing %s: send buffer over the limit", self.ws.id)
        self.close(CLOSE_TRY_AGAIN, "client too slow")

    def close(self, code: int, reason: str) -> None:
        if self._closing is None:
            self.outbox.flush()
            self._closing = asyncio.get_running_loop().create_task(self._close(code, reason))

    async def _close(self, code: int, reason: str) -> None:
        timeout = self._limits.close_timeout
        try:
            async with asyncio.timeout(timeout):
                await self.ws.close(code, reason)
        except TimeoutError:
            log.info("dropping %s: closing it took over %s s", self.ws.id, timeout)
            self.ws.transport.abort()

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
    limits: Limits,
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
        conn = cast(InlineServerConnection, ws)  # the class given to serve() below
        peer = WebSocketPeer(ws, limits, batcher)
        link = acceptor.open(peer, heartbeat, _connect_info(ws.request, ws.remote_address))
        reader = _Reader(conn, link, peer)
        conn.deliver_to(reader.receive)
        try:
            await ws.wait_closed()
        finally:
            reader.stop()
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
        max_size=limits.max_message_size,
        close_timeout=limits.close_timeout,
        compression=compression,
        ping_interval=None,
        create_connection=server_connection(batcher),
        **tls,
    )


class _Reader:
    """Hands one connection's frames to its link as they arrive, and holds the
    connection while the link says to wait (its rate limit) or while more than
    ``FLOW_LIMIT`` bytes wait for the peer (it does not read its answers)."""

    __slots__ = ("_broken", "_drain", "_link", "_loop", "_peer", "_timer", "_ws")

    def __init__(self, ws: InlineServerConnection, link: Link, peer: WebSocketPeer) -> None:
        self._ws = ws
        self._link = link
        self._peer = peer
        self._loop = asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | None = None
        self._drain: asyncio.Task[None] | None = None
        self._broken = False

    def receive(self, frame: bytes | str) -> None:
        if self._broken:  # closing after a bug: what else came is dropped
            return
        try:
            pause = self._link.receive(frame)
        except Exception:  # a bug: this connection ends, the others carry on
            log.exception("closing %s: handling its frame failed", self._ws.id)
            self._broken = True
            self._peer.close(CLOSE_INTERNAL, "internal error")
            return
        if pause:
            self._ws.hold()
            self._timer = self._loop.call_later(pause, self._waited)
        elif self._peer.outbox.queued > FLOW_LIMIT:
            self._wait_for_the_peer()

    def _waited(self) -> None:
        self._timer = None
        if self._peer.outbox.queued > FLOW_LIMIT:
            self._wait_for_the_peer()
        elif self._ws.state is not CLOSED:  # gone meanwhile: what it sent is dropped
            self._ws.release()

    def _wait_for_the_peer(self) -> None:
        self._ws.hold()
        self._drain = self._loop.create_task(self._drained())

    async def _drained(self) -> None:
        try:
            await self._peer.outbox.drained()
        except (ConnectionClosed, OSError):
            return  # lost: the handler drops what waits
        finally:
            self._drain = None
        if self._ws.state is not CLOSED:
            self._ws.release()

    def stop(self) -> None:
        """The connection is over: nothing more goes to the link."""
        self._ws.drop_waiting()
        if self._timer is not None:
            self._timer.cancel()
        if self._drain is not None:
            self._drain.cancel()


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
