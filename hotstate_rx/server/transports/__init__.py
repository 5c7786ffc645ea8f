"""Thin adapters between a network server and the hub.

A transport refuses, before the WebSocket handshake is accepted, an upgrade
whose ``Origin`` the server's :class:`~hotstate_rx.server.access.OriginPolicy`
does not allow (HTTP 403: a page on another site must not even get a socket).
Otherwise it accepts the WebSocket, wraps it in a :class:`Peer`, asks the
acceptor for a :class:`Link` with ``acceptor.open(peer, heartbeat, info)``
(``info``: the upgrade request as a
:class:`~hotstate_rx.server.access.ConnectInfo`, for ``authenticate``), feeds
it every frame and calls ``lost()`` when the socket is gone. All protocol
rules live in :mod:`hotstate_rx.server.hub`; the loop in
:mod:`hotstate_rx.server.driver`.

- :mod:`.websocket`: standalone, on ``websockets.asyncio.server.serve``.
- :mod:`.asgi`: a plain ASGI app (``server.asgi``) and ``attach`` for Starlette-family apps.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, Self

if TYPE_CHECKING:
    from ..access import ConnectInfo

__all__ = ["Acceptor", "Link", "Peer"]


class Peer(Protocol):
    """The sending half of one connection, as the hub sees it.

    ``send`` never blocks: frames are queued in order. A peer whose queue grows
    past its limit closes itself (1013) so one slow client cannot hold memory
    or delay the others."""

    def send(self, frame: bytes) -> None: ...

    def close(self, code: int, reason: str) -> None:
        """Send what is queued, then close with ``code``."""

    @classmethod
    def send_many(cls, peers: Sequence[Self], frame: bytes) -> None:
        """Send the same bytes to several peers of this class (fan-out).

        ``Self``, not ``Peer``: the hub groups peers by their exact class, so
        each implementation receives only its own kind and may use its private
        attributes."""


class Link(Protocol):
    """The receiving half: what a transport reports to the hub."""

    def receive(self, frame: bytes | str) -> None: ...

    def lost(self, code: int | None = None) -> None:
        """The socket is gone; ``code`` is the close code the peer sent (None:
        no close frame), so the hub can tell a goodbye from a network failure."""


class Acceptor(Protocol):
    """What a transport needs of the server: a :class:`Link` for each accepted peer
    (the server's :class:`~hotstate_rx.server.driver.LoopDriver`)."""

    def open(self, peer: Peer, heartbeat: float, info: ConnectInfo | None = None) -> Link: ...
