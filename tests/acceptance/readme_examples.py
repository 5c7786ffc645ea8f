"""The two examples at the top of the original README, translated to Python.

Each function below is one snippet of the original with only the changes that
Python's syntax requires (snake_case names, ``await``, ``def`` for multi-line
callbacks, ``draft["items"]`` for ``draft.items``). The only additions are the
parameters a test needs (the port, the URL, the render callbacks) and the
returned objects. ``test_readme_original.py`` runs them end to end;
``python tests/acceptance/readme_examples.py`` prints them as Markdown for the
README, so the README shows exactly the code the test runs.
"""

from __future__ import annotations

import inspect
import textwrap
from collections.abc import Callable
from typing import Any

# -- Quick examples --------------------------------------------------------------------


async def stores_server(port=4400, host="localhost"):
    # server
    from hotstate_rx import Hotstate

    server = Hotstate()

    todos = server.create_store("Todos", {"items": []})

    # mutate from anywhere on the server
    def add_milk(draft):
        draft["items"].append({"id": 1, "text": "Buy milk", "done": False})

    todos.update(add_milk)

    await server.listen(port=port, host=host)
    return server


async def stores_client(url="ws://localhost:4400"):
    # client
    from hotstate_rx.client import Hotstate

    client = Hotstate()
    client.connect(url)

    todos = client.subscribe("Todos", lambda state: print("Todos changed:", state))

    await todos.ready()
    print(todos.get_state())  # {'items': [{'id': 1, 'text': 'Buy milk', 'done': False}]}
    return client


def functions_server(server, todos):
    # server
    import time

    @server.handle("todos.add")
    def todos_add(args):
        id = int(time.time() * 1000)

        def add(draft):
            draft["items"].append({"id": id, "text": args["text"], "done": False})

        todos.update(add)
        return {"id": id}


async def functions_client(client):
    # client
    id = (await client.call("todos.add", {"text": "Buy milk"}))["id"]
    return id


def events_server(server, client_id):
    # server — broadcast to all
    server.emit("notification", {"title": "Deployed", "body": "v2.1 is live"})

    # targeted — one client only
    server.emit("alert", {"message": "Your build finished"}, client_id=client_id)


def events_client(client):
    # client
    client.on("notification", lambda data: print(data["title"]))  # "Deployed"


# -- Realistic example: a collaborative todo app with live rooms ---------------------------


async def realistic_server(port=4400, host="localhost"):
    # ── server.py ───────────────────────────────────────────────
    import time

    from hotstate_rx import Hotstate

    server = Hotstate()

    # Static stores
    todos = server.create_store("Todos", {"items": []})
    config = server.create_store("Config", {"theme": "dark"})

    # Dynamic store — instances created on demand
    rooms = (
        server.create_store("Room:*", {"messages": [], "users": []})
        .on_create(lambda room_id: {"name": room_id})
        .on_idle(lambda room_id: rooms.reset(room_id))
    )

    # Functions
    next_id = 0

    @server.handle("todos.add")
    def todos_add(args):
        nonlocal next_id
        next_id += 1
        id = next_id

        def add(draft):
            draft["items"].append({"id": id, "text": args["text"], "done": False})

        todos.update(add)
        return {"id": id}

    @server.handle("todos.toggle")
    def todos_toggle(args):
        def toggle(draft):
            todo = next((t for t in draft["items"] if t["id"] == args["id"]), None)
            if todo:
                todo["done"] = not todo["done"]

        todos.update(toggle)

    @server.handle("room.send")
    def room_send(args, ctx):
        def send(draft):
            draft["messages"].append(
                {"from": ctx.client_id, "text": args["text"], "ts": int(time.time() * 1000)}
            )

        rooms.update(args["room"], send)

    # Events
    server.on("connection", lambda id: server.emit("user.joined", {"id": id}))

    await server.listen(port=port, host=host)
    return server, config


async def realistic_client(url="ws://localhost:4400", render_todos=print, render_chat=print):
    # ── client.py ───────────────────────────────────────────────
    from hotstate_rx.client import Hotstate

    client = Hotstate()
    client.connect(url)
    await client.ready()

    # Subscribe to stores — renders update automatically via on_change
    client.subscribe("Todos", lambda state: render_todos(state["items"]))

    client.subscribe("Room:general", lambda state: render_chat(state["messages"]))

    # Call functions — only needs client.ready(), not store.ready()
    await client.call("todos.add", {"text": "Ship it"})
    await client.call("room.send", {"room": "general", "text": "Hello!"})

    # Listen for events
    client.on("user.joined", lambda data: print(f"{data['id']} joined"))
    return client


SECTIONS: list[tuple[str, list[Callable[..., Any]]]] = [
    ("Stores", [stores_server, stores_client]),
    ("Functions", [functions_server, functions_client]),
    ("Events", [events_server, events_client]),
    (
        "Realistic example: a collaborative todo app with live rooms",
        [realistic_server, realistic_client],
    ),
]


def markdown() -> str:
    """The examples as Markdown: one fenced block per function, its source verbatim."""
    parts: list[str] = []
    for title, functions in SECTIONS:
        parts.append(f"### {title}\n")
        for fn in functions:
            source = textwrap.dedent(inspect.getsource(fn)).rstrip()
            parts.append(f"```python\n{source}\n```\n")
    return "\n".join(parts)


if __name__ == "__main__":
    print(markdown())
