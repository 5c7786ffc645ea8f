"""Live todos in the terminal: a Textual app bound to a hotstate server.

    python bindings/examples/textual_todos.py                        # serves on :4400 too
    python bindings/examples/textual_todos.py ws://127.0.0.1:4400    # a second terminal
    python bindings/examples/textual_todos.py ws://127.0.0.1:8080/ws # the NiceGUI example

Type a todo and press Enter; ``space`` toggles the highlighted one, ``d``
deletes it. Every terminal and browser bound to the same server updates at once.
"""

from __future__ import annotations

import sys
from typing import Any

from hotstate_textual import ClientBinding, HotstateReactive, StatusIndicator, bind_client, item_key
from textual.app import App, ComposeResult
from textual.widgets import DataTable, Footer, Input, Label
from todo_server import make_server, optimistic_add

from hotstate_rx import Server
from hotstate_rx.client import Client


class TodoApp(HotstateReactive, App[None]):
    BINDINGS = [("space", "toggle", "Toggle"), ("d", "delete", "Delete"), ("q", "quit", "Quit")]

    def __init__(self, url: str | None) -> None:
        super().__init__()
        self.url = url
        self.server: Server | None = None
        self.client = Client()
        self.hotstate: ClientBinding

    def compose(self) -> ComposeResult:
        yield StatusIndicator().data_bind(TodoApp.status)
        yield Label(id="count")
        yield Input(placeholder="What needs doing? (Enter adds)")
        yield DataTable(cursor_type="row")
        yield Footer()

    async def on_mount(self) -> None:
        url = self.url
        if url is None:  # no server given: host one in this process
            self.server = make_server()
            await self.server.listen(port=4400, host="127.0.0.1")
            url = "ws://127.0.0.1:4400"
        self.client.connect(url)
        self.hotstate = bind_client(self, self.client, stores=["Todos"])
        count = self.query_one("#count", Label)
        self.hotstate.bind(
            count, "Todos", lambda s: len(s["items"]), lambda n: count.update(f"{n} todos")
        )
        self.hotstate.bind_table(
            self.query_one(DataTable),
            "Todos",
            lambda s: s["items"],
            key=item_key("id"),
            columns={"Todo": lambda t: t["text"], "Done": lambda t: "✓" if t["done"] else ""},
        )

    def on_input_submitted(self, event: Input.Submitted) -> None:
        text, event.input.value = event.value, ""
        optimistic = optimistic_add(text)
        self.hotstate.call("todos.add", {"text": text}, store="Todos", optimistic=optimistic)

    def _highlighted(self) -> Any:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        return int(row_key.value or 0)

    def action_toggle(self) -> None:
        if (todo_id := self._highlighted()) is not None:
            self.hotstate.call("todos.toggle", {"id": todo_id})

    def action_delete(self) -> None:
        if (todo_id := self._highlighted()) is not None:
            self.hotstate.call("todos.remove", {"id": todo_id})

    async def on_unmount(self) -> None:
        await self.client.close()
        if self.server is not None:
            await self.server.close()


if __name__ == "__main__":
    TodoApp(sys.argv[1] if len(sys.argv) > 1 else None).run()
