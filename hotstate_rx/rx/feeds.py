"""Stores and event channels driven by Observables (see the package docstring
for when a feed ends, where items are applied and how errors are reported)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from reactivex import Observable, abc
from reactivex.disposable import CompositeDisposable, Disposable

from ..server import Server
from ..server.handle import InstanceHandle, StoreHandle
from ..server.store import Change, Removed, StoreRegistry, parse_store_name
from ._hub import registry_of

__all__ = ["ItemRecipe", "derived_store", "feed_events", "feed_store"]

log = logging.getLogger(__name__)

ItemRecipe = Callable[[Any, Any], object]
"""``recipe(draft, item)``: apply one item of a source to a store's draft."""


def feed_store(
    handle: StoreHandle,
    source: Observable[Any],
    key: str | None = None,
    *,
    recipe: ItemRecipe | None = None,
) -> abc.DisposableBase:
    """Drive the instance of ``key`` with the items of ``source``; return the feed.

    Without ``recipe`` each item is the whole new state: it is diffed against
    the current state (:func:`hotstate_rx.diff.diff`) and only the difference
    is applied, as one patch, keeping every unchanged subtree (an item equal to
    the state changes nothing and sends nothing). With ``recipe``,
    ``recipe(draft, item)`` is applied per item through ``handle.update``.

    The instance is created at once (``init``, running ``on_create``); the feed
    ends when it is deleted, when the server closes, or when ``source`` ends,
    and disposing the result ends it too. Threads and errors: see
    :mod:`hotstate_rx.rx`. A key that does not fit the store (a static store
    with one, a dynamic store without) raises ``TypeError`` here.

    .. code-block:: text

        state of h:       {t:0, meta:M}
        source:           ---{t:1, meta:M'}----{t:1, meta:M'}----{t:2, meta:M'}---|
        feed_store(h, source)
        changes(h) patches: --[replace /t 1]-----------------------[replace /t 2]------
        (M' == M: h.get()["meta"] stays the very object M; the equal item sends nothing)

    """
    instance = handle.instance(key)
    _check_source(source, recipe)
    instance.init()
    feed = _Feed(registry_of(handle), f"feed of store {instance.name!r}")
    _drive(feed, instance, recipe)
    return feed.start(source)


def derived_store(
    server: Server,
    name: str,
    source: Observable[Any],
    *,
    initial: Any = ...,
    recipe: ItemRecipe | None = None,
) -> StoreHandle:
    """Create the static store ``name``, fed by ``source``, and return its handle.

    The store is published to clients like any other. Its defaults are
    ``initial`` or, when that is not given, the value ``source`` emits at subscription
    (the latest if several; ``handle.observe()`` and ``combine_latest`` of
    them do emit at once). A source that emits nothing then raises
    ``ValueError``: pass ``initial=``. With ``recipe`` (which needs
    ``initial``), items are applied as in :func:`feed_store`, else each item is
    the new state, diffed. The feed ends when the store is deleted or the
    server closes.

    .. code-block:: text

        todos.observe():   t0------t1-------------
        config.observe():  c0-------------c1------
        combine_latest(...).pipe(ops.map(f)):
                           f(t0,c0)-f(t1,c0)-f(t1,c1)
        derived_store(s, "Summary", ...) holds the latest, clients get patches

    """
    if not isinstance(server, Server):
        raise TypeError(f"derived_store() needs a Server, not {type(server).__name__}")
    if parse_store_name(name) is not None:
        raise ValueError(f"a derived store is static: {name!r} names a dynamic store")
    _check_source(source, recipe)
    if initial is not ...:
        handle = server.create_store(name, initial)
        feed_store(handle, source, recipe=recipe)
        return handle
    if recipe is not None:
        raise TypeError("derived_store(..., recipe=...) needs initial=, the state it starts from")
    # One subscription: its first items are kept until the store exists, then it
    # feeds the store. The lock keeps anything else from reaching the source's
    # items in between.
    registry = registry_of(server)
    feed = _Feed(registry, f"derived store {name!r}")
    firsts: list[Any] = []
    feed.apply = firsts.append
    with registry.lock:
        feed.start(source)
        try:
            if not firsts:
                raise ValueError(
                    f"derived store {name!r}: the source emitted nothing at subscription; "
                    "pass initial="
                )
            handle = server.create_store(name, firsts[-1])
            handle.init()
        except BaseException:
            feed.dispose()
            raise
        _drive(feed, handle.instance(), None)
    return handle


