"""ASGI transport: ``server.asgi`` and ``server.attach(app)``.

The endpoint is a plain ASGI application (no framework needed), so it mounts
in Starlette, FastAPI and NiceGUI through ``attach`` and in any other ASGI
framework by hand. ASGI ``send`` is a coroutine, so each connection gets an
ordered outgoing queue drained by one sender task it owns; the queue, with
the frame being sent, is bounded in bytes (``max_send_buffer``): a client
that cannot keep up is closed with 1013 and the others are unaffected. The
ASGI server's own buffer behind ``send`` is bounded by its flow control
(``send`` waits while it is full). A close that cannot be sent within
``close_timeout`` (the client does not read) ends the connection on our side
anyway: the hub forgets it and the app returns, so the ASGI server closes
the socket. Frame size is enforced by the session (1009), since the ASGI
server's own limit is not ours; the rate limit by waiting before the next
``receive()`` (ASGI servers stop reading a socket whose messages the app
does not take). What a client sent before it vanished is dropped once a send
to it failed (the ASGI server reports the disconnect only after them). A
refused ``Origin`` is answered by closing before ``websocket.accept``, which
ASGI servers turn into HTTP 403.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

from ..access import ConnectInfo, OriginPolicy
from ..limits import Limits
from ..session import CLOSE_POLICY, CLOSE_TRY_AGAIN
from . import FLOW_LIMIT, Acceptor, Link

__all__ = ["AsgiEndpoint", "AsgiPeer", "attach"]

log = logging.getLogger(__name__)

AsgiScope = MutableMapping[str, Any]
AsgiMessage = MutableMapping[str, Any]
AsgiReceive = Callable[[], Awaitable[AsgiMessage]]
AsgiSend = Callable[[AsgiMessage], Awaitable[None]]


class AsgiPeer:
    """A :class:`~hotstate_rx.server.transports.Peer` writing through ASGI ``send``."""

    def __init__(self, send: AsgiSend, limits: Limits) -> None:
        self._send = send
        self._limits = limits
        self._queue: deque[bytes] = deque()
        self._queued_bytes = 0
        """Bytes in the queue and in the frame being sent: the one count."""
        self._close: tuple[int, str] | None = None
        self._deadline: asyncio.TimerHandle | None = None
        self._wake = asyncio.Event()
        self._drained = asyncio.Event()
        self._drained.set()
        loop = asyncio.get_running_loop()
        self._task = loop.create_task(self._run())
        self.released: asyncio.Future[None] = loop.create_future()
        """Done when a close did not finish within ``close_timeout``."""
        self.failed = False
        """A send failed: the client is gone."""

    def send(self, frame: bytes) -> None:
        if self._close is not None:
            return
        self._queue.append(frame)
        self._queued_bytes += len(frame)
        if self._queued_bytes > FLOW_LIMIT:
            self._drained.clear()
        if self._queued_bytes > self._limits.max_send_buffer:
            log.warning("closing an ASGI connection: send buffer over the limit")
            self._queued_bytes -= sum(map(len, self._queue))  # the one being sent stays
            self._queue.clear()  # the client is cut anyway: free the memory now
            self.close(CLOSE_TRY_AGAIN, "client too slow")
        self._wake.set()

    @property
    def queued(self) -> int:
        """Bytes waiting for the client: the queue and the frame being sent."""
        return self._queued_bytes

    async def drained(self) -> None:
        """Return once at most ``FLOW_LIMIT`` bytes wait for the client (or it is gone)."""
        await self._drained.wait()

    @classmethod
    def send_many(cls, peers: Sequence[AsgiPeer], frame: bytes) -> None:
        for peer in peers:
            peer.send(frame)

    def close(self, code: int, reason: str) -> None:
        if self._close is None:
            self._close = (code, reason)
            self._wake.set()
            loop = asyncio.get_running_loop()
            self._deadline = loop.call_later(self._limits.close_timeout, self._give_up)

    def _give_up(self) -> None:
        """The close took too long (the client does not read, or does not answer
        it): stop sending and let the endpoint end the connection."""
        if not self.released.done():
            log.info(
                "dropping an ASGI connection: closing it took over %s s", self._limits.close_timeout
            )
            self._task.cancel()
            self.released.set_result(None)

    async def _run(self) -> None:
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                while self._queue:
                    frame = self._queue.popleft()
                    await self._send({"type": "websocket.send", "bytes": frame})
                    self._queued_bytes -= len(frame)
                    if self._queued_bytes <= FLOW_LIMIT:
                        self._drained.set()
                if self._close is not None:
                    code, reason = self._close
                    await self._send({"type": "websocket.close", "code": code, "reason": reason})
                    return
        except Exception as exc:  # OSError, or the ASGI server's own type: the client is gone
            log.debug("ASGI send failed: %r", exc)
            self._close = self._close or (1006, "")  # later sends are dropped
            self.failed = True
        finally:
            self._drained.set()  # nothing more will leave: nobody waits for it

    async def aclose(self) -> None:
        """Stop the sender task (the connection is over)."""
        if self._deadline is not None:
            self._deadline.cancel()
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


class AsgiEndpoint:
    """An ASGI app serving the hotstate protocol on WebSocket scopes."""

    def __init__(
        self,
        acceptor: Acceptor,
        *,
        heartbeat: float,
        limits: Limits,
        origins: OriginPolicy,
        on_shutdown: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._acceptor = acceptor
        self._heartbeat = heartbeat
        self._limits = limits
        self._origins = origins
        self._on_shutdown = on_shutdown

    async def __call__(self, scope: AsgiScope, receive: AsgiReceive, send: AsgiSend) -> None:
        kind = scope["type"]
        if kind == "websocket":
            await self._websocket(scope, receive, send)
        elif kind == "http":
            body = b"WebSocket endpoint\n"
            headers = [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(body))]
            await send({"type": "http.response.start", "status": 426, "headers": headers})
            await send({"type": "http.response.body", "body": body})
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: AsgiReceive, send: AsgiSend) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._on_shutdown is not None:
                    await self._on_shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _websocket(self, scope: AsgiScope, receive: AsgiReceive, send: AsgiSend) -> None:
        if (await receive())["type"] != "websocket.connect":
            return
        info = ConnectInfo.from_upgrade(
            [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope.get("headers", ())],
            path=scope.get("path", "/"),
            query=scope.get("query_string", b"").decode("latin-1"),
            remote_address=scope.get("client"),
        )
        if not self._origins.allows(info.origin, info.headers.get("host")):
            log.info("refused a connection from origin %r", info.origin)
            await send({"type": "websocket.close", "code": CLOSE_POLICY})
            return
        await send({"type": "websocket.accept"})
        peer = AsgiPeer(send, self._limits)
        link = self._acceptor.open(peer, self._heartbeat, info)
        reader = asyncio.get_running_loop().create_task(_read(receive, link, peer))
        either: list[asyncio.Future[Any]] = [reader, peer.released]
        try:
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        finally:
            reader.cancel()
            gone = reader.done() and not reader.cancelled() and reader.exception() is None
            link.lost(reader.result() if gone else None)
            await peer.aclose()
            await asyncio.gather(reader, return_exceptions=True)


async def _read(receive: AsgiReceive, link: Link, peer: AsgiPeer) -> int | None:
    """Feed ``link`` until the client disconnects, waiting as long as it says,
    and while more than ``FLOW_LIMIT`` bytes wait for the client; the close
    code of the disconnect (None: none, or it was cut short)."""
    while True:
        message = await receive()
        if message["type"] == "websocket.receive":
            data = message.get("bytes")
            pause = link.receive(data if data is not None else message.get("text") or "")
            if pause:
                await asyncio.sleep(pause)
                if peer.failed:  # gone while we waited: drop what it had sent
                    return None
            if peer.queued > FLOW_LIMIT:
                await peer.drained()
        elif message["type"] == "websocket.disconnect":
            code: int | None = message.get("code")
            return code


def attach(app: Any, endpoint: AsgiEndpoint, path: str) -> None:
    """Route WebSocket ``path`` of a Starlette-family ``app`` to ``endpoint``.

    The route goes first so that catch-all routes (NiceGUI has some) do not
    shadow it."""
    from starlette.routing import WebSocketRoute

    router = getattr(app, "router", None)
    if router is None or not hasattr(router, "routes"):
        raise TypeError(
            f"attach() needs a Starlette-family app (Starlette, FastAPI, NiceGUI's app), "
            f"got {type(app).__name__}; mount server.asgi yourself for other frameworks"
        )
    router.routes.insert(0, WebSocketRoute(path, endpoint))
