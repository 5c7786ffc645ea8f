"""The todo app in a terminal: Textual, live through the hotstate_textual binding.

Left: the shared todo list (type and Enter to add; Space toggles, Delete
removes). Right: a chat room (pick or create one by name, then chat). Theme
comes from the ``Config`` store; Ctrl-T flips it for everyone.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable, Sequence
from typing import Any

from hotstate_textual import (
    ClientBinding,
    HotstateReactive,
    StatusIndicator,
    bind_client,
    bind_observable,
    item_key,
)
from rich.markup import escape
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Footer, Header, Input, Label, RichLog
from textual.worker import Worker

from hotstate_rx import HotstateError
from hotstate_rx.client import Client

from .._tui import report_connection
from . import model

THEMES = {"dark": "textual-dark", "light": "textual-light"}


class TodoTable(DataTable[Any]):
    """The todo list; its keys act on the highlighted todo."""

    BINDINGS = [
        Binding("space", "app.toggle_todo", "Toggle"),
        Binding("delete,d", "app.remove_todo", "Remove"),
    ]


def default_name() -> str:
    """The name the terminal client signs in with when none is given: the login name."""
    try:
        login = getpass.getuser()
    except (KeyError, OSError):  # no user database entry (a bare container)
        login = "terminal"
    return login[: model.MAX_NAME]


def _format_message(message: Any) -> str:
    # Escaped: a chat message is someone else's text, not markup for our terminal.
    return f"[b]{escape(message['name'][:12])}[/b]: {escape(message['text'])}"


class TodoApp(HotstateReactive, App[None]):
    """Collaborative todos and chat rooms, in sync with every other client of
    the server at ``urls`` (several: it fails over between them)."""

    TITLE = "hotstate todos"
    CSS = """
    #panes { height: 1fr; }
    #todo-pane { width: 3fr; }
    #chat-pane { width: 2fr; border-left: solid $accent; }
    #todos { height: 1fr; }
    #messages { height: 1fr; }
    #bar { height: 1; padding: 0 1; }
    #room-title { width: 1fr; }
    """
    BINDINGS = [
        Binding("ctrl+n", "focus('new-todo')", "New todo"),
        Binding("ctrl+l", "focus('todos')", "List"),
        Binding("ctrl+r", "focus('room')", "Room"),
        Binding("ctrl+s", "focus('message')", "Chat"),
        Binding("ctrl+t", "toggle_theme", "Theme"),
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    def __init__(self, *urls: str, name: str | None = None, room: str = model.DEFAULT_ROOM) -> None:
        super().__init__()
        self.urls = urls
        self.client = Client(token=name or default_name())
        self.hotstate: ClientBinding
        self.room = room
        self._room_handle: Any = None
        self._room_worker: Worker[None] | None = None
        self._presence_handle: Any = None
        self._presence_worker: Worker[None] | None = None
        self._shown: Sequence[Any] = ()
        self._listeners: list[Callable[[], None]] = []

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="bar"):
            yield Label("", id="room-title")
            yield Label("", id="presence")
            yield StatusIndicator(id="status").data_bind(TodoApp.status)
        with Horizontal(id="panes"):
            with Vertical(id="todo-pane"):
                yield Input(placeholder="What needs doing? (Enter adds)", id="new-todo")
                yield TodoTable(id="todos", cursor_type="row", zebra_stripes=True)
            with Vertical(id="chat-pane"):
                yield Input(placeholder="room (Enter joins or creates)", id="room")
                yield RichLog(id="messages", wrap=True, markup=True)
                yield Input(placeholder="message (Enter sends)", id="message")
        yield Footer()

    def on_mount(self) -> None:
        self.client.connect(urls=self.urls)
        self.hotstate = bind_client(self, self.client, stores=["Config"])
        self.hotstate.bind_table(
            self.query_one(TodoTable),
            "Todos",
            lambda state: state["items"],
            key=item_key("id"),
            columns={
                "Done": lambda t: "✔" if t["done"] else "·",
                "Task": lambda t: Text(t["text"]),
            },
        )
        self._listeners = [
            self.client.on(
                "notification", lambda data: self.notify(str(data["text"]), markup=False)
            ),
            self.client.on("user.joined", self._joined),
            *report_connection(
                self, self.client, what="the todo demo", start="python3 tasks.py demo"
            ),
        ]
        self._join(self.room)
        self.query_one("#new-todo", Input).focus()

    async def on_unmount(self) -> None:
        for stop in self._listeners:
            stop()
        await self.client.close()

    # -- the stores --------------------------------------------------------------

    def watch_stores(self, stores: Any) -> None:
        config = stores.get("Config")
        if config is not None and THEMES.get(config["theme"]) != self.theme:
            self.theme = THEMES.get(config["theme"], "textual-dark")

    def _joined(self, data: Any) -> None:
        if data["id"] != self.client.client_id:
            self.notify(f"{data['name']} joined #{data['room']}", markup=False)

    def _join(self, room: str) -> None:
        """Leave the current room (if any) and show ``room`` from now on."""
        if self._room_worker is not None:
            self._room_worker.cancel()
            self._room_handle.release()
        self.room = room
        self._shown = ()
        log = self.query_one("#messages", RichLog)
        log.clear()
        self._room_handle = self.client.subscribe(f"Room:{room}")
        self._room_worker = bind_observable(log, self._room_handle, self._show_room)
        if self._presence_worker is not None:
            self._presence_worker.cancel()
            self._presence_handle.release()
        self._presence_handle = self.client.subscribe(f"Room@presence:{room}")
        presence = self.query_one("#presence", Label)
        self._presence_worker = bind_observable(
            presence, self._presence_handle, self._show_presence
        )
        self.query_one("#room-title", Label).update(f"#{room}")

    def _show_room(self, state: Any) -> None:
        messages = state["messages"]
        log = self.query_one("#messages", RichLog)
        shown = self._shown
        if len(messages) >= len(shown) and (not shown or messages[len(shown) - 1] is shown[-1]):
            fresh = messages[len(shown) :]
        else:  # trimmed or reset: draw again
            log.clear()
            fresh = messages
        for message in fresh:
            log.write(_format_message(message))
        self._shown = messages
        users = len(state["users"])
        self.query_one("#room-title", Label).update(f"#{self.room} · {users} here")

    def _show_presence(self, present: Any) -> None:
        self.query_one("#presence", Label).update(
            "here: " + ", ".join(model.present_names(present))
        )

    # -- input -------------------------------------------------------------------

    def on_input_submitted(self, event: Input.Submitted) -> None:
        value = event.value.strip()
        if not value:
            return
        if event.input.id == "new-todo":
            self.run_worker(self._add(value), name="todos.add", exit_on_error=False)
        elif event.input.id == "room":
            try:
                self._join(model.room_name(value, "room"))
            except ValueError as error:
                self.notify(str(error), severity="error", markup=False)
                return
        elif event.input.id == "message":
            self.hotstate.call("room.send", {"room": self.room, "text": value})
        event.input.clear()

    async def _add(self, text: str) -> None:
        """Add ``text`` (shown at once); if the server refuses or cannot be
        reached, the text goes back into the empty input: nothing typed is lost."""
        try:
            await self.client.call(
                "todos.add",
                {"text": text},
                store="Todos",
                optimistic=lambda state: model.with_todo(state, text),
            )
        except HotstateError as error:
            self.notify(f"todos.add failed: {error}", severity="error", markup=False)
            entry = self.query_one("#new-todo", Input)
            if not entry.value:
                entry.value = text

    def _highlighted(self) -> int | None:
        table = self.query_one(TodoTable)
        if table.row_count == 0:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        todo_id = -1 if key is None else int(key)
        return todo_id if todo_id >= 0 else None  # -1: not confirmed by the server yet

    def action_toggle_todo(self) -> None:
        todo_id = self._highlighted()
        if todo_id is not None:
            self.hotstate.call(
                "todos.toggle",
                {"id": todo_id},
                store="Todos",
                optimistic=lambda state: model.with_toggled(state, todo_id),
            )

    def action_remove_todo(self) -> None:
        todo_id = self._highlighted()
        if todo_id is not None:
            self.hotstate.call(
                "todos.remove",
                {"id": todo_id},
                store="Todos",
                optimistic=lambda state: model.without_todo(state, todo_id),
            )

    def action_toggle_theme(self) -> None:
        theme = model.next_theme(self.stores.get("Config"))
        self.hotstate.call(
            "config.set_theme",
            {"theme": theme},
            store="Config",
            optimistic=lambda state: model.with_theme(state, theme),
        )
