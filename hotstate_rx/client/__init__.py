"""The hotstate client: subscribe to stores, call functions, listen to events.

::

    from hotstate_rx.client import Hotstate

    client = Hotstate("ws://localhost:4400")
    todos = client.subscribe("Todos", lambda state: print(state))
    await todos.ready()
    await client.call("todos.add", {"text": "Buy milk"})

Layers: :mod:`.core` holds the rules without I/O (subscriptions, versions and
resync, calls and optimistic overlays, the status machine); :mod:`.connection`
drives it over ``websockets`` with reconnect and heartbeat; :mod:`.client` is
the façade; handles and streams are RxPY Observables. For UI bindings,
:mod:`.mirror` keeps the ``{name: state}`` a binding shows and :mod:`.handover`
runs a callback on the UI loop's thread.
"""

from __future__ import annotations

from .client import Hotstate as Hotstate
from .handle import SubscriptionHandle as SubscriptionHandle
from .options import ClientOptions as ClientOptions
from .status import ConnectionStatus as ConnectionStatus

__all__ = ["ClientOptions", "ConnectionStatus", "Hotstate", "SubscriptionHandle"]
