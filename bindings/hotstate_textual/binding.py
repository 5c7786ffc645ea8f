"""Bind a hotstate client to a Textual app: ``status`` and ``stores`` as reactives.

The Python counterpart of the original's ``client.bindZustand(useStore)``::

    class TodoApp(HotstateReactive, App):
        def on_mount(self) -> None:
            self.hotstate = bind_client(self, client)   # follows every subscription
            client.subscribe("Todos")                   # now or later, from anywhere

    # anywhere in the app: self.app.status, self.app.stores["Todos"],
    # watch_status / watch_stores, or data_bind(TodoApp.status)

Without ``stores=``, ``stores`` follows :attr:`client.stores
<hotstate_rx.client.Client.stores>`: every store the client subscribes to,
including subscriptions made after binding, as in the original. With
``stores=["Todos"]`` the binding subscribes those names itself, holds them for
the node's lifetime, and ``stores`` shows only them.

Whole-store reactives suit a few widgets; for one widget per slice use
:meth:`ClientBinding.bind`, which updates the widget only when its slice changes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from reactivex import Observable
from textual.app import App
from textual.dom import DOMNode
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import DataTable
from textual.worker import Worker

from hotstate_rx.client import Client, SubscriptionHandle
from hotstate_rx.client.mirror import StoreMirror
from hotstate_rx.frozen import FrozenDict
from hotstate_rx.rx.operators import select

from .pump import bind_observable
from .rows import diff_rows

if TYPE_CHECKING:
    # To a type checker the mixin is a DOMNode, which it only ever is at run
    # time (bind_client refuses anything else): Textual's ``reactive``
    # descriptors are typed to work on DOMNode instances only, so this is what
    # lets ``self.status`` / ``node.stores`` type as ``str`` / ``Mapping``.
    _MixinBase = DOMNode
else:
    _MixinBase = object


class HotstateReactive(_MixinBase):
    """Mixin declaring the reactives :func:`bind_client` fills.

    Mix it into an ``App``, ``Screen`` or ``Widget`` (before the Textual base):
    ``status`` is the connection status (``"connecting"``, ``"connected"``,
    ``"reconnecting"``, ``"disconnected"``); ``stores`` maps each store name the
    binding follows (every subscription of the client, or the names given to
    ``bind_client(stores=...)``) to its latest immutable state, absent until its
    first snapshot.
    """

    status: reactive[str] = reactive("disconnected")
    stores: reactive[Mapping[str, Any]] = reactive(FrozenDict)


class TableSync:
    """Keeps a ``DataTable`` equal to a list by applying each change as row operations.

    Rows are keyed by ``key(item)``; ``columns`` maps a column key (also its label)
    to a function of the item giving the cell. Columns missing from the table
    are added. The table is never cleared: see :func:`~hotstate_textual.rows.diff_rows`.
    """

    def __init__(
        self,
        table: DataTable[Any],
        *,
        key: Callable[[Any], str],
        columns: Mapping[str, Callable[[Any], Any]],
    ) -> None:
        if not columns:
            raise ValueError("TableSync needs at least one column")
        self.table = table
        self._key = key
        self._columns = dict(columns)
        self._items: Sequence[Any] = ()
        for column in self._columns:
            if column not in table.columns:
                table.add_column(column, key=column)

    def __call__(self, items: Sequence[Any] | None) -> None:
        """Show ``items`` (``None`` shows an empty table)."""
        items = () if items is None else items
        diff = diff_rows(self._items, items, self._key)
        table = self.table
        for row_key in diff.remove:
            table.remove_row(row_key)
        for row_key, old, new in diff.update:
            for column, cell in self._columns.items():
                value = cell(new)
                if value != cell(old):
                    table.update_cell(row_key, column, value)
        for row_key, item in diff.append:
            table.add_row(*(cell(item) for cell in self._columns.values()), key=row_key)
        self._items = items


class ClientBinding:
    """A hotstate client bound to a Textual node; made by :func:`bind_client`.

    It owns one subscription handle per store it binds and releases them when
    the node unmounts (or on :meth:`dispose`).
    """

    def __init__(self, node: DOMNode, client: Client) -> None:
        self.node = node
        self.client = client
        self._state = cast(HotstateReactive, node)
        self._workers: list[Worker[None]] = []
        self._mirror = StoreMirror(client, self._set_stores, bind_observable=self._bind_observable)

    @property
    def following(self) -> bool:
        """True when ``node.stores`` follows every subscription of the client."""
        return self._mirror.following

    def subscribe(self, name: str) -> SubscriptionHandle:
        """Subscribe to store ``name`` for the node's lifetime and return the
        handle (once per name). It shows in ``node.stores``: through the
        client's ``stores`` when :attr:`following`, else bound here."""
        return self._mirror.subscribe(name)

    def select(self, name: str, selector: Callable[[Any], Any]) -> Observable[Any]:
        """Observable of ``selector(state)`` of store ``name``, emitted only when it changes."""
        return self.subscribe(name).pipe(select(selector))

    def bind(
        self,
        widget: DOMNode,
        name: str,
        selector: Callable[[Any], Any],
        target: str | Callable[[Any], object],
    ) -> Worker[None]:
        """Set ``widget.<target>`` (or call ``target(slice)``) whenever the slice changes.

        Lives until ``widget`` unmounts. ``target`` is an attribute name, e.g. a
        reactive of the widget, or a callable such as ``label.update``.
        """
        if isinstance(target, str):
            attr = target
            if not hasattr(widget, attr):
                raise AttributeError(f"{type(widget).__name__} has no attribute {attr!r} to bind")

            def target(value: Any) -> None:
                setattr(widget, attr, value)

        return bind_observable(widget, self.select(name, selector), target, name=f"hotstate {name}")

    def bind_table(
        self,
        table: DataTable[Any],
        name: str,
        selector: Callable[[Any], Sequence[Any] | None],
        *,
        key: Callable[[Any], str],
        columns: Mapping[str, Callable[[Any], Any]],
    ) -> TableSync:
        """Keep ``table`` in sync with the list ``selector(state)`` of store ``name``."""
        sync = TableSync(table, key=key, columns=columns)
        bind_observable(table, self.select(name, selector), sync, name=f"hotstate table {name}")
        return sync

    def call(
        self,
        name: str,
        args: Any = None,
        *,
        store: str | None = None,
        optimistic: Callable[[Any], Any] | None = None,
        timeout: float | None = None,
    ) -> Worker[Any]:
        """Run ``client.call(...)`` in a worker, so a key press never blocks the UI.

        The optimistic view shows at once in the bound stores; a failure rolls it
        back (the client does that) and is shown with ``notify``. Await
        ``worker.wait()`` for the result.
        """

        async def run() -> Any:
            try:
                return await self.client.call(
                    name, args, store=store, optimistic=optimistic, timeout=timeout
                )
            except Exception as error:
                _notify_error(self.node, f"{name} failed: {error}")
                raise

        return self.node.run_worker(run(), name=f"hotstate call {name}", exit_on_error=False)

    def dispose(self) -> None:
        """Stop every binding of this client now and release its handles."""
        for worker in self._workers:
            worker.cancel()
        self._workers.clear()
        self._mirror.release()

    def _bind_observable(
        self,
        source: Observable[Any],
        on_value: Callable[[Any], None],
        on_completed: Callable[[], None] | None,
        label: str,
    ) -> None:
        self._workers.append(
            bind_observable(
                self.node, source, on_value, on_completed=on_completed, name=f"hotstate {label}"
            )
        )

    def _set_stores(self, stores: FrozenDict) -> None:
        self._state.stores = stores


