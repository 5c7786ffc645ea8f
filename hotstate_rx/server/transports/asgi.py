"""ASGI transport: ``server.asgi`` and ``server.attach(app)``.

The endpoint is a plain ASGI application (no framework needed), so it mounts
in Starlette, FastAPI and NiceGUI through ``attach`` and in any other ASGI
framework by hand. ASGI ``send`` is a coroutine, so each connection gets an
ordered outgoing queue drained by one sender task it owns; the queue is
bounded in bytes (``max_send_buffer``): a client that cannot keep up is
closed with 1013 and the others are unaffected. Frame size is enforced by the
session (1009), since the ASGI server's own limit is not ours. A refused
``Origin`` is answered by closing before ``websocket.accept``, which ASGI
servers turn into HTTP 403.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

from ..access import ConnectInfo, OriginPolicy
from ..session import CLOSE_POLICY, CLOSE_TRY_AGAIN
from . import Acceptor

__all__ = ["AsgiEndpoint", "AsgiPeer", "attach"]

log = logging.getLogger(__name__)

AsgiScope = MutableMapping[str, Any]
AsgiMessage = MutableMapping[str, Any]
AsgiReceive = Callable[[], Awaitable[AsgiMessage]]
AsgiSend = Callable[[AsgiMessage], Awaitable[None]]


class AsgiPeer:
    """A :class:`~hotstate_rx.server.transports.Peer` writing through ASGI ``send``."""

    def __init__(self, send: AsgiSend, max_send_buffer: int) -> None:
        self._send = send
        self._max_send_buffer = max_send_buffer
        self._queue: deque[bytes] = deque()
        self._queued_bytes = 0
        self._close: tuple[int, str] | None = None
        self._wake = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run())

    def send(self, frame: bytes) -> None:
        if self._close is not None:
            return
        self._queue.append(frame)
        self._queued_bytes += len(frame)
        if self._queued_bytes > self._max_send_buffer:
            log.warning("closing an ASGI connection: send buffer over the limit")
            self._queue.clear()
            self._queued_bytes = 0
            self.close(CLOSE_TRY_AGAIN, "client too slow")
        self._wake.set()

    @classmethod
    def send_many(cls, peers: Sequence[AsgiPeer], frame: bytes) -> None:
        for peer in peers:
            peer.send(frame)

    def close(self, code: int, reason: str) -> None:
        if self._close is None:
            self._close = (code, reason)
            self._wake.set()

    async def _run(self) -> None:
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                while self._queue:
                    frame = self._queue.popleft()
                    self._queued_bytes -= len(frame)
                    await self._send({"type": "websocket.send", "bytes": frame})
                if self._close is not None:
                    code, reason = self._close
                    await self._send({"type": "websocket.close", "code": code, "reason": reason})
                    return
        except Exception as exc:  # OSError, or the ASGI server's own type: the client is gone
            log.debug("ASGI send failed: %r", exc)
            self._close = self._close or (1006, "")  # later sends are dropped

    async def aclose(self) -> None:
        """Stop the sender task (the connection is over)."""
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


class AsgiEndpoint:
    """An ASGI app serving the hotstate protocol on WebSocket scopes."""

    def __init__(
        self,
        acceptor: Acceptor,
        *,
        heartbeat: float,
        max_send_buffer: int,
        origins: OriginPolicy,
        on_shutdown: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._acceptor = acceptor
        self._heartbeat = heartbeat
        self._max_send_buffer = max_send_buffer
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
        peer = AsgiPeer(send, self._max_send_buffer)
        link = self._acceptor.open(peer, self._heartbeat, info)
        code: int | None = None
        try:
            while True:
                message = await receive()
                if message["type"] == "websocket.receive":
                    data = message.get("bytes")
                    link.receive(data if data is not None else message.get("text") or "")
                elif message["type"] == "websocket.disconnect":
                    code = message.get("code")
                    break
        finally:
            link.lost(code)
            await peer.aclose()


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
