"""Textual bindings for hotstate_rx: live stores as reactives, slices and tables.

::

    from hotstate_textual import HotstateReactive, StatusIndicator, bind_client

    class TodoApp(HotstateReactive, App):
        def compose(self):
            yield StatusIndicator().data_bind(TodoApp.status)
            yield DataTable(id="todos")

        def on_mount(self):
            self.hotstate = bind_client(self, client, stores=["Todos"])
            self.hotstate.bind_table(self.query_one(DataTable), "Todos", lambda s: s["items"],
                                     key=item_key("id"), columns={"Task": lambda t: t["text"]})
"""

from __future__ import annotations

try:
    import textual  # noqa: F401 - first, so that its absence is named with the fix
except ModuleNotFoundError as missing:
    if missing.name != "textual":
        raise
    raise ModuleNotFoundError(
        "hotstate_textual needs Textual, which is not installed: "
        "pip install 'hotstate-rx[textual]'",
        name="textual",
    ) from missing

from .binding import ClientBinding as ClientBinding
from .binding import HotstateReactive as HotstateReactive
from .binding import TableSync as TableSync
from .binding import bind_client as bind_client
from .pump import bind_observable as bind_observable
from .rows import RowDiff as RowDiff
from .rows import diff_rows as diff_rows
from .rows import item_key as item_key
from .widgets import StatusIndicator as StatusIndicator

__all__ = [
    "ClientBinding",
    "HotstateReactive",
    "RowDiff",
    "StatusIndicator",
    "TableSync",
    "bind_client",
    "bind_observable",
    "diff_rows",
    "item_key",
]
