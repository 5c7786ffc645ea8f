"""The collaborative todo server: the original README's realistic example, made real.

Stores
    ``Todos``   ``{"items": [{"id", "text", "done"}]}``
    ``Config``  ``{"theme": "dark" | "light"}``
    ``Rooms``   ``{"names": [...]}`` — the known rooms, for the room picker
    ``Room@presence:*``  ``{client_id: {"name"}}`` — who is in each room (presence)
    ``Room:*``  ``{"name", "messages": [{"from", "name", "text", "ts"}], "users": [...]}``;
                on_create names the room, on_idle resets it (an empty room forgets its chat)
Functions
    ``todos.add {text} -> {id}``, ``todos.toggle {id} -> {id, done}``,
    ``todos.remove {id} -> {id}``, ``config.set_theme {theme} -> {theme}``,
    ``room.send {room, text} -> {ts}`` (signed with the sender's name)
Events
    ``user.joined {id, name, room}`` / ``user.left {id, name, room}`` when a client
    subscribes to or leaves ``Room:<room>``; ``notification {text}`` when a todo is
    added or done.
Who
    Every client signs in with a name as its token (``authenticate``; no
    password: it is a demo): ``ctx.user`` is ``{"name": ...}``.
Storage
    ``build_server(storage=...)`` keeps every store across restarts (the demo uses
    an SQLite file: see ``apps/__main__.py``); todo ids go on from the highest saved.
Cluster
    ``build_server(cluster="redis://...")`` makes this process one node of a
    cluster (``python3 tasks.py cluster-demo`` runs two): every change is made
    with ``update()``, whose recipe runs again when another node wrote first
    (``mutate()`` would raise ``ClusterConflict``), and a todo's id is chosen
    inside its recipe, so two nodes never hand out the same one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from hotstate_rx import CallContext, ConnectInfo, Hotstate, Server, Storage

from . import model

ROOM_PREFIX = "Room:"


def build_server(
    *,
    clock: Callable[[], float] = time.time,
    storage: str | Storage | None = None,
    cluster: str | None = None,
) -> Server:
    """A ready-to-serve todo server (not listening yet: ``listen``, ``run`` or ``attach`` it).

    ``clock`` stamps chat messages (seconds); tests pass a fixed one. ``storage``
    and ``cluster`` are ``Hotstate``'s: neither keeps everything in memory; with
    ``cluster`` (a Redis URL) the stores live in Redis, shared with the other nodes.
    """
    server = Hotstate(authenticate=authenticate, storage=storage, cluster=cluster)
    todos = server.create_store("Todos", {"items": []})
    config = server.create_store("Config", {"theme": "dark"})
    known_rooms = server.create_store("Rooms", {"names": [model.DEFAULT_ROOM]})
    rooms = server.create_store("Room:*", {"name": "", "messages": [], "users": []}, presence=True)

    def on_room_create(key: str | None) -> dict[str, Any]:
        if key is not None and _listable(key):
            known_rooms.update(lambda d: model.add_room(d, key))
        return {"name": key}

    rooms.on_create(on_room_create).on_idle(rooms.reset)
    if cluster is None:
        # Rooms saved with people in them (the server was killed): those people are
        # gone, and a room that its last subscriber left is reset (on_idle). In a
        # cluster, those people may be on another node, which runs on_idle for them.
        for key in filter(None, map(_room_key, server.list_stores())):
            if (rooms.get(key) or {}).get("users"):
                rooms.reset(key)

    issued = 0  # the highest id this node gave: ids go up even past removed todos

    @server.handle("todos.add")
    def add(args: object) -> dict[str, int]:
        nonlocal issued
        text = model.text_arg(args, "todos.add")
        todo_id = 0

        def recipe(draft: Any) -> None:  # may run again: another node added one first
            nonlocal todo_id
            todo_id = 1 + max(issued, *(t["id"] for t in draft["items"]), 0)
            model.add_todo(draft, todo_id, text)

        todos.update(recipe)
        issued = todo_id
        server.emit("notification", {"text": f"New todo: {text}"})
        return {"id": todo_id}

    @server.handle("todos.toggle")
    def toggle(args: object) -> dict[str, Any]:
        todo_id = model.id_arg(args, "todos.toggle")
        done = False

        def recipe(draft: Any) -> None:
            nonlocal done
            done = model.toggle_todo(draft, todo_id)

        todos.update(recipe)
        if done:
            server.emit("notification", {"text": f"Done: {_todo_text(todos.get(), todo_id)}"})
        return {"id": todo_id, "done": done}

    @server.handle("todos.remove")
    def remove(args: object) -> dict[str, int]:
        todo_id = model.id_arg(args, "todos.remove")
        todos.update(lambda d: model.remove_todo(d, todo_id))
        return {"id": todo_id}

    @server.handle("config.set_theme")
    def set_theme(args: object) -> dict[str, str]:
        theme = model.theme_arg(args, "config.set_theme")
        config.update(lambda d: d.__setitem__("theme", theme))
        return {"theme": theme}

    @server.handle("room.send")
    def send(args: object, ctx: CallContext) -> dict[str, float]:
        room = model.room_arg(args, "room.send")
        text = model.text_arg(args, "room.send")
        ts = clock()
        message = {"from": ctx.client_id, "name": ctx.user["name"], "text": text, "ts": ts}
        rooms.update(room, lambda d: model.post_message(d, message))
        return {"ts": ts}

    def joined(name: str, client_id: str) -> None:
        room = _room_key(name)
        if room is None:
            return
        joined_now = False

        def recipe(draft: Any) -> None:
            nonlocal joined_now
            joined_now = model.join_room(draft, client_id)

        rooms.update(room, recipe)
        if joined_now:
            server.emit("user.joined", {"id": client_id, "name": name_of(client_id), "room": room})

    def left(name: str, client_id: str) -> None:
        room = _room_key(name)
        # A room that went idle was reset already: updating it would create it again.
        if room is None or not rooms.is_initialized(room):
            return
        left_now = False

        def recipe(draft: Any) -> None:
            nonlocal left_now
            left_now = model.leave_room(draft, client_id)

        rooms.update(room, recipe)
        if left_now:
            server.emit("user.left", {"id": client_id, "name": name_of(client_id), "room": room})

    def name_of(client_id: str) -> str:
        ctx = server.context(client_id)
        return "?" if ctx is None else str(ctx.user["name"])

    server.on("subscribe", joined)
    server.on("unsubscribe", left)  # also for each room of a client that disconnects
    return server


def authenticate(info: ConnectInfo) -> dict[str, str]:
    """Sign in with a name: the token is the name the person typed."""
    return {"name": model.user_name(info.token)}


def _room_key(name: str) -> str | None:
    return name[len(ROOM_PREFIX) :] if name.startswith(ROOM_PREFIX) else None


def _listable(key: str) -> bool:
    try:
        model.room_name(key)
    except ValueError:
        return False
    return True


def _todo_text(state: Any, todo_id: int) -> str:
    return next((item["text"] for item in state["items"] if item["id"] == todo_id), "?")
