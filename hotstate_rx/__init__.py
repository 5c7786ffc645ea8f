"""hotstate_rx: real-time, server-authoritative state over WebSocket.

The server API lives here (``from hotstate_rx import Hotstate``); the client is
:mod:`hotstate_rx.client`, drafts and patches :mod:`hotstate_rx.draft`.
"""

from __future__ import annotations

from .errors import (
    Disconnected,
    HotstateError,
    PatchError,
    ProtocolError,
    RpcError,
    RpcTimeout,
    SubscriptionError,
)
from .functions import CallContext
from .protocol import PROTOCOL_VERSION
from .server import Hotstate, Server
from .store import ALL, Change, Removed, StoreHandle

__all__ = [
    "ALL",
    "PROTOCOL_VERSION",
    "CallContext",
    "Change",
    "Disconnected",
    "Hotstate",
    "HotstateError",
    "PatchError",
    "ProtocolError",
    "Removed",
    "RpcError",
    "RpcTimeout",
    "Server",
    "StoreHandle",
    "SubscriptionError",
]
