"""The server: stores, functions and events served to WebSocket clients.

Rooms, pure first:

- :mod:`.session` — one connection's protocol rules (sans I/O).
- :mod:`.store` — store definitions, instances, their lifecycle and the
  ordered change queue of :mod:`.notify` (no asyncio).
- :mod:`.functions`, :mod:`.lifecycle` — the function table and the
  lifecycle-event listener table (pure).
- :mod:`.server` — :class:`Server`, the user's façade, and its asyncio driver.
- :mod:`.transports` — thin adapters from ``websockets`` and ASGI to the hub.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:
    from .functions import CallContext as CallContext
    from .server import Hotstate as Hotstate
    from .server import Server as Server
    from .store import ALL as ALL
    from .store import Change as Change
    from .store import Removed as Removed
    from .store import StoreHandle as StoreHandle

_EXPORTS = {
    "ALL": ".store",
    "CallContext": ".functions",
    "Change": ".store",
    "Hotstate": ".server",
    "Removed": ".store",
    "Server": ".server",
    "StoreHandle": ".store",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
