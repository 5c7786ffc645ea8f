"""Rx: stores and events as Observables, and Observables feeding them.

Shared by both ends: :mod:`.operators` (``select``: a slice of the state,
emitted only when it changed). The client's handles and streams are
Observables themselves (:mod:`hotstate_rx.client`); the rest of this package
is the server's side.

Streams out (for audit logs, persistence, replication, metrics)::

    changes(server | handle[, key])       every committed Change / Removed
    lifecycle_events(server[, *names])    the lifecycle events as small values

(``handle.observe([key])`` of :mod:`hotstate_rx.rx.observe` is the stream of one
instance's *states*.) Streams in::

    feed_store(handle, source[, key], recipe=None)   an instance driven by an Observable
    derived_store(server, name, source, ...)         a new static store computed by one
    feed_events(server, channel, source, ...)        an event channel fed by one

A feed ends when its disposable is disposed, when the fed instance is deleted,
when the server closes, or when the source ends (completion leaves the store as
it is; an error is logged and reported through the server's ``"error"``
event). An item that cannot be applied (not JSON, a recipe that raises) is
reported the same way and skipped: one bad sample does not stop a sensor.

Threads and loops
-----------------
*Out:* the streams emit from the store and server listeners, which the server
runs on its event loop in mutation order, marshalled with
``call_soon_threadsafe`` from whichever thread mutated (synchronously in the
mutating thread while no loop runs). Observers are therefore called on the
loop without any Rx scheduler.

*In:* no scheduler hop either. Each item is applied with the store's own
thread-safe mutation in the thread the source emits on (``interval`` emits on
a ``TimeoutScheduler`` thread), under the registry lock, so checking that the
instance still exists and changing it is one atomic step, ordered with every
other mutation; the resulting notifications reach clients and observers on
the loop as above. Hopping first with ``ops.observe_on(
AsyncIOThreadSafeScheduler(loop))`` would add a loop iteration of latency per
item, would need a loop when the feed is wired (usually before ``listen()``),
and would order nothing the lock does not already order. Put ``observe_on``
in the source yourself if a recipe must run on the loop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:
    from .changes import changes as changes
    from .feeds import ItemRecipe as ItemRecipe
    from .feeds import derived_store as derived_store
    from .feeds import feed_events as feed_events
    from .feeds import feed_store as feed_store
    from .lifecycle import LIFECYCLE_EVENT_TYPES as LIFECYCLE_EVENT_TYPES
    from .lifecycle import ClientConnected as ClientConnected
    from .lifecycle import ClientDisconnected as ClientDisconnected
    from .lifecycle import ClientSubscribed as ClientSubscribed
    from .lifecycle import ClientUnsubscribed as ClientUnsubscribed
    from .lifecycle import LifecycleEvent as LifecycleEvent
    from .lifecycle import ServerError as ServerError
    from .lifecycle import StoreCreated as StoreCreated
    from .lifecycle import StoreDeleted as StoreDeleted
    from .lifecycle import StoreHibernated as StoreHibernated
    from .lifecycle import lifecycle_events as lifecycle_events
    from .operators import select as select

_EXPORTS = {
    "ClientConnected": ".lifecycle",
    "ClientDisconnected": ".lifecycle",
    "ClientSubscribed": ".lifecycle",
    "ClientUnsubscribed": ".lifecycle",
    "ItemRecipe": ".feeds",
    "LIFECYCLE_EVENT_TYPES": ".lifecycle",
    "LifecycleEvent": ".lifecycle",
    "ServerError": ".lifecycle",
    "StoreCreated": ".lifecycle",
    "StoreDeleted": ".lifecycle",
    "StoreHibernated": ".lifecycle",
    "changes": ".changes",
    "derived_store": ".feeds",
    "feed_events": ".feeds",
    "feed_store": ".feeds",
    "lifecycle_events": ".lifecycle",
    "select": ".operators",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
