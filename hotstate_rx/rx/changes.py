""":func:`changes`: the committed changes of stores as a stream of values."""

from __future__ import annotations

from collections.abc import Callable

import reactivex
from reactivex import Observable, abc
from reactivex.disposable import CompositeDisposable, Disposable

from ..server import Server
from ..server.handle import StoreHandle
from ..server.notify import ALL, WatchKey
from ..server.store import Change, Removed
from ._hub import registry_of

__all__ = ["changes"]


def changes(source: Server | StoreHandle, key: WatchKey = ALL) -> Observable[Change | Removed]:
    """Every committed change of a server's instances, of a store's, or of one instance.

    ``source`` is a :class:`~hotstate_rx.Server` (every instance of every store)
    or a :class:`~hotstate_rx.server.store.StoreHandle` (its instances, or the one of
    ``key``: ``None`` for a static store, the key of a dynamic one). Emits
    :class:`~hotstate_rx.server.store.Change` values (``patches`` is ``None`` for a
    snapshot: ``set``, ``reset``, (re)creation) and
    :class:`~hotstate_rx.server.store.Removed` when an instance is deleted. It does not
    complete on a deletion (a later use creates the instance again); it
    completes when the server closes. Nothing is emitted at subscription.
    Disposing unregisters the listener.

    .. code-block:: text

        h.update(f)  h.set(d)  h.delete()  h.update(g)
        changes(h): ---C(v2, ops)---C(v3, None)---R---C(v1, None)-C(v2, ops)--

    """
    if isinstance(source, StoreHandle):
        if key is not ALL:
            source.full_name(key)  # a wrong key raises here, not at subscription
        handle = source

        def watch(listener: Callable[[Change | Removed], None]) -> Callable[[], None]:
            return handle.watch(listener, key)

        registry = registry_of(handle)
    elif isinstance(source, Server):
        if key is not ALL:
            raise TypeError("changes(server) takes no key; pass a store handle to pick an instance")
        watch = source.watch_stores
        registry = registry_of(source)
    else:
        raise TypeError(f"changes() needs a Server or a StoreHandle, not {type(source).__name__}")

    def subscribe(
        observer: abc.ObserverBase[Change | Removed], scheduler: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        return CompositeDisposable(
            Disposable(watch(observer.on_next)),
            Disposable(registry.on_close(observer.on_completed)),
        )

    return reactivex.create(subscribe)
