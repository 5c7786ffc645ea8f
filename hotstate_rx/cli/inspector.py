"""``hotstate inspect URL [URL ...]``: a Textual inspector of a running server
(several URLs: the nodes it fails over between; the header names the one it
inspects, since each node reports its own connections).

It is an ordinary client that reads the server's built-in ``$inspect``
stores (:mod:`hotstate_rx.server.inspection`), which the server opens only to
connections its ``inspect=`` option allows. Tabs: clients, instances (pick
one with Enter to follow it), the chosen instance's live state as a tree with
its patch log, and functions (call rates, latency percentiles, errors).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import (
    DataTable,
    Footer,
    Header,
    Log,
    Static,
    TabbedContent,
    TabPane,
    Tree,
)
from textual.widgets.tree import TreeNode

from ..client import Client, Connected
from ..errors import HotstateError

__all__ = ["InspectorApp"]

VIEWS = ("clients", "instances", "functions")
LATENCIES = ("p50 ms", "p90 ms", "p99 ms")


class InspectorApp(App[None]):
    """The inspector: one client, one subscription per view."""

    TITLE = "hotstate inspect"
    CSS = """
    #problem { color: $error; height: auto; }
    #state-tree { height: 2fr; }
    #patch-log { height: 1fr; border-top: solid $primary; }
    #errors { height: 1fr; border-top: solid $primary; }
    """
    BINDINGS: ClassVar[list[Binding | tuple[str, str] | tuple[str, str, str]]] = [
        ("q", "quit", "Quit"),
        ("c", "show('clients')", "Clients"),
        ("i", "show('instances')", "Instances"),
        ("s", "show('state')", "State"),
        ("f", "show('functions')", "Functions"),
    ]

    def __init__(self, *urls: str, token: str | None = None, client: Client | None = None) -> None:
        super().__init__()
        self.urls = urls
        self.client = client or Client(token=token, reconnect_max=5.0)
        self.chosen: str | None = None
        self._state_handle: Any = None
        self._logged = 0

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="problem")
        with TabbedContent(initial="clients"):
            with TabPane("Clients", id="clients"):
                yield DataTable(id="clients-table", cursor_type="row")
            with TabPane("Instances", id="instances"):
                yield DataTable(id="instances-table", cursor_type="row")
            with TabPane("State", id="state"):
                yield Tree("(pick an instance: Instances tab, Enter)", id="state-tree")
                yield Log(id="patch-log")
            with TabPane("Functions", id="functions"):
                yield DataTable(id="functions-table", cursor_type="row")
                yield Log(id="errors")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = ", ".join(self.urls)
        columns = {
            "clients-table": ("client", "user", "address", "subscriptions", "send buffer"),
            "instances-table": ("instance", "version", "subscribers", "size"),
            "functions-table": (
                "function",
                "calls",
                "errors",
                "calls/s",
                "p50 ms",
                "p90 ms",
                "p99 ms",
            ),
        }
        for table_id, names in columns.items():
            self.query_one(f"#{table_id}", DataTable).add_columns(*names)
        self.client.on("error", self._failed)
        self.client.on("connected", self._connected)
        if self.client.url is None:
            self.client.connect(urls=self.urls)
        for view in VIEWS:
            handle = self.client.subscribe(f"$inspect:{view}", getattr(self, f"_{view}"))
            self.run_worker(self._watch(handle), exit_on_error=False)

    async def on_unmount(self) -> None:
        await self.client.close()

    async def _watch(self, handle: Any) -> None:
        try:
            await handle.ready()
        except HotstateError as exc:
            self._failed(exc)

    def _connected(self, connected: Connected) -> None:
        self.sub_title = connected.url or ""

    def _failed(self, error: Any) -> None:
        text = str(error)
        if "forbidden" in text:
            text += " — the server must allow this connection: Server(inspect=...)"
        self.query_one("#problem", Static).update(text)

    # -- views ---------------------------------------------------------------------

    def _clients(self, state: Any) -> None:
        rows = [
            (
                cid,
                c["user"] or "-",
                c["address"] or "-",
                ", ".join(c["subscriptions"]),
                "parked" if c["parked"] else _bytes(c["send_buffer"]),
            )
            for cid, c in (state or {}).items()
        ]
        _fill(self.query_one("#clients-table", DataTable), rows)

    def _instances(self, state: Any) -> None:
        rows = [
            (name, str(i["version"]), str(i["subscribers"]), _bytes(i["size"]))
            for name, i in (state or {}).items()
        ]
        _fill(self.query_one("#instances-table", DataTable), rows)

    def _functions(self, state: Any) -> None:
        state = state or {}
        rows = [
            (name, str(f["calls"]), str(f["errors"]), str(f["rate"]), *_latencies(f))
            for name, f in state.get("functions", {}).items()
        ]
        _fill(self.query_one("#functions-table", DataTable), rows)
        errors = self.query_one("#errors", Log)
        errors.clear()
        errors.write_lines(
            f"{e['client'] or 'server'}: {e['error']}" for e in state.get("errors", [])
        )

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id == "instances-table" and event.row_key.value is not None:
            self.follow(event.row_key.value)

    def follow(self, instance: str) -> None:
        """Show ``instance``'s live state and patch log."""
        if self._state_handle is not None:
            self._state_handle.release()
        self.chosen, self._logged = instance, 0
        self.query_one("#patch-log", Log).clear()
        self._state_handle = self.client.subscribe(f"$inspect:state:{instance}", self._state)
        self.run_worker(self._watch(self._state_handle), exit_on_error=False)
        self.action_show("state")

    def _state(self, view: Any) -> None:
        if not view:
            return
        tree = self.query_one("#state-tree", Tree)
        tree.clear()
        tree.root.set_label(f"{view['name']} v{view['version']}")
        _grow(tree.root, view["state"])
        tree.root.expand_all()
        log = self.query_one("#patch-log", Log)
        for entry in view["log"]:
            if entry["version"] > self._logged:
                ops = "snapshot" if entry["ops"] is None else json.dumps(entry["ops"])
                log.write_line(f"v{entry['version']}: {ops}")
                self._logged = entry["version"]

    def action_show(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab


def _fill(table: DataTable[Any], rows: Sequence[tuple[str, ...]]) -> None:
    """Replace the rows, keeping the cursor on the same row where it still is."""
    cursor = table.cursor_row
    table.clear()
    for row in rows:
        table.add_row(*row, key=row[0])
    if rows:
        table.move_cursor(row=min(cursor, len(rows) - 1))


def _grow(node: TreeNode[Any], value: Any) -> None:
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else None
    )
    if items is None:
        node.add_leaf(json.dumps(value))
        return
    for key, child in items:
        if isinstance(child, dict | list):
            _grow(node.add(f"{key}"), child)
        else:
            node.add_leaf(f"{key}: {json.dumps(child)}")


def _latencies(stats: dict[str, Any]) -> tuple[str, ...]:
    return tuple("-" if stats[p] is None else str(stats[p]) for p in ("p50", "p90", "p99"))


def _bytes(size: int | None) -> str:
    if size is None:
        return "-"
    return f"{size} B" if size < 10_000 else f"{size / 1024:.0f} KiB"