def feed_events(
    server: Server,
    channel: str,
    source: Observable[Any],
    *,
    client_id: str | None = None,
) -> abc.DisposableBase:
    """Emit every item of ``source`` on event ``channel``: to every client, or to
    ``client_id`` only (then the feed also ends when that client disconnects).
    Returns the feed; it ends as described in :mod:`hotstate_rx.rx`.

    .. code-block:: text

        source:                 --a----b----c--|
        feed_events(s, "tick", source)
        client.events("tick"):  --a----b----c-----   (on every connected client)

    """
    if not isinstance(server, Server):
        raise TypeError(f"feed_events() needs a Server, not {type(server).__name__}")
    if not isinstance(channel, str) or not channel:
        raise TypeError(f"an event channel must be a non-empty str, got {channel!r}")
    _check_source(source, None)
    feed = _Feed(registry_of(server), f"event feed {channel!r}")
    if client_id is not None:

        def on_disconnect(cid: str) -> None:
            if cid == client_id:
                feed.dispose()

        feed.add(server.on("disconnect", on_disconnect))
    feed.apply = lambda item: server.emit(channel, item, client_id=client_id)
    return feed.start(source)


# -- internals ------------------------------------------------------------------


class _Feed:
    """One source subscription, what it does with items, and everything that ends it."""

    def __init__(self, registry: StoreRegistry, what: str) -> None:
        self._registry = registry
        self._what = what
        self._disposable = CompositeDisposable()
        self.apply: Callable[[Any], None] = _ignore
        self.add(registry.on_close(self.dispose))

    def add(self, stop: Callable[[], None]) -> None:
        self._disposable.add(Disposable(stop))

    def dispose(self) -> None:
        self._disposable.dispose()

    def start(self, source: Observable[Any]) -> abc.DisposableBase:
        self._disposable.add(source.subscribe(self._on_next, self._on_error, self.dispose))
        return self._disposable

    def _on_next(self, item: Any) -> None:
        with self._registry.lock:  # "still fed?" and the mutation are one step
            if self._disposable.is_disposed:
                return
            try:
                self.apply(item)
            except Exception as exc:
                self._report(exc, "could not apply an item")

    def _on_error(self, exc: Exception) -> None:
        self._report(exc, "the source failed")
        self.dispose()

    def _report(self, exc: Exception, what: str) -> None:
        log.error("%s: %s: %r", self._what, what, exc, exc_info=exc)
        self._registry.report(exc)


def _ignore(item: Any) -> None:
    """A feed's ``apply`` before it has a target."""


def _drive(feed: _Feed, instance: InstanceHandle, recipe: ItemRecipe | None) -> None:
    """Point ``feed`` at one existing store instance; its deletion ends the feed."""

    def apply(item: Any) -> None:
        if not instance.has():  # deleted, and the Removed notice is still on its way
            feed.dispose()
        elif recipe is None:
            instance.assign(item)
        else:
            instance.update(lambda draft: recipe(draft, item))

    def on_event(event: Change | Removed) -> None:
        if isinstance(event, Removed):
            feed.dispose()

    feed.apply = apply
    feed.add(instance.watch(on_event))


def _check_source(source: object, recipe: object) -> None:
    if not isinstance(source, Observable):
        raise TypeError(f"source must be a reactivex Observable, not {type(source).__name__}")
    if recipe is not None and not callable(recipe):
        raise TypeError(f"recipe must be callable, not {type(recipe).__name__}")
