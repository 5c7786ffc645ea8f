"""The client's connection status as an explicit state machine (pure).

::

    disconnected ──connect()──▶ connecting ──hello──▶ connected
         ▲                          │ lost                │ lost
         │                          ▼                     │
         │                     reconnecting ◀─────────────┘
         │                          └───────hello──────▶ connected
         └── destroy(), a protocol error, or a loss without reconnect (from any state)

Every other move is a bug in the caller and raises ``RuntimeError``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ConnectionStatus(StrEnum):
    """Where the client stands. A ``StrEnum``: ``status == "connected"`` holds."""

    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"


@dataclass(frozen=True, slots=True)
class Connected:
    """The payload of the ``"connected"`` lifecycle event.

    ``recovered`` tells whether this connection resumed the client's session
    after a drop: the same ``client_id``, the events sent meanwhile delivered,
    calls in flight answered (each run once). When it is False the session is
    new: calls that were in flight failed with ``Disconnected``, and events
    sent while the client was away are lost.

    ``url`` is the server URL this connection is to: with several
    (``Client(urls=[...])``) it tells which node the client failed over to."""

    client_id: str
    recovered: bool = False
    url: str | None = None


_ALLOWED: dict[ConnectionStatus, frozenset[ConnectionStatus]] = {
    ConnectionStatus.DISCONNECTED: frozenset({ConnectionStatus.CONNECTING}),
    ConnectionStatus.CONNECTING: frozenset(
        {
            ConnectionStatus.CONNECTED,
            ConnectionStatus.RECONNECTING,
            ConnectionStatus.DISCONNECTED,
        }
    ),
    ConnectionStatus.CONNECTED: frozenset(
        {ConnectionStatus.RECONNECTING, ConnectionStatus.DISCONNECTED}
    ),
    ConnectionStatus.RECONNECTING: frozenset(
        {ConnectionStatus.CONNECTED, ConnectionStatus.DISCONNECTED}
    ),
}


def check_transition(old: ConnectionStatus, new: ConnectionStatus) -> None:
    """Raise ``RuntimeError`` unless ``old -> new`` is an edge of the diagram."""
    if new not in _ALLOWED[old]:
        raise RuntimeError(f"illegal connection status change: {old!s} -> {new!s}")


def backoff_delay(attempt: int, base: float, cap: float, jitter: float) -> float:
    """Seconds to wait before reconnect attempt ``attempt`` (0-based).

    Exponential backoff capped at ``cap``, with "full jitter": the delay is
    drawn uniformly below the exponential ceiling (``jitter`` in [0, 1)), so a
    thousand clients dropped by one server restart do not return in lockstep.
    """
    ceiling = min(cap, base * 2.0 ** min(attempt, 62))
    return ceiling * jitter


__all__ = ["ConnectionStatus", "backoff_delay", "check_transition"]
