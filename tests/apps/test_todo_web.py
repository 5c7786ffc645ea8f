"""The NiceGUI todo page through NiceGUI's simulated user, against a real todo server."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from app_helpers import TIMEOUT, serve
from nicegui import Client as Page
from nicegui import ui
from nicegui.testing import User

from apps.todo.server import build_server
from apps.todo.web import register
from hotstate_rx import Server
from hotstate_rx.client import Client

Clients = Callable[..., Awaitable[Client]]
RETRIES = 50  # should_see polls every 0.1 s: up to 5 s for pushed updates


@pytest.fixture
async def todo_server() -> AsyncIterator[Server]:
    server = build_server(clock=lambda: 0.0)
    yield server
    await server.close()


async def join(user: User, name: str = "Ana") -> None:
    """Open the page and sign in with ``name`` through its dialog."""
    await user.open("/")
    await user.should_see("Who are you?", retries=RETRIES)
    user.find(marker="name").type(name).trigger("keydown.enter")


async def settle(condition: Callable[[], bool]) -> None:
    """Bounded wait for a server-side condition."""

    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), TIMEOUT)


async def test_page_adds_toggles_removes_and_stays_in_sync(
    todo_server: Server, clients: Clients, user: User
) -> None:
    url = await serve(todo_server)
    register(url)
    todos = todo_server.stores["Todos"]
    await join(user)
    await user.should_see("● connected", retries=RETRIES)
    await user.should_see("Nothing to do.", retries=RETRIES)

    user.find(marker="new-todo").type("Buy milk").trigger("keydown.enter")
    await user.should_see(marker="todo-1", retries=RETRIES)
    await settle(lambda: [t["text"] for t in todos.get()["items"]] == ["Buy milk"])

    other = await clients(url)  # a second tab, as far as the server can tell
    await other.call("todos.add", {"text": "Ship it"})
    await user.should_see("Ship it", retries=RETRIES)

    user.find(marker="toggle-1").click()
    await settle(lambda: todos.get()["items"][0]["done"])
    user.find(marker="remove-2").click()
    await settle(lambda: len(todos.get()["items"]) == 1)
    await user.should_not_see(marker="todo-2", retries=RETRIES)
    await user.should_see("New todo: Ship it")  # the server's notification event
    # Events keep their order: a toast for this tab's own todo would have come first.
    await user.should_not_see("New todo: Buy milk")


async def test_page_chats_switches_rooms_and_theme(todo_server: Server, user: User) -> None:
    url = await serve(todo_server)
    register(url)
    rooms = todo_server.stores["Room:*"]
    await join(user, "Grace")
    await settle(lambda: rooms.subscriber_count("general") == 1)

    user.find(marker="message").type("Hello!").trigger("keydown.enter")
    await settle(lambda: [m["text"] for m in rooms.get("general")["messages"]] == ["Hello!"])
    assert rooms.get("general")["messages"][0]["name"] == "Grace"
    await user.should_see(kind=ui.chat_message, retries=RETRIES)

    with user:
        room = next(iter(user.find(marker="room").elements))
        assert isinstance(room, ui.select)
        room.set_value("design")
    await settle(lambda: rooms.subscriber_count("design") == 1)
    await user.should_see("#design · 1 here", retries=RETRIES)
    await user.should_not_see(kind=ui.chat_message, retries=RETRIES)

    user.find(marker="theme").click()
    await settle(lambda: todo_server.stores["Config"].get()["theme"] == "light")
    dark = next(iter(user.find(kind=ui.dark_mode).elements))
    await settle(lambda: dark.value is False)


async def test_page_shows_errors_from_the_server_and_keeps_a_refused_todo(
    todo_server: Server, user: User
) -> None:
    url = await serve(todo_server)
    register(url)
    await join(user)
    await user.should_see("● connected", retries=RETRIES)
    user.find(marker="message").type("x" * 300).trigger("keydown.enter")
    await user.should_see("room.send: 'text' is too long (300 > 280 characters)", retries=RETRIES)
    user.find(marker="new-todo").type("x" * 300).trigger("keydown.enter")
    await user.should_see("todos.add: 'text' is too long (300 > 280 characters)", retries=RETRIES)
    entry = next(iter(user.find(marker="new-todo").elements))
    assert isinstance(entry, ui.input)
    assert entry.value == "x" * 300


async def test_the_room_picker_says_a_new_room_can_be_typed(
    todo_server: Server, user: User
) -> None:
    register(await serve(todo_server))
    await join(user)
    await user.should_see("pick one, or type a new name + Enter")


async def test_a_plain_get_of_the_page_never_dials_and_ends_quietly(
    todo_server: Server, user: User, caplog: pytest.LogCaptureFixture
) -> None:
    """A curl, a health check or a link preview: NiceGUI builds the page, no
    browser ever connects, and NiceGUI discards the page later (after 60 s;
    here at once). NiceGUI then ends the page's wait for a connection as if it
    had come: the page must not dial the hotstate server then."""
    register(await serve(todo_server))
    dialled: list[str] = []
    todo_server.on("connection", dialled.append)
    assert (await user.http_client.get("/")).status_code == 200
    building = [t for t in asyncio.all_tasks() if t.get_name() == 'wait for result of page "/"']
    assert len(building) == 1  # the page's coroutine, waiting for a browser
    Page.prune_instances(client_age_threshold=0)
    await asyncio.wait_for(asyncio.gather(*building), TIMEOUT)
    assert dialled == []
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_page_asks_a_name_before_connecting(todo_server: Server, user: User) -> None:
    url = await serve(todo_server)
    register(url)
    connected: list[str] = []
    todo_server.on("connection", connected.append)
    await user.open("/")
    await user.should_see("Who are you?", retries=RETRIES)
    user.find(marker="name").type("   ").trigger("keydown.enter")
    await user.should_see("a name of 1-24 printable characters is needed", retries=RETRIES)
    assert connected == []  # no name, no connection
    user.find(marker="name").clear().type("Linus")
    user.find(marker="join").click()
    await user.should_see("● connected", retries=RETRIES)
    [client_id] = connected
    ctx = todo_server.context(client_id)
    assert ctx is not None and ctx.user == {"name": "Linus"}
