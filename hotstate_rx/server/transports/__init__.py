"""Thin adapters between a network server and the hub.

A transport refuses, before the WebSocket handshake is accepted, an upgrade
whose ``Origin`` the server's :class:`~hotstate_rx.server.access.OriginPolicy`
does not allow (HTTP 403: a page on another site must not even get a socket).
Otherwise it accepts the WebSocket, wraps it in a :class:`Peer`, asks the
acceptor for a :class:`Link` with ``acceptor.open(peer, heartbeat, info)``
(``info``: the upgrade request as a
:class:`~hotstate_rx.server.access.ConnectInfo`, for ``authenticate``), feeds
it every frame (waiting before the next read as long as ``receive`` says) and
calls ``lost()`` when the socket is gone. All protocol rules live in
:mod:`hotstate_rx.server.hub`; the loop in :mod:`hotstate_rx.server.driver`.
The I/O bounds of :class:`~hotstate_rx.server.limits.Limits` are the
transports' own: ``max_send_buffer`` and ``close_timeout``; so is flow
control: a transport reads no frame from a peer that has more than
:data:`FLOW_LIMIT` bytes waiting for it, until they leave. A client that
does not read its answers gets no more answers made for it (so a burst of
requests cannot pile up output, or monopolise the loop making it).

- :mod:`.websocket`: standalone, on ``websockets.asyncio.server.serve``.
- :mod:`.asgi`: a plain ASGI app (``server.asgi``) and ``attach`` for Starlette-family apps.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Final, Protocol, Self

if TYPE_CHECKING:
    from ..access import ConnectInfo

__all__ = ["FLOW_LIMIT", "Acceptor", "Link", "Peer"]

FLOW_LIMIT: Final = 64 << 10
"""Bytes waiting for a peer above which its frames are not read (asyncio's
default high-water mark for a transport's write buffer)."""


class Peer(Protocol):
    """The sending half of one connection, as the hub sees it.

    ``send`` never blocks: frames are queued in order. The peer counts every
    byte queued for its connection, wherever it waits (its own queue, the
    socket transport's buffer), in one place; past ``max_send_buffer`` it
    closes itself (1013), so one slow client cannot hold memory or delay the
    others. Frames sent after a close are dropped."""

    def send(self, frame: bytes) -> None: ...

    @property
    def queued(self) -> int:
        """Bytes queued for this connection and not yet gone, everything counted."""

    def close(self, code: int, reason: str) -> None:
        """Send what is queued, then close with ``code``. If that is not over
        within ``close_timeout`` (a peer that stopped reading), drop the
        connection: its memory is released within that bound, whatever the peer."""

    @classmethod
    def send_many(cls, peers: Sequence[Self], frame: bytes) -> None:
        """Send the same bytes to several peers of this class (fan-out).

        ``Self``, not ``Peer``: the hub groups peers by their exact class, so
        each implementation receives only its own kind and may use its private
        attributes."""


class Link(Protocol):
    """The receiving half: what a transport reports to the hub."""

    def receive(self, frame: bytes | str) -> float:
        """Hand over one frame; return the seconds to wait before reading the
        next one (0.0: at once). Waiting is how a rate limit is enforced: the
        peer's frames pile up in its own socket buffers, and TCP slows it down."""

    def lost(self, code: int | None = None) -> None:
        """The socket is gone; ``code`` is the close code the peer sent (None:
        no close frame), so the hub can tell a goodbye from a network failure."""


class Acceptor(Protocol):
    """What a transport needs of the server: a :class:`Link` for each accepted peer
    (the server's :class:`~hotstate_rx.server.driver.LoopDriver`)."""

    def open(self, peer: Peer, heartbeat: float, info: ConnectInfo | None = None) -> Link: ...
