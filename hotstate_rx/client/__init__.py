"""The hotstate client: subscribe to stores, call functions, listen to events.

::

    from hotstate_rx.client import Client

    client = Client("ws://localhost:4400")
    todos = client.subscribe("Todos", lambda state: print(state))
    await todos.ready()
    await client.call("todos.add", {"text": "Buy milk"})

Layers: :mod:`.core` holds the rules without I/O (subscriptions, versions and
resync, calls and optimistic overlays, the status machine; event channel
names in :mod:`.channels`); :mod:`.connection` is its asyncio driver over
``websockets``, with reconnect and heartbeat; :mod:`.client` is the façade;
handles and streams are RxPY Observables. For UI bindings, :mod:`.mirror`
keeps the ``{name: state}`` a binding shows and :mod:`.handover` runs a
callback on the UI loop's thread.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:
    from .client import Client as Client
    from .client import Hotstate as Hotstate
    from .handle import SubscriptionHandle as SubscriptionHandle
    from .options import ClientOptions as ClientOptions
    from .status import Connected as Connected
    from .status import ConnectionStatus as ConnectionStatus

_EXPORTS = {
    "Client": ".client",
    "ClientOptions": ".options",
    "Connected": ".status",
    "ConnectionStatus": ".status",
    "Hotstate": ".client",
    "SubscriptionHandle": ".handle",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
