"""The server: stores, functions and events served to WebSocket clients.

Rooms, pure first:

- :mod:`.session` — one connection's protocol rules (sans I/O).
- :mod:`.hub` — the hub's rules (sans I/O): subscriptions, instance use
  counts, fan-out targets, the order of patches and results, calls.
- :mod:`.store` — store definitions, instances, their lifecycle and the
  ordered change queue of :mod:`.notify` (no asyncio); :mod:`.handle` — the
  user's handles over them.
- :mod:`.functions`, :mod:`.lifecycle` — the function table and the
  lifecycle-event listener table (pure).
- :mod:`.access` — who may connect, read and call: ``ConnectInfo``, ``ctx``,
  access rules, the origin policy, what clients read of failures (pure).
- :mod:`.storage` — the :class:`Storage` interface (pure), its backends
  (memory, SQLite), the journal of changes on their way (pure) and the
  writer thread.
- :mod:`.limits` — what one client may cost: the options of the bounds the
  hub, the sessions and the transports enforce (pure).

Then the I/O, thin:

- :mod:`.driver` — the hub on asyncio: loop, timers, call tasks.
- :mod:`.transports` — adapters from ``websockets`` and ASGI to the driver.
- :mod:`.server` — :class:`Server`, the user's façade over all of it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:
    from .access import CallContext as CallContext
    from .access import ConnectInfo as ConnectInfo
    from .handle import InstanceHandle as InstanceHandle
    from .handle import StoreHandle as StoreHandle
    from .limits import Limits as Limits
    from .limits import RateLimit as RateLimit
    from .server import Hotstate as Hotstate
    from .server import Server as Server
    from .storage.base import Storage as Storage
    from .store import ALL as ALL
    from .store import Change as Change
    from .store import Removed as Removed

_EXPORTS = {
    "ALL": ".store",
    "CallContext": ".access",
    "ConnectInfo": ".access",
    "Change": ".store",
    "Hotstate": ".server",
    "Limits": ".limits",
    "RateLimit": ".limits",
    "Removed": ".store",
    "Server": ".server",
    "InstanceHandle": ".handle",
    "Storage": ".storage.base",
    "StoreHandle": ".handle",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