def bind_client(
    node: DOMNode, client: Client, *, stores: Iterable[str] | None = None
) -> ClientBinding:
    """Bind ``client`` to ``node``: its ``status`` and ``stores`` reactives follow the client.

    Without ``stores``, ``node.stores[name]`` follows every store the client
    subscribes to, whoever subscribes and whenever (``client.subscribe(name)``
    later makes it appear; releasing the last handle or a deletion removes
    it), like the original's ``client.bindZustand``. With ``stores=[...]``, the
    binding subscribes those names for the node's lifetime and ``node.stores``
    shows only them (``stores=()``: the status only).

    ``node`` mixes in :class:`HotstateReactive`; call this from the app's loop
    once the node is running (``on_mount``). Everything stops when ``node``
    unmounts. Returns the binding, for slice bindings and calls.
    """
    if not isinstance(node, DOMNode) or not isinstance(node, HotstateReactive):
        raise TypeError(
            f"bind_client() needs a Textual node that mixes in HotstateReactive, "
            f"got {type(node).__name__}: declare `class MyApp(HotstateReactive, App)`"
        )
    binding = ClientBinding(node, client)

    def set_status(status: Any) -> None:
        node.status = str(status)

    binding._bind_observable(client.status, set_status, None, "status")
    binding._mirror.start(stores)
    # The handles belong to the node: release them with it.
    binding._workers.append(
        node.run_worker(_release_on_exit(binding), name="hotstate handles", group="hotstate")
    )
    return binding


def _notify_error(node: DOMNode, message: str) -> None:
    """Show ``message`` as an error toast. ``notify`` belongs to App and Widget
    (Screen is a Widget), not to DOMNode; any other node goes through its app,
    which is what ``Widget.notify`` does."""
    target = node if isinstance(node, App | Widget) else node.app
    target.notify(message, severity="error", markup=False)


async def _release_on_exit(binding: ClientBinding) -> None:
    try:
        await asyncio.Future()
    finally:
        binding.dispose()


__all__ = ["ClientBinding", "HotstateReactive", "TableSync", "bind_client"]
