"""Helpers for the Textual binding tests (uniquely named: ``conftest`` is not importable)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.app import App
from textual.pilot import Pilot
from textual.widgets import Label


def add_optimistically(state: Any) -> Any:
    """The optimistic view of adding the todo "typed" (id -1 until the server answers)."""
    return {**state, "items": [*state["items"], {"id": -1, "text": "typed", "done": False}]}


async def until(pilot: Pilot[Any], condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Let the app run until ``condition()`` holds; fail after ``timeout`` seconds."""
    for _ in range(int(timeout / 0.02)):
        if condition():
            return
        await pilot.pause(0.02)
    raise AssertionError(f"condition not met within {timeout} s")


def text_of(app: App[Any], selector: str) -> str:
    return str(app.query_one(selector, Label).render())
