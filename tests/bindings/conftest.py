"""Fixtures for the UI binding tests: a real hotstate server and client on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from hotstate_rx import Server
from hotstate_rx.client import Client

Wait = Callable[[Callable[[], bool]], Awaitable[None]]


class TodoServer:
    """A hotstate server with one "Todos" store and the functions the UIs call.

    ``gate`` holds ``todos.add`` until the test sets it, to observe the
    optimistic view while the call is pending.
    """

    def __init__(self) -> None:
        self.server = Server()
        self.todos = self.server.create_store("Todos", {"items": [], "next_id": 1})
        self.gate = asyncio.Event()
        self.gate.set()
        self.server.handle("todos.add", self.add)

    async def add(self, args: dict[str, Any]) -> int:
        await self.gate.wait()
        return self.add_now(args["text"])

    def add_now(self, text: str) -> int:
        """Add an item directly on the server (no client involved)."""
        new_id = self.todos.get()["next_id"]

        def recipe(state: Any) -> None:
            state["items"].append({"id": new_id, "text": text, "done": False})
            state["next_id"] = new_id + 1

        self.todos.update(recipe)
        return new_id

    def rename(self, todo_id: int, text: str) -> None:
        def recipe(state: Any) -> None:
            for item in state["items"]:
                if item["id"] == todo_id:
                    item["text"] = text

        self.todos.update(recipe)

    def remove(self, todo_id: int) -> None:
        def recipe(state: Any) -> None:
            state["items"] = [item for item in state["items"] if item["id"] != todo_id]

        self.todos.update(recipe)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.server.port}"


@pytest.fixture
async def todo_server() -> AsyncIterator[TodoServer]:
    todo = TodoServer()
    await todo.server.listen(port=0, host="127.0.0.1", heartbeat=0)
    try:
        yield todo
    finally:
        todo.gate.set()
        await todo.server.close()


@pytest.fixture
async def client(todo_server: TodoServer) -> AsyncIterator[Client]:
    hs = Client(reconnect=False)
    hs.connect(todo_server.url)
    try:
        await asyncio.wait_for(hs.ready(), 5)
        yield hs
    finally:
        await hs.close()


@pytest.fixture
def wait_until() -> Wait:
    """Bounded polling of a condition on the running loop (for server-side counters)."""

    async def wait(condition: Callable[[], bool], timeout: float = 5.0) -> None:
        async def poll() -> None:
            while not condition():
                await asyncio.sleep(0.01)

        await asyncio.wait_for(poll(), timeout)

    return wait
