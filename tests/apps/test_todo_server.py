"""The todo server through the public API: real sockets, real clients."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from app_helpers import TIMEOUT, Events, serve, until

from apps.todo.server import build_server
from hotstate_rx import AuthError, RpcError, Server
from hotstate_rx.client import Client
from hotstate_rx.server.storage import MemoryStorage, Saved, SQLiteStorage

Clients = Callable[..., Awaitable[Client]]
NOW = 1_700_000_000.0


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    server = build_server(clock=lambda: NOW)
    yield server
    await server.close()


@pytest.fixture
async def url(server: Server) -> str:
    return await serve(server)


async def test_todos_sync_between_clients(url: str, clients: Clients) -> None:
    alice, bob = await clients(url), await clients(url)
    seen = bob.subscribe("Todos")

    assert await alice.call("todos.add", {"text": "  Buy milk "}) == {"id": 1}
    assert await alice.call("todos.add", {"text": "Ship it"}) == {"id": 2}
    state = await until(seen, lambda s: len(s["items"]) == 2)
    assert state["items"][0] == {"id": 1, "text": "Buy milk", "done": False}

    assert await alice.call("todos.toggle", {"id": 1}) == {"id": 1, "done": True}
    await until(seen, lambda s: s["items"][0]["done"])
    assert await alice.call("todos.remove", {"id": 1}) == {"id": 1}
    state = await until(seen, lambda s: len(s["items"]) == 1)
    assert state["items"] == [{"id": 2, "text": "Ship it", "done": False}]


@pytest.mark.parametrize(
    ("function", "args", "message"),
    [
        ("todos.add", {}, "todos.add: 'text' is required"),
        ("todos.add", {"text": ""}, "todos.add: 'text' must not be empty"),
        ("todos.add", "milk", "todos.add: arguments must be an object, got str"),
        ("todos.toggle", {"id": 99}, "no todo with id 99"),
        ("todos.remove", {"id": "1"}, "todos.remove: 'id' must be an integer, got str"),
        ("room.send", {"room": "general"}, "room.send: 'text' is required"),
        ("room.send", {"room": "No Way", "text": "hi"}, "room.send: invalid room name 'No Way'"),
        ("config.set_theme", {"theme": "blue"}, "'theme' must be one of dark, light"),
    ],
)
async def test_bad_arguments_get_clear_errors(
    server: Server, url: str, clients: Clients, function: str, args: object, message: str
) -> None:
    client = await clients(url)
    with pytest.raises(RpcError, match=message):
        await client.call(function, args)
    assert server.stores["Todos"].get() == {"items": []}
    assert server.stores["Config"].get() == {"theme": "dark"}


async def test_theme_is_a_store_changed_by_a_function(url: str, clients: Clients) -> None:
    client = await clients(url)
    config = client.subscribe("Config")
    await until(config, lambda s: s["theme"] == "dark")
    assert await client.call("config.set_theme", {"theme": "light"}) == {"theme": "light"}
    await until(config, lambda s: s["theme"] == "light")


async def test_notifications_announce_new_and_finished_todos(url: str, clients: Clients) -> None:
    alice, bob = await clients(url), await clients(url)
    notes = Events(bob, "notification")
    await alice.call("todos.add", {"text": "Buy milk"})
    assert await notes.next() == {"text": "New todo: Buy milk"}
    await alice.call("todos.toggle", {"id": 1})
    assert await notes.next() == {"text": "Done: Buy milk"}


async def test_chat_room_lifecycle(server: Server, url: str, clients: Clients) -> None:
    alice, bob = await clients(url, "alice"), await clients(url, "bob")
    joins = Events(alice, "user.joined")
    leaves = Events(alice, "user.left")
    alice_room = alice.subscribe("Room:general")
    await until(alice_room, lambda s: s["users"] == [alice.client_id])
    assert await joins.next() == {"id": alice.client_id, "name": "alice", "room": "general"}
    bob_room = bob.subscribe("Room:general")
    assert await joins.next() == {"id": bob.client_id, "name": "bob", "room": "general"}

    # The name comes from the sign-in, whatever the arguments say.
    sent = await alice.call("room.send", {"room": "general", "text": "Hello!", "name": "bob"})
    assert sent == {"ts": NOW}
    state = await until(bob_room, lambda s: len(s["messages"]) == 1)
    assert state["name"] == "general"
    assert state["users"] == [alice.client_id, bob.client_id]
    assert state["messages"] == [
        {"from": alice.client_id, "name": "alice", "text": "Hello!", "ts": NOW}
    ]

    bob_room.release()
    assert await leaves.next() == {"id": bob.client_id, "name": "bob", "room": "general"}
    await until(alice_room, lambda s: s["users"] == [alice.client_id])

    # The last one out: on_idle resets the room, so its chat is forgotten.
    alice_room.release()
    rooms = server.stores["Room:*"]
    again = alice.subscribe("Room:general")
    state = await until(again, lambda s: s["users"] == [alice.client_id])
    assert state["messages"] == []
    assert rooms.subscriber_count("general") == 1


async def test_disconnect_leaves_every_room(url: str, clients: Clients) -> None:
    alice, bob = await clients(url), await clients(url)
    for room in ("general", "design"):
        alice.subscribe(f"Room:{room}")
    watched = bob.subscribe("Room:design")
    await until(watched, lambda s: len(s["users"]) == 2)
    await alice.close()
    state = await until(watched, lambda s: len(s["users"]) == 1)
    assert state["users"] == [bob.client_id]


async def test_new_rooms_are_listed(url: str, clients: Clients) -> None:
    client = await clients(url)
    rooms = client.subscribe("Rooms")
    await until(rooms, lambda s: s["names"] == ["general"])
    await client.call("room.send", {"room": "design", "text": "first!"})
    await until(rooms, lambda s: s["names"] == ["design", "general"])
    # A room that the UI could not name stays usable but unlisted.
    weird = client.subscribe("Room:Weird Name")
    await until(weird, lambda s: s["name"] == "Weird Name")
    assert rooms.get_state()["names"] == ["design", "general"]


@pytest.mark.parametrize("token", [None, "   ", "x" * 25, "tab\there"])
async def test_joining_needs_a_name(url: str, token: str | None) -> None:
    client = Client(url, reconnect=False, token=token)
    try:
        with pytest.raises(AuthError, match="a name of 1-24 printable characters"):
            await asyncio.wait_for(client.ready(), TIMEOUT)
    finally:
        await client.close()


async def test_a_restart_keeps_todos_and_rooms_and_ids_go_on(
    tmp_path: Path, clients: Clients
) -> None:
    db = tmp_path / "todo.sqlite3"
    first = build_server(clock=lambda: NOW, storage=SQLiteStorage(db))
    try:
        client = await clients(await serve(first))
        assert await client.call("todos.add", {"text": "milk"}) == {"id": 1}
        await client.call("room.send", {"room": "design", "text": "hi"})
    finally:
        await first.close()
    second = build_server(clock=lambda: NOW, storage=SQLiteStorage(db))
    try:
        client = await clients(await serve(second))
        todos = await until(client.subscribe("Todos"), lambda s: bool(s["items"]))
        assert todos["items"] == [{"id": 1, "text": "milk", "done": False}]
        assert await client.call("todos.add", {"text": "eggs"}) == {"id": 2}
        assert "design" in (await until(client.subscribe("Rooms"), bool))["names"]
    finally:
        await second.close()


async def test_rooms_saved_with_people_in_them_are_reset_at_start() -> None:
    """What a killed server leaves: a room whose users are long gone."""
    storage = MemoryStorage()
    storage.open()
    room = {"name": "design", "messages": [{"text": "hi"}], "users": ["ghost"]}
    storage.write([Saved("Room:design", 5, room)], [])
    storage.close()
    server = build_server(storage=storage)
    try:
        rooms = server.stores["Room:*"]
        assert not rooms.is_initialized("design")
        assert rooms.get("design") == {"name": "", "messages": [], "users": []}
    finally:
        await server.close()


async def test_rooms_saved_without_people_keep_their_chat() -> None:
    storage = MemoryStorage()
    storage.open()
    room = {"name": "design", "messages": [{"text": "hi"}], "users": []}
    storage.write([Saved("Room:design", 5, room)], [])
    storage.close()
    server = build_server(storage=storage)
    try:
        assert server.stores["Room:*"].get("design") == room
    finally:
        await server.close()
