"""The hotstate server both binding examples talk to: one "Todos" store, three functions."""

from __future__ import annotations

from typing import Any

from hotstate_rx import RpcError, Server


def make_server() -> Server:
    """A server with the ``Todos`` store and ``todos.add`` / ``todos.toggle`` / ``todos.remove``."""
    server = Server()
    todos = server.create_store("Todos", {"items": [], "next_id": 1})

    @server.handle("todos.add")
    def add(args: dict[str, Any]) -> int:
        text = str(args.get("text", "")).strip()
        if not text:
            raise RpcError("a todo needs some text")
        with todos.mutate() as state:
            new_id = state["next_id"]
            state["items"].append({"id": new_id, "text": text, "done": False})
            state["next_id"] = new_id + 1
        return new_id

    @server.handle("todos.toggle")
    def toggle(args: dict[str, Any]) -> None:
        with todos.mutate() as state:
            for item in state["items"]:
                if item["id"] == args["id"]:
                    item["done"] = not item["done"]

    @server.handle("todos.remove")
    def remove(args: dict[str, Any]) -> None:
        with todos.mutate() as state:
            state["items"] = [item for item in state["items"] if item["id"] != args["id"]]

    return server


def optimistic_add(text: str) -> Any:
    """The optimistic view of ``todos.add``: the item shows at once with id -1."""

    def apply(state: Any) -> Any:
        item = {"id": -1, "text": text, "done": False}
        return {**state, "items": [*state["items"], item]}

    return apply
