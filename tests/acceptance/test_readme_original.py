"""The original README's two top examples, translated in ``readme_examples.py``,
run end to end: the server in the test's loop on a free port, clients against it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import readme_examples as ex
from acceptance_helpers import TIMEOUT, Recorder

from hotstate_rx import Server
from hotstate_rx.client import Client

MILK = {"id": 1, "text": "Buy milk", "done": False}


@pytest.fixture
async def cleanup() -> AsyncIterator[list[Any]]:
    """Servers and clients the examples return, closed at teardown."""
    things: list[Any] = []
    yield things
    for thing in reversed(things):
        await asyncio.wait_for(thing.close(), TIMEOUT)


async def test_quick_examples(capsys: pytest.CaptureFixture[str], cleanup: list[Any]) -> None:
    server: Server = await ex.stores_server(port=0, host="127.0.0.1")
    cleanup.append(server)
    ids = Recorder()
    server.on("connection", ids)
    url = f"ws://127.0.0.1:{server.port}"

    # Stores
    client = await ex.stores_client(url)
    cleanup.append(client)
    assert capsys.readouterr().out.splitlines() == [
        f"Todos changed: {{'items': [{MILK}]}}",
        f"{{'items': [{MILK}]}}",
    ]

    # Functions
    todos = server.stores["Todos"]
    ex.functions_server(server, todos)
    new_id = await ex.functions_client(client)
    assert isinstance(new_id, int)
    assert todos.get()["items"][-1] == {"id": new_id, "text": "Buy milk", "done": False}
    # the store's patch reached the client before the call's result
    assert capsys.readouterr().out.splitlines() == [
        f"Todos changed: {{'items': [{MILK}, {{'id': {new_id}, 'text': 'Buy milk', "
        "'done': False}]}",
    ]

    # Events: a second client does not get the targeted alert
    other = Client(url)
    cleanup.append(other)
    await asyncio.wait_for(other.ready(), TIMEOUT)
    client_id = await ids.until()
    ex.events_client(client)
    alerts, notes, other_alerts, other_notes = Recorder(), Recorder(), Recorder(), Recorder()
    client.on("alert", alerts)
    client.on("notification", notes)
    other.on("alert", other_alerts)
    other.on("notification", other_notes)
    ex.events_server(server, client_id)
    assert await alerts.until() == {"message": "Your build finished"}
    assert await notes.until() == {"title": "Deployed", "body": "v2.1 is live"}
    await other_notes.until()
    assert other_alerts.items == []
    assert capsys.readouterr().out == "Deployed\n"


async def test_realistic_example(capsys: pytest.CaptureFixture[str], cleanup: list[Any]) -> None:
    server, config = await ex.realistic_server(port=0, host="127.0.0.1")
    cleanup.append(server)
    ids = Recorder()
    server.on("connection", ids)
    url = f"ws://127.0.0.1:{server.port}"
    rooms = server.stores["Room:*"]
    room_states = Recorder()

    todos_seen, chat_seen = Recorder(), Recorder()
    client = await ex.realistic_client(url, todos_seen, chat_seen)
    cleanup.append(client)
    client_id = await ids.until()
    assert await todos_seen.until(lambda items: len(items) == 1) == [
        {"id": 1, "text": "Ship it", "done": False}
    ]
    (message,) = await chat_seen.until(lambda messages: len(messages) == 1)
    assert message["from"] == client_id and message["text"] == "Hello!"
    assert isinstance(message["ts"], int)
    assert rooms.get("general")["name"] == "general"
    assert rooms.get("general")["users"] == []
    assert config.get() == {"theme": "dark"}

    await client.call("todos.toggle", {"id": 1})
    await todos_seen.until(lambda items: items == [{"id": 1, "text": "Ship it", "done": True}])
    await client.call("todos.toggle", {"id": 99})  # unknown id: nothing changes

    # Another user joins: the first client's listener prints it
    joined = Recorder()
    client.on("user.joined", joined)
    other = Client(url)
    cleanup.append(other)
    await asyncio.wait_for(other.ready(), TIMEOUT)
    other_id = (await joined.until())["id"]
    assert other_id != client_id
    assert f"{other_id} joined\n" in capsys.readouterr().out

    # The room's last subscriber leaves: on_idle resets it to the raw defaults
    rooms.observe("general").subscribe(room_states)
    await client.close()
    await room_states.until(lambda s: s == {"messages": [], "users": []})
    assert rooms.is_initialized("general") is False
    assert rooms.has("general") is True


def test_markdown_shows_the_code_the_tests_run() -> None:
    text = ex.markdown()
    for _, functions in ex.SECTIONS:
        for fn in functions:
            assert f"def {fn.__name__}(" in text
    assert text.count("```python") == 8
