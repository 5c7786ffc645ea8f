"""What a UI binding shows of a client's stores: one immutable ``{name: state}``.

Both UI bindings (:mod:`hotstate_textual`, :mod:`hotstate_nicegui`) keep their
``stores`` with a :class:`StoreMirror`, in one of two modes:

- **following** (:meth:`StoreMirror.follow`): ``stores`` is the client's own
  :attr:`~hotstate_rx.client.Client.stores`, every store anyone subscribes
  to; the handles the binding takes only keep their stores subscribed.
- **explicit** (the names given to ``bind_client(stores=...)``): ``stores``
  holds just the stores subscribed through the mirror. A store appears with
  its first state and leaves when its handle ends (deleted, refused, client
  destroyed); subscribing the name again then takes a new handle.

Each change is reported as a new ``FrozenDict`` that shares the unchanged
entries with the last one, so a UI can tell what changed by identity
(explicit mode; ``|`` is the end of a handle, here the store was deleted)::

    Todos    a-----b-----|
    Config   ---c--------------
    stores   A--B--C-----D      A = {Todos: a}           B = {Todos: a, Config: c}
                                C = {Todos: b, Config: c} D = {Config: c}

``c`` is the very same object in B, C and D.

The mirror does no I/O and never touches a loop or a thread: a binding passes
its :class:`BindObservable`, which subscribes a stream and calls the mirror
back on the UI's loop (a Textual worker, as ``hotstate_textual.bind_observable``
does, or a NiceGUI hand-over), and applies each mapping it is given with
``on_stores``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol

from hotstate_rx.frozen import FrozenDict, freeze

if TYPE_CHECKING:
    from reactivex import Observable

    from .client import Client
    from .handle import SubscriptionHandle


class BindObservable(Protocol):
    """How a binding feeds a stream to the UI: call ``on_value`` for each value
    of ``source`` and ``on_completed`` at its end, both on the UI's loop, until
    the binding goes. ``label`` names the stream (``"stores"``, ``"store
    Todos"``), e.g. for a worker's name."""

    def __call__(
        self,
        source: Observable[Any],
        on_value: Callable[[Any], None],
        on_completed: Callable[[], None] | None,
        label: str,
        /,
    ) -> None: ...


class StoreMirror:
    """The stores one binding shows, and the subscription handles it owns.

    ``on_stores(mapping)`` is called with each new mapping; :attr:`stores` is
    the last one (empty at first). Call every method, and let
    ``bind_observable`` call back, on one thread: the UI's.
    """

    def __init__(
        self,
        client: Client,
        on_stores: Callable[[FrozenDict], None],
        *,
        bind_observable: BindObservable,
    ) -> None:
        self._client = client
        self._on_stores = on_stores
        self._bind_observable = bind_observable
        self._stores = FrozenDict()
        self._handles: dict[str, SubscriptionHandle] = {}
        self._following = False

    @property
    def stores(self) -> FrozenDict:
        """The mapping last reported to ``on_stores``."""
        return self._stores

    @property
    def following(self) -> bool:
        """True once :meth:`follow` made ``stores`` the client's own."""
        return self._following

    def start(self, names: Iterable[str] | None) -> None:
        """What ``bind_client(stores=names)`` asks: ``None`` follows every
        subscription of the client, else subscribe ``names`` and show only
        them (``()``: nothing)."""
        if names is None:
            self.follow()
        else:
            for name in names:
                self.subscribe(name)

    def follow(self) -> None:
        """Show every store the client subscribes to, now and later."""
        self._following = True
        self._bind_observable(self._client.stores, self._client_stores, None, "stores")

    def subscribe(self, name: str) -> SubscriptionHandle:
        """The mirror's handle on store ``name``, subscribed on first use.

        One handle per name while it lasts. Following, an ended handle (the
        store was deleted) is replaced at once; explicit, the name is bound
        here and a new handle is taken once the end of the old one arrived.
        """
        handle = self._handles.get(name)
        if self._following:
            if handle is None or not handle.active:  # none yet, or the store was deleted
                handle = self._handles[name] = self._client.subscribe(name)
        elif handle is None:
            handle = self._handles[name] = self._client.subscribe(name)
            self._bind_observable(
                handle,
                lambda state: self._store_changed(name, state),
                lambda: self._store_gone(name),
                f"store {name}",
            )
        return handle

    def release(self) -> None:
        """Release every handle the mirror holds and forget them.

        ``stores`` keeps its last mapping: stop the bound streams first, as
        the binding's disposal does, if nothing more should be shown.
        """
        handles, self._handles = self._handles, {}
        for handle in handles.values():
            handle.release()

    def _show(self, stores: FrozenDict) -> None:
        self._stores = stores
        self._on_stores(stores)

    def _client_stores(self, stores: FrozenDict) -> None:
        if stores is not self._stores:
            self._show(stores)

    def _store_changed(self, name: str, state: Any) -> None:
        if self._stores.get(name) is not state:
            self._show(freeze({**self._stores, name: state}))

    def _store_gone(self, name: str) -> None:
        self._handles.pop(name, None)
        if name in self._stores:
            self._show(freeze({k: v for k, v in self._stores.items() if k != name}))


__all__ = ["BindObservable", "StoreMirror"]
