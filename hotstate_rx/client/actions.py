"""What the sans-I/O client core asks its driver to do.

The core (:mod:`.core`) takes messages and user calls in and returns lists of
these values; the asyncio driver carries them out in order. They are frozen
dataclasses, so tests compare whole lists.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

from ..errors import HotstateError
from ..protocol import ClientMessage
from .status import ConnectionStatus


@dataclass(frozen=True, slots=True)
class Transmit:
    """Put ``message`` on the socket."""

    message: ClientMessage


@dataclass(frozen=True, slots=True)
class CloseSocket:
    """Close the socket with a WebSocket close code (after what is queued)."""

    code: int
    reason: str


@dataclass(frozen=True, slots=True)
class Deliver:
    """The visible state of ``store`` changed: hand ``state`` (the optimistic
    view) and ``server_state`` (the last confirmed one) to its handles."""

    store: str
    state: Any
    server_state: Any


@dataclass(frozen=True, slots=True)
class EndStore:
    """The subscription to ``store`` is over: its handles stop, with ``error``
    when the server refused it, or complete when it was deleted."""

    store: str
    error: HotstateError | None = None


@dataclass(frozen=True, slots=True)
class Settle:
    """Call ``call_id`` is over: its result is ``value``, or it raises ``error``."""

    call_id: int
    value: Any = None
    error: HotstateError | None = None


@dataclass(frozen=True, slots=True)
class Emit:
    """Fire ``payload`` on event channel ``channel`` (server events and the
    lifecycle channels alike)."""

    channel: str
    payload: Any = None


@dataclass(frozen=True, slots=True)
class StatusChanged:
    """The connection status is now ``status``."""

    status: ConnectionStatus


@dataclass(frozen=True, slots=True)
class StoresChanged:
    """The mapping of every subscribed store with data to its visible state is
    now ``stores`` (only once :meth:`.ClientCore.follow_stores` was called)."""

    stores: Mapping[str, Any]


Action: TypeAlias = (
    Transmit | CloseSocket | Deliver | EndStore | Settle | Emit | StatusChanged | StoresChanged
)

__all__ = [
    "Action",
    "CloseSocket",
    "Deliver",
    "Emit",
    "EndStore",
    "Settle",
    "StatusChanged",
    "StoresChanged",
    "Transmit",
]
