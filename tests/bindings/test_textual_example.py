"""The README's Textual example, driven by Pilot against a real server."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable, Label

EXAMPLES = Path(__file__).resolve().parents[2] / "bindings" / "examples"


@pytest.fixture
def example() -> Iterator[Any]:
    sys.path.insert(0, str(EXAMPLES))
    try:
        import textual_todos

        yield textual_todos
    finally:
        sys.path.remove(str(EXAMPLES))
        for name in ("textual_todos", "todo_server"):
            sys.modules.pop(name, None)


async def test_typing_a_todo_adds_a_row_everywhere(example: Any, todo_server: Any) -> None:
    app = example.TodoApp(todo_server.url)
    async with app.run_test() as pilot:
        table = app.query_one(DataTable)
        await pilot.press(*"milk", "enter")
        for _ in range(250):
            if str(app.query_one("#count", Label).render()) == "1 todos":
                break
            await pilot.pause(0.02)
        assert [str(table.get_row_at(i)[0]) for i in range(table.row_count)] == ["milk"]
        assert todo_server.todos.get()["items"][0]["text"] == "milk"
        assert app.status == "connected"
