"""Live todos in the browser: NiceGUI and hotstate on one port.

    python bindings/examples/nicegui_todos.py            # http://127.0.0.1:8080
    PORT=8123 python bindings/examples/nicegui_todos.py

The hotstate server is attached to NiceGUI's own app at ``/ws``; the pages read
it through one hotstate client. Open two tabs, or connect the Textual example
(``python bindings/examples/textual_todos.py ws://127.0.0.1:8080/ws``): every
change shows everywhere at once.
"""

from __future__ import annotations

import os
from typing import Any

from hotstate_nicegui import bind_client
from nicegui import app, ui
from todo_server import make_server, optimistic_add

from hotstate_rx.client import Client

PORT = int(os.environ.get("PORT", "8080"))

server = make_server()
server.attach(app, path="/ws")
client = Client()

app.on_startup(lambda: client.connect(f"ws://127.0.0.1:{PORT}/ws"))
app.on_shutdown(client.close)


def rows(items: Any) -> list[dict[str, Any]]:
    return [{"id": t["id"], "text": t["text"], "done": "✓" if t["done"] else ""} for t in items]


@ui.page("/")
def index() -> None:
    state = bind_client(client, stores=["Todos"])  # released when this page closes
    ui.label().bind_text_from(state, "status", backward=lambda s: f"● {s}").props(
        "data-testid=status"
    )
    count = state.select("Todos", lambda s: len(s["items"]), default=0)
    ui.label().bind_text_from(count, "value", backward=lambda n: f"{n} todos").props(
        "data-testid=count"
    )

    async def add() -> None:
        text, entry.value = entry.value, ""
        optimistic = optimistic_add(text)
        await client.call("todos.add", {"text": text}, store="Todos", optimistic=optimistic)

    with ui.row():
        entry = ui.input("New todo").on("keydown.enter", add)
        ui.button("Add", on_click=add)
    items = state.select("Todos", lambda s: s["items"], default=[])
    table = ui.table(
        columns=[
            {"name": "text", "label": "Todo", "field": "text", "align": "left"},
            {"name": "done", "label": "Done", "field": "done"},
        ],
        rows=rows(items.value),
        row_key="id",
    ).props("data-testid=todos")
    items.on_change(lambda value: table.update_rows(rows(value)))


if __name__ in {"__main__", "__mp_main__"}:
    ui.run(host="127.0.0.1", port=PORT, reload=False, show=False, title="hotstate todos")
