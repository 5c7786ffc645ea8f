"""Bind a hotstate client to NiceGUI: ``status`` and ``stores`` as bindable properties.

The Python counterpart of the original's ``client.bindZustand(useStore)``::

    @ui.page("/")
    def index() -> None:
        state = bind_client(client, stores=["Todos"])
        ui.label().bind_text_from(state, "status")
        ui.label().bind_text_from(state.select("Todos", lambda s: len(s["items"])), "value")

Without ``stores=``, ``state.stores`` follows :attr:`client.stores
<hotstate_rx.client.Client.stores>`: every store the client subscribes to,
including subscriptions made later and by other pages sharing the client, as
in the original. With ``stores=["Todos"]`` the binding subscribes those names
itself, holds them as long as it lives, and ``stores`` shows only them.

Values are **pushed**: every property is a ``BindableProperty``, so setting it
propagates to the bound elements at once, with no polling loop (NiceGUI polls
only bindings to plain attributes and dict keys). A binding made inside a page
lives as long as that page: when NiceGUI deletes the page's client (the tab
closed and did not come back within the reconnect timeout), its subscriptions
and handles are released.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Any

import nicegui  # its ``nicegui.Client`` is a browser page; ``Client`` here is hotstate's
from nicegui import binding, core
from nicegui.binding import BindableProperty
from nicegui.context import context
from reactivex import Observable
from reactivex.abc import DisposableBase

from hotstate_rx.client import Client, SubscriptionHandle
from hotstate_rx.client.handover import LoopHandover
from hotstate_rx.client.mirror import StoreMirror
from hotstate_rx.frozen import FrozenDict
from hotstate_rx.rx.operators import select

log = logging.getLogger(__name__)

_CURRENT_PAGE: Any = object()


class Selection:
    """One slice of a store as a bindable ``value``; set only when the slice changes."""

    value = BindableProperty(on_change=lambda self, value: self._changed(value))

    def __init__(self, default: Any = None) -> None:
        self._handlers: list[Callable[[Any], object]] = []
        self.value = default

    def on_change(self, handler: Callable[[Any], object]) -> Selection:
        """Also call ``handler(value)`` on each change: for element APIs that are
        not bindable properties, e.g. ``items.on_change(table.update_rows)``."""
        self._handlers.append(handler)
        return self

    def _changed(self, value: Any) -> None:
        for handler in self._handlers:
            handler(value)


class HotstateState:
    """A hotstate client seen as bindable state; made by :func:`bind_client`.

    ``status`` is the connection status; ``stores`` maps each store name the
    binding follows (every subscription of the client, or the names given to
    ``bind_client(stores=...)``) to its latest immutable state (absent until
    its first snapshot). Both are replaced, never mutated, so NiceGUI sees
    every change.
    """

    status = BindableProperty()
    stores = BindableProperty()

    def __init__(self, client: Client, loop: asyncio.AbstractEventLoop) -> None:
        self.client = client
        self.status = "disconnected"
        self.stores = FrozenDict()
        self._handover = LoopHandover(loop)
        self._subscriptions: list[DisposableBase] = []
        self._selections: list[Selection] = []
        self._disposed = False
        self._mirror = StoreMirror(client, self._set_stores, bind_observable=self._bind_observable)

    @property
    def following(self) -> bool:
        """True when ``stores`` follows every subscription of the client."""
        return self._mirror.following

    def subscribe(self, name: str) -> SubscriptionHandle:
        """Subscribe to store ``name`` while this binding lives and return the
        handle (once per name). It shows in ``stores``: through the client's
        ``stores`` when :attr:`following`, else bound here."""
        self._check_alive()
        return self._mirror.subscribe(name)

    def select(self, name: str, selector: Callable[[Any], Any], default: Any = None) -> Selection:
        """A :class:`Selection` whose ``value`` is ``selector(state)`` of store ``name``.

        It changes only when the slice changes (identity, then ``==``), so the
        elements bound to it update only then. ``default`` shows until the store
        has data.
        """
        handle = self.subscribe(name)  # first: a disposed binding raises before adding one
        selection = Selection(default)
        self._selections.append(selection)

        def set_value(value: Any) -> None:
            selection.value = value

        self._bind_observable(handle.pipe(select(selector)), set_value, None, f"select {name}")
        return selection

    def dispose(self) -> None:
        """Stop every subscription, release the handles and drop the bindings."""
        if self._disposed:
            return
        self._disposed = True
        for subscription in self._subscriptions:
            subscription.dispose()
        self._mirror.release()
        self._subscriptions.clear()
        binding.remove([self, *self._selections])

    @property
    def disposed(self) -> bool:
        """True once :meth:`dispose` ran (its page is gone): nothing more is set."""
        return self._disposed

    def _bind_observable(
        self,
        source: Observable[Any],
        on_value: Callable[[Any], None],
        on_completed: Callable[[], None] | None,
        label: str,
    ) -> None:
        def on_error(error: Exception) -> None:
            log.error("the %s stream failed: %s", label, error)

        self._subscriptions.append(
            source.subscribe(
                on_next=lambda value: self._on_loop(on_value, value),
                on_error=lambda error: self._on_loop(on_error, error),
                on_completed=None if on_completed is None else lambda: self._on_loop(on_completed),
            )
        )

    def _on_loop(self, fn: Callable[..., None], *args: Any) -> None:
        """Run ``fn`` on NiceGUI's loop: at once from its thread, else handed over."""
        self._handover(self._apply, fn, *args)

    def _apply(self, fn: Callable[..., None], *args: Any) -> None:
        if not self._disposed:
            fn(*args)

    def _check_alive(self) -> None:
        if self._disposed:
            raise RuntimeError("this hotstate binding was disposed (its page is gone)")

    def _set_stores(self, stores: FrozenDict) -> None:
        self.stores = stores


def _current_page() -> nicegui.Client | None:
    """The page being built, or ``None`` outside a page (app-wide binding)."""
    if not core.app.is_started:  # touching the slot stack earlier would start script mode
        return None
    try:
        return context.client
    except RuntimeError:
        return None


def bind_client(
    client: Client,
    *,
    stores: Iterable[str] | None = None,
    page: nicegui.Client | None = _CURRENT_PAGE,
) -> HotstateState:
    """Bind ``client`` to NiceGUI: returns its bindable :class:`HotstateState`.

    Without ``stores``, ``state.stores[name]`` follows every store the client
    subscribes to, whoever subscribes and whenever (``client.subscribe(name)``
    later makes it appear; releasing the last handle or a deletion removes
    it), like the original's ``client.bindZustand``. With ``stores=[...]``, the
    binding subscribes those names itself and ``state.stores`` shows only them
    (``stores=()``: the status only).

    Call it on NiceGUI's loop (in a page function or ``app.on_startup``). By
    default the binding belongs to the page being built and is disposed when
    NiceGUI deletes that page; ``page=None`` makes an app-wide binding that the
    caller disposes.
    """
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        raise RuntimeError(
            "bind_client() must run on NiceGUI's event loop: "
            "call it in a page function or in app.on_startup"
        ) from None
    owner = _current_page() if page is _CURRENT_PAGE else page
    state = HotstateState(client, loop)

    def set_status(status: Any) -> None:
        state.status = str(status)

    state._bind_observable(client.status, set_status, None, "status")
    state._mirror.start(stores)
    if owner is not None:
        owner.on_delete(state.dispose)
    return state


__all__ = ["HotstateState", "Selection", "bind_client"]
