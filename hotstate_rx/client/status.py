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

from enum import StrEnum


class ConnectionStatus(StrEnum):
    """Where the client stands. A ``StrEnum``: ``status == "connected"`` holds."""

    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"


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
