"""The examples at the top of the original README, in Python, end to end."""

from __future__ import annotations

import itertools
import time

from client_helpers import MakeClient, Recorder, StartServer

from hotstate_rx import Server


async def test_quick_examples_stores_functions_events(
    start_server: StartServer, make_client: MakeClient
) -> None:
    def setup(server: Server) -> None:
        todos = server.create_store("Todos", {"items": []})
        with todos.mutate() as draft:
            draft["items"].append({"id": 1, "text": "Buy milk", "done": False})

        @server.handle("todos.add")
        def add(args):
            id_ = int(time.time() * 1000)
            with todos.mutate() as draft:
                draft["items"].append({"id": id_, "text": args["text"], "done": False})
            return {"id": id_}

    server, url = await start_server(setup)

    client = make_client()
    client.connect(url)
    changes = Recorder()
    todos = client.subscribe("Todos", lambda state: changes(state))
    await todos.ready()
    assert todos.get_state() == {"items": [{"id": 1, "text": "Buy milk", "done": False}]}

    result = await client.call("todos.add", {"text": "Buy milk"})
    assert isinstance(result["id"], int)

    notifications = Recorder()
    client.on("notification", lambda data: notifications(data["title"]))
    alerts = Recorder()
    client.on("alert", alerts)
    server.emit("notification", {"title": "Deployed", "body": "v2.1 is live"})
    server.emit("alert", {"message": "Your build finished"}, client_id=client.client_id)
    assert await notifications.value("Deployed") == ["Deployed"]
    await alerts.value({"message": "Your build finished"})


def collaborative_server(server: Server) -> None:
    """server.js of the realistic example."""
    todos = server.create_store("Todos", {"items": []})
    server.create_store("Config", {"theme": "dark"})
    rooms = (
        server.create_store("Room:*", {"messages": [], "users": []})
        .on_create(lambda room_id: {"name": room_id})
        .on_idle(lambda room_id: rooms.reset(room_id))
    )
    next_id = itertools.count(1)

    @server.handle("todos.add")
    def add(args):
        id_ = next(next_id)
        with todos.mutate() as draft:
            draft["items"].append({"id": id_, "text": args["text"], "done": False})
        return {"id": id_}

    @server.handle("todos.toggle")
    def toggle(args):
        def flip(draft):
            todo = next((t for t in draft["items"] if t["id"] == args["id"]), None)
            if todo is not None:
                todo["done"] = not todo["done"]

        todos.update(flip)

    @server.handle("room.send")
    def send(args, ctx):
        rooms.update(
            args["room"],
            lambda draft: draft["messages"].append(
                {"from": ctx.client_id, "text": args["text"], "ts": time.time()}
            ),
        )

    server.on("connection", lambda id_: server.emit("user.joined", {"id": id_}))


async def test_collaborative_todo_with_rooms(
    start_server: StartServer, make_client: MakeClient
) -> None:
    server, url = await start_server(collaborative_server)

    # client.js
    client = make_client()
    client.connect(url)
    await client.ready()
    rendered_todos, rendered_chat = Recorder(), Recorder()
    client.subscribe("Todos", lambda state: rendered_todos(state["items"]))
    client.subscribe("Room:general", lambda state: rendered_chat(state["messages"]))
    await client.call("todos.add", {"text": "Ship it"})
    await client.call("room.send", {"room": "general", "text": "Hello!"})
    joined = Recorder()
    client.on("user.joined", lambda data: joined(f"{data['id']} joined"))

    await rendered_todos.value([{"id": 1, "text": "Ship it", "done": False}])
    await rendered_chat.until(lambda v: v and v[-1] and v[-1][-1]["text"] == "Hello!")
    assert rendered_chat.values[-1][-1]["from"] == client.client_id

    await client.call("todos.toggle", {"id": 1})
    await rendered_todos.value([{"id": 1, "text": "Ship it", "done": True}])

    other = make_client(url)
    await other.ready()
    await joined.value(f"{other.client_id} joined")

    # on_idle resets the room when its last subscriber leaves
    room = other.subscribe("Room:general")
    await room.ready()
    assert room.get_state()["name"] == "general"
    await client.close()
    room.unsubscribe()
    reset = Recorder()
    server.stores["Room:*"].observe("general").subscribe(reset)
    await reset.until(lambda v: v and v[-1]["messages"] == [])
