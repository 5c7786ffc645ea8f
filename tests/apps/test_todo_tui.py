"""The Textual todo client driven by Pilot against a real todo server; both
terminal clients against the wrong server, as a person would run them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from app_helpers import run_apps, serve, settle, stopped_url
from textual.message import Message
from textual.notifications import Notify
from textual.widgets import Input, RichLog

from apps.todo.server import build_server
from apps.todo.tui import TodoApp, TodoTable
from hotstate_rx import Server
from hotstate_rx.client import Client

ROOT = Path(__file__).resolve().parents[2]


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


class Toasts:
    """A Pilot message hook that keeps the text of every ``notify``."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def __call__(self, message: Message) -> None:
        if isinstance(message, Notify):
            self.texts.append(message.notification.message)


async def test_a_refused_todo_goes_back_into_the_input(server: Server) -> None:
    url = await serve(server)
    app, toasts = TodoApp(url), Toasts()
    async with app.run_test(size=(110, 30), message_hook=toasts) as pilot:
        await settle(pilot, lambda: app.status == "connected")
        entry = app.query_one("#new-todo", Input)
        entry.value = "x" * 300  # more than the server accepts
        await pilot.press("enter")
        await settle(pilot, lambda: entry.value == "x" * 300)
        assert server.stores["Todos"].get()["items"] == []
        assert toasts.texts == [
            "todos.add failed: todos.add: 'text' is too long (300 > 280 characters)"
        ]


async def test_offline_the_tui_names_the_problem_and_keeps_what_was_typed(
    server: Server,
) -> None:
    url = await serve(server)
    app, toasts = TodoApp(url), Toasts()
    app.client = Client(token="Ana", rpc_timeout=0.5, reconnect_delay=5.0)  # a short wait
    async with app.run_test(size=(110, 30), message_hook=toasts) as pilot:
        await settle(pilot, lambda: app.status == "connected")
        await server.close()
        await settle(pilot, lambda: app.status == "reconnecting")
        lost = f"the connection to {url} was lost: closed by the server with 1001"
        await settle(pilot, lambda: any(t.startswith(lost) for t in toasts.texts))
        assert next(t for t in toasts.texts if t.startswith(lost)).endswith("; retrying")
        await pilot.press(*"offline", "enter")
        # ...; the connection to URL was lost: ..., or, once a retry failed too,
        # ...; could not connect to URL: connection refused (is the server running?)
        timeout = "todos.add failed: RPC timeout: no answer to 'todos.add' within 0.5 s; "
        await settle(pilot, lambda: any(t.startswith(timeout) and url in t for t in toasts.texts))
        entry = app.query_one("#new-todo", Input)  # emptied when sent, given back on failure
        await settle(pilot, lambda: entry.value == "offline")


@pytest.mark.parametrize(
    ("command", "needs"), [("todo-tui", "the todo demo"), ("dashboard-tui", "the dashboard")]
)
async def test_a_terminal_client_on_another_server_says_so_and_fails(
    command: str, needs: str
) -> None:
    """``python -m apps todo-tui`` against the NiceGUI example's server (Todos only),
    headless in a subprocess: a message, return code 1, no traceback. Two
    ``--url``: the first is down, the client fails over to the second, and
    the message names the server it reached."""
    dead = await stopped_url()
    other = Server()
    other.create_store("Todos", {"items": []})
    await other.listen(port=0, host="127.0.0.1")
    url = f"ws://127.0.0.1:{other.port}"
    try:
        status, out, err = await run_apps(
            command, "--url", dead, "--url", url,
            TEXTUAL_DRIVER="textual.drivers.headless_driver:HeadlessDriver",
        )  # fmt: skip
    finally:
        await other.close()
    message = " ".join(err.split())  # the terminal wraps it
    assert status == 1, message
    # The warning of the first node down (logged once), then the app's message.
    failed_over = f"could not connect to {dead}: connection refused (is the server running?); "
    assert message.startswith(failed_over + f"retrying {url} in 0.0 s")
    assert f"{url} is a hotstate server, but not {needs}: unknown store" in message
    assert "Traceback" not in message and out == ""


async def test_the_tui_fails_over_to_the_next_server(server: Server) -> None:
    url = await serve(server)
    app = TodoApp(await stopped_url(), url)
    async with app.run_test(size=(110, 30)) as pilot:
        await settle(pilot, lambda: app.status == "connected")
        assert app.client.url == url
        await pilot.press(*"via B", "enter")
        await settle(pilot, lambda: cells(app.query_one(TodoTable)) == [["·", "via B"]])


async def test_a_refused_name_ends_the_tui_with_a_message(server: Server) -> None:
    """The server's ``authenticate`` refuses the name: one message, return code 1."""
    url = await serve(server)
    app = TodoApp(url, name="\x00")  # not a printable name
    async with app.run_test(size=(110, 30)) as pilot:
        await settle(pilot, lambda: app.return_code is not None)
    assert app.return_code == 1
