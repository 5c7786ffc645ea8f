"""The Textual todo client driven by Pilot against a real todo server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from app_helpers import serve, settle
from textual.widgets import RichLog

from apps.todo.server import build_server
from apps.todo.tui import TodoApp, TodoTable
from hotstate_rx import Server


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    server = build_server(clock=lambda: 0.0)
    yield server
    await server.close()


def cells(table: TodoTable) -> list[list[str]]:
    return [[str(cell) for cell in table.get_row_at(row)] for row in range(table.row_count)]


async def test_tui_adds_toggles_and_removes_todos(server: Server) -> None:
    url = await serve(server)
    todos = server.stores["Todos"]
    app = TodoApp(url)
    async with app.run_test(size=(110, 30)) as pilot:
        table = app.query_one(TodoTable)
        await settle(pilot, lambda: app.status == "connected")

        await pilot.press("B", "u", "y", "space", "m", "i", "l", "k", "enter")
        await settle(pilot, lambda: cells(table) == [["·", "Buy milk"]])
        assert todos.get()["items"] == [{"id": 1, "text": "Buy milk", "done": False}]

        elsewhere = {"id": 50, "text": "From [b]elsewhere[/x]", "done": False}  # not markup
        todos.update(lambda d: d["items"].append(elsewhere))
        await settle(pilot, lambda: table.row_count == 2)

        await pilot.press("ctrl+l", "space")
        await settle(pilot, lambda: todos.get()["items"][0]["done"])
        await settle(pilot, lambda: cells(table)[0] == ["✔", "Buy milk"])

        await pilot.press("delete")
        await settle(pilot, lambda: [t["id"] for t in todos.get()["items"]] == [50])
        await settle(pilot, lambda: cells(table) == [["·", "From [b]elsewhere[/x]"]])


async def test_tui_chats_in_rooms_and_follows_the_theme(server: Server) -> None:
    url = await serve(server)
    rooms = server.stores["Room:*"]
    app = TodoApp(url, name="Ada")
    async with app.run_test(size=(110, 30)) as pilot:
        await settle(pilot, lambda: rooms.subscriber_count("general") == 1)
        await pilot.press("ctrl+s", "h", "i", "enter")
        await settle(pilot, lambda: [m["text"] for m in rooms.get("general")["messages"]] == ["hi"])
        assert rooms.get("general")["messages"][0]["name"] == "Ada"
        log = app.query_one("#messages", RichLog)
        await settle(pilot, lambda: any("hi" in line.text for line in log.lines))
        raw = {"from": "x", "name": "[i]eve", "text": "[/oops] not markup", "ts": 0.0}
        rooms.update("general", lambda d: d["messages"].append(raw))
        await settle(pilot, lambda: "[i]eve: [/oops] not markup" in log.lines[-1].text)

        await pilot.press("ctrl+r", *"design", "enter")
        await settle(pilot, lambda: rooms.subscriber_count("design") == 1)
        assert rooms.subscriber_count("general") == 0
        assert not rooms.is_initialized("general")  # on_idle reset the empty room
        assert server.stores["Rooms"].get()["names"] == ["design", "general"]

        await pilot.press("ctrl+t")
        await settle(pilot, lambda: server.stores["Config"].get()["theme"] == "light")
        await settle(pilot, lambda: app.theme == "textual-light")
