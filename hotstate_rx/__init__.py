"""hotstate_rx: real-time, server-authoritative state over WebSocket.

The server is :class:`Server` (``Hotstate`` is its name in the original
library's API); the client is :mod:`hotstate_rx.client`, drafts and patches
:mod:`hotstate_rx.draft`. Names load lazily: importing the pure JSON core
(``hotstate_rx.draft``, ``.patch``, ``.frozen``) loads no server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_exports

__version__ = "0.1.0"
"""The version of this package (also ``hotstate --version``; pyproject.toml reads it here)."""

if TYPE_CHECKING:
    from .errors import (
        AuthError as AuthError,
    )
    from .errors import (
        CertificateError as CertificateError,
    )
    from .errors import (
        ClusterConflict as ClusterConflict,
    )
    from .errors import (
        ClusterError as ClusterError,
    )
    from .errors import (
        ClusterUnavailable as ClusterUnavailable,
    )
    from .errors import (
        Disconnected as Disconnected,
    )
    from .errors import (
        HotstateError as HotstateError,
    )
    from .errors import (
        PatchError as PatchError,
    )
    from .errors import (
        ProtocolError as ProtocolError,
    )
    from .errors import (
        RpcError as RpcError,
    )
    from .errors import (
        RpcTimeout as RpcTimeout,
    )
    from .errors import (
        StorageError as StorageError,
    )
    from .errors import (
        SubscriptionError as SubscriptionError,
    )
    from .errors import (
        Unauthorized as Unauthorized,
    )
    from .protocol import PROTOCOL_VERSION as PROTOCOL_VERSION
    from .server.access import CallContext as CallContext
    from .server.access import ConnectInfo as ConnectInfo
    from .server.handle import InstanceHandle as InstanceHandle
    from .server.handle import StoreHandle as StoreHandle
    from .server.limits import Limits as Limits
    from .server.limits import RateLimit as RateLimit
    from .server.server import Hotstate as Hotstate
    from .server.server import Server as Server
    from .server.storage.base import Storage as Storage
    from .server.store import ALL as ALL
    from .server.store import Change as Change
    from .server.store import Removed as Removed

_EXPORTS = {
    "ALL": ".server.store",
    "PROTOCOL_VERSION": ".protocol",
    "CallContext": ".server.access",
    "ConnectInfo": ".server.access",
    "Change": ".server.store",
    "AuthError": ".errors",
    "CertificateError": ".errors",
    "ClusterConflict": ".errors",
    "ClusterError": ".errors",
    "ClusterUnavailable": ".errors",
    "Disconnected": ".errors",
    "Hotstate": ".server.server",
    "HotstateError": ".errors",
    "Limits": ".server.limits",
    "PatchError": ".errors",
    "ProtocolError": ".errors",
    "RateLimit": ".server.limits",
    "Removed": ".server.store",
    "RpcError": ".errors",
    "RpcTimeout": ".errors",
    "Server": ".server.server",
    "InstanceHandle": ".server.handle",
    "StoreHandle": ".server.handle",
    "Storage": ".server.storage.base",
    "StorageError": ".errors",
    "SubscriptionError": ".errors",
    "Unauthorized": ".errors",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
