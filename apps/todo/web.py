"""The todo app in a browser: a NiceGUI page, one hotstate client per tab.

Each tab is its own client (so two tabs are two people in the chat), bound
with :func:`hotstate_nicegui.bind_client`; lists are redrawn from the stores
through Rx subscriptions that end with the tab. Calls are optimistic: a new,
toggled or removed todo shows at once and rolls back if the server refuses
(a refused new todo goes back into the input). The server announces changes
to every tab; the tab that made one shows it already and skips the toast.
The tab asks for a name first: it is the client's token, which the server's
``authenticate`` turns into ``ctx.user`` (the client waits for it to connect).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hotstate_nicegui import HotstateState, bind_client
from nicegui import ui

from hotstate_rx import HotstateError
from hotstate_rx.client import Client
from hotstate_rx.rx.operators import select
from hotstate_rx.server.storage import SQLiteStorage

from .. import python_command
from .._web import connect_when_shown, follow, run, status_label
from . import model
from .server import build_server

TITLE = "hotstate todos"


def register(ws_url: str) -> None:
    """Register the page ``/``, whose clients dial the hotstate server at ``ws_url``."""

    @ui.page("/", title=TITLE)
    async def index() -> None:
        page = TodoPage()
        await connect_when_shown(page.page, page.client, ws_url)


def serve(
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    data: Path | None = None,
    tui: str | None = None,
    cluster: str | None = None,
) -> None:
    """``python -m apps todo``: the todo server and this page on one port, until Ctrl-C.

    With ``data``, the stores live in ``data/todo.sqlite3`` (the directory is
    created) and a restart finds them as they were; without, in memory. With
    ``cluster`` (a Redis URL) they live in Redis instead, shared with every
    other node started with the same URL, and ``data`` is not used.
    ``tui`` is the command the banner gives for the terminal client (default:
    ``python -m apps todo-tui``, which needs the checkout as working directory).
    """
    storage = None
    if data is not None and cluster is None:
        data.mkdir(parents=True, exist_ok=True)
        storage = SQLiteStorage(data / "todo.sqlite3")
    server = build_server(storage=storage, cluster=cluster)
    tui = tui or f"{python_command()} -m apps todo-tui"
    title = TITLE if cluster is None else f"{TITLE}, a node of the cluster on {cluster}"
    run(server, register, host=host, port=port, title=title, tui=tui)


class TodoPage:
    """One tab: its client, its bindings, its widgets (the caller connects the client)."""

    def __init__(self) -> None:
        self.page = ui.context.client
        self.name: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.client = Client(token=self._token)
        self.state: HotstateState = bind_client(self.client, stores=["Todos", "Config", "Rooms"])
        self.room = model.DEFAULT_ROOM
        self.room_handle: Any = None
        self.room_follow: Callable[[], None] | None = None
        self.presence_handle: Any = None
        self.presence_follow: Callable[[], None] | None = None
        self._own_notices: list[str] = []  # announcements of this tab's calls in flight
        self._build()
        for channel, show in (("notification", self._notified), ("user.joined", self._joined)):
            self.page.on_delete(self.client.on(channel, show))
        todos = self.state.subscribe("Todos")
        follow(self.page, todos.pipe(select(lambda s: s["items"])), self.todo_list.refresh)
        follow(
            self.page,
            self.state.subscribe("Rooms").pipe(select(lambda s: s["names"])),
            self._rooms_changed,
        )
        self._join(self.room)

    # -- layout ------------------------------------------------------------------

    async def _token(self) -> str:
        """The client's token: the name typed in the dialog (asked once per tab)."""
        return await asyncio.shield(self.name)

    def _ask_name(self) -> None:
        with ui.dialog().props("persistent") as dialog, ui.card():
            ui.label("Who are you?").classes("text-h6")
            name = ui.input(placeholder="Your name").mark("name")

            def join() -> None:
                try:
                    self.name.set_result(model.user_name(name.value))
                except HotstateError as error:
                    self._notify(str(error), type="negative")
                else:
                    dialog.close()

            name.on("keydown.enter", join)
            ui.button("Join", on_click=join).mark("join")
        dialog.open()

    def _build(self) -> None:
        self._ask_name()
        dark = ui.dark_mode(True)
        dark.bind_value_from(
            self.state.select("Config", lambda s: s["theme"] == "dark", default=True), "value"
        )
        with ui.header().classes("items-center justify-between"):
            ui.label(TITLE).classes("text-h6")
            with ui.row().classes("items-center"):
                status_label(self.state)
                ui.button(icon="contrast", on_click=self._toggle_theme).props(
                    "flat round color=white"
                ).mark("theme").tooltip("Switch the theme for everyone")
        # Side by side on a wide screen, stacked on a phone (no sideways scrolling).
        with ui.element("div").classes("w-full grid grid-cols-1 md:grid-cols-2 gap-6 items-start"):
            with (
                ui.card()
                .classes("w-full min-w-0")
                .props("data-testid=todos-card")
                .mark("todos-card")
            ):
                ui.label("Todos").classes("text-h6")
                with ui.row().classes("w-full no-wrap"):
                    self.new_todo = (
                        ui.input(placeholder="What needs doing?")
                        .classes("grow")
                        .mark("new-todo")
                        .on("keydown.enter", self._add)
                    )
                    ui.button("Add", on_click=self._add).mark("add")
                self.todo_list()
            with (
                ui.card().classes("w-full min-w-0").props("data-testid=room-card").mark("room-card")
            ):
                with ui.row().classes("w-full items-center no-wrap"):
                    ui.label("Room").classes("text-h6")
                    self.room_select = (
                        ui.select(
                            [model.DEFAULT_ROOM],
                            label="pick one, or type a new name + Enter",
                            value=model.DEFAULT_ROOM,
                            with_input=True,
                            new_value_mode="add-unique",
                            on_change=lambda e: self._pick_room(e.value),
                        )
                        .classes("grow")
                        .mark("room")
                    )
                self.room_info = ui.label().classes("text-caption")
                self.presence = (
                    ui.label()
                    .classes("text-caption")
                    .props("data-testid=presence")
                    .mark("presence")
                )
                self.chat()
                with ui.row().classes("w-full no-wrap"):
                    self.message = (
                        ui.input(placeholder="Say something")
                        .classes("grow")
                        .mark("message")
                        .on("keydown.enter", self._send)
                    )
                    ui.button("Send", on_click=self._send).mark("send")

    @ui.refreshable_method
    def todo_list(self, items: Any = ()) -> None:
        if not items:
            ui.label("Nothing to do.").classes("text-grey")
        for item in items:
            with ui.row().classes("w-full items-center no-wrap").mark(f"todo-{item['id']}"):
                ui.checkbox(
                    item["text"],
                    value=item["done"],
                    on_change=lambda _, todo_id=item["id"]: self._toggle(todo_id),
                ).classes("grow" + (" line-through text-grey" if item["done"] else "")).mark(
                    f"toggle-{item['id']}"
                )
                ui.button(
                    icon="delete", on_click=lambda _, todo_id=item["id"]: self._remove(todo_id)
                ).props("flat round dense").mark(f"remove-{item['id']}")

    @ui.refreshable_method
    def chat(self, messages: Any = ()) -> None:
        with ui.column().classes("w-full gap-1").mark("messages"):
            for message in messages:
                mine = message["from"] == self.client.client_id
                ui.chat_message(
                    message["text"], name=message["name"][:12], sent=mine, stamp=_clock(message)
                )

    # -- store changes -------------------------------------------------------------

    def _rooms_changed(self, names: Any) -> None:
        options = sorted({*names, self.room})
        self.room_select.set_options(options, value=self.room)

    def _room_changed(self, state: Any) -> None:
        self.chat.refresh(state["messages"])
        self.room_info.text = f"#{state['name'] or self.room} · {len(state['users'])} here"

    def _join(self, room: str) -> None:
        if self.room_follow is not None:
            self.room_follow()
            self.room_handle.release()
        self.room = room
        self.room_handle = self.client.subscribe(f"Room:{room}")
        self.room_follow = follow(self.page, self.room_handle, self._room_changed)
        if self.presence_follow is not None:
            self.presence_follow()
            self.presence_handle.release()
        self.presence_handle = self.client.subscribe(f"Room@presence:{room}")
        self.presence_follow = follow(self.page, self.presence_handle, self._presence_changed)

    def _presence_changed(self, present: Any) -> None:
        self.presence.text = "here: " + ", ".join(model.present_names(present))

    def _notified(self, data: Any) -> None:
        text = str(data["text"])
        if text in self._own_notices:  # this tab's own change: it shows already
            self._own_notices.remove(text)
            return
        self._notify(text)

    def _joined(self, data: Any) -> None:
        if data["id"] != self.client.client_id:
            self._notify(f"{data['name']} joined #{data['room']}")

    def _notify(self, text: str, **kwargs: Any) -> None:
        if not self.page.is_deleted:
            with self.page:
                ui.notify(text, **kwargs)

    # -- user actions ------------------------------------------------------------

    async def _call(
        self, name: str, args: Any, *, announced: str | None = None, **kwargs: Any
    ) -> bool:
        """Call ``name``; show a failure. ``announced`` is the notification the
        server sends everyone for it, which this tab skips: it arrives before
        the call's result (events and changes keep their order)."""
        if announced is not None:
            self._own_notices.append(announced)
        try:
            await self.client.call(name, args, **kwargs)
        except HotstateError as error:
            self._notify(str(error), type="negative")
            return False
        finally:
            if announced in self._own_notices:  # it never came: refused, or lost
                self._own_notices.remove(announced)
        return True

    async def _add(self) -> None:
        text = (self.new_todo.value or "").strip()
        if not text:
            return
        self.new_todo.value = ""
        added = await self._call(
            "todos.add",
            {"text": text},
            announced=f"New todo: {text}",  # the server's words (server.py)
            store="Todos",
            optimistic=lambda state: model.with_todo(state, text),
        )
        if not added and not self.new_todo.value:
            self.new_todo.value = text  # nothing typed is lost

    async def _toggle(self, todo_id: int) -> None:
        todos = self.state.stores.get("Todos") or {"items": []}
        item = next((t for t in todos["items"] if t["id"] == todo_id), None)
        finishing = item is not None and not item["done"]
        await self._call(
            "todos.toggle",
            {"id": todo_id},
            announced=f"Done: {item['text']}" if finishing else None,
            store="Todos",
            optimistic=lambda state: model.with_toggled(state, todo_id),
        )

    async def _remove(self, todo_id: int) -> None:
        await self._call(
            "todos.remove",
            {"id": todo_id},
            store="Todos",
            optimistic=lambda state: model.without_todo(state, todo_id),
        )

    async def _toggle_theme(self) -> None:
        theme = model.next_theme(self.state.stores.get("Config"))
        await self._call(
            "config.set_theme",
            {"theme": theme},
            store="Config",
            optimistic=lambda state: model.with_theme(state, theme),
        )

    def _pick_room(self, value: Any) -> None:
        if not value or value == self.room:
            return
        try:
            room = model.room_name(str(value).strip().lower(), "room")
        except ValueError as error:
            self._notify(str(error), type="negative")
            self.room_select.set_value(self.room)
            return
        self._join(room)

    async def _send(self) -> None:
        text = (self.message.value or "").strip()
        if text:
            self.message.value = ""
            await self._call("room.send", {"room": self.room, "text": text})


def _clock(message: Any) -> str:
    return time.strftime("%H:%M", time.localtime(message["ts"]))
