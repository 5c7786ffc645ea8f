"""The Textual inspector (``hotstate inspect``) driven by Pilot against a real
server on loopback. ``HOTSTATE_UPDATE_SCREENSHOT=1`` also writes the README's
screenshot, ``docs/inspector.svg``, from the run."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable, Log, Static, Tree

from hotstate_rx import RpcError, Server
from hotstate_rx.cli.inspector import InspectorApp
from hotstate_rx.client import Client

TIMEOUT = 10.0
SCREENSHOT = Path(__file__).parents[2] / "docs" / "inspector.svg"


@pytest.fixture
async def demo_server() -> AsyncIterator[Server]:
    server = Server(
        authenticate=lambda info: {"name": info.token, "admin": info.token == "root"},
        inspect=lambda ctx: ctx.user["admin"],
    )
    server.create_store("Room:*", {"messages": []}, presence=True)
    server.create_store("Todos", {"items": []})

    @server.handle("todos.add")
    def add(args: Any) -> int:
        if not args:
            raise RpcError("empty todo")
        server.stores["Todos"].update(lambda d: d["items"].append({"text": args, "done": False}))
        return len(server.stores["Todos"].get()["items"])

    await server.listen(port=0, host="127.0.0.1")
    yield server
    await server.close()


async def until(pilot: Any, condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(TIMEOUT):
        while not condition():
            await pilot.pause(0.02)


def rows(app: InspectorApp, table: str) -> list[list[str]]:
    widget = app.query_one(f"#{table}", DataTable)
    return [[str(c) for c in widget.get_row_at(i)] for i in range(widget.row_count)]


def tree_labels(tree: Tree[Any]) -> list[str]:
    out: list[str] = []

    def walk(node: Any) -> None:
        out.append(str(node.label))
        for child in node.children:
            walk(child)

    walk(tree.root)
    return out


async def test_the_inspector_shows_clients_instances_state_patches_and_calls(
    demo_server: Server, tmp_path: Path
) -> None:
    url = f"ws://127.0.0.1:{demo_server.port}"
    async with Client(url, token="ann") as ann:
        await ann.subscribe("Room:general").ready()
        await ann.call("todos.add", "milk")
        with pytest.raises(RpcError):
            await ann.call("todos.add", "")
        app = InspectorApp(url, token="root")
        async with app.run_test(size=(120, 32)) as pilot:
            await until(pilot, lambda: any(r[1] == "ann" for r in rows(app, "clients-table")))
            ann_row = next(r for r in rows(app, "clients-table") if r[1] == "ann")
            assert ann_row[0] == ann.client_id and ann_row[2].startswith("127.0.0.1:")
            assert ann_row[3] == "Room:general" and ann_row[4].endswith("B")
            await pilot.press("i")
            await until(pilot, lambda: any(r[0] == "Todos" for r in rows(app, "instances-table")))
            names = [r[0] for r in rows(app, "instances-table")]
            assert "Room@presence:general" in names
            assert not any(n.startswith("$inspect") for n in names)  # its own views hidden
            table = app.query_one("#instances-table", DataTable)
            table.move_cursor(row=names.index("Todos"))
            table.focus()
            await pilot.press("enter")  # follow Todos
            tree = app.query_one("#state-tree", Tree)
            await until(pilot, lambda: 'text: "milk"' in tree_labels(tree))
            await ann.call("todos.add", "eggs")  # a live change: tree and patch log follow
            await until(pilot, lambda: 'text: "eggs"' in tree_labels(tree))
            log = app.query_one("#patch-log", Log)
            assert any('"eggs"' in line for line in log.lines)
            await pilot.press("f")
            await until(
                pilot,
                lambda: [r[:3] for r in rows(app, "functions-table")] == [["todos.add", "3", "1"]],
            )
            errors = app.query_one("#errors", Log)
            await until(pilot, lambda: any("empty todo" in line for line in errors.lines))
            await pilot.press("c")
            await pilot.pause()
            svg = app.export_screenshot()
            assert "ann" in svg and "Room:general" in svg
            if os.environ.get("HOTSTATE_UPDATE_SCREENSHOT"):
                SCREENSHOT.write_text(svg)
            await pilot.press("q")


async def test_a_connection_the_server_does_not_allow_is_told_why(demo_server: Server) -> None:
    app = InspectorApp(f"ws://127.0.0.1:{demo_server.port}", token="ann")
    async with app.run_test(size=(100, 24)) as pilot:
        problem = app.query_one("#problem", Static)
        await until(pilot, lambda: "forbidden" in str(problem.render()))
        assert "Server(inspect=...)" in str(problem.render())
        assert rows(app, "clients-table") == []


async def test_several_urls_fail_over_and_the_header_names_the_node_inspected(
    demo_server: Server,
) -> None:
    """The first node is down: the inspector reaches the second and says
    which one it shows (each node reports its own connections)."""
    gone = Server()
    await gone.listen(port=0, host="127.0.0.1")
    dead = f"ws://127.0.0.1:{gone.port}"
    await gone.close()
    live = f"ws://127.0.0.1:{demo_server.port}"
    app = InspectorApp(dead, live, token="root")
    async with app.run_test(size=(100, 24)) as pilot:
        assert app.sub_title in (f"{dead}, {live}", live)
        await until(pilot, lambda: app.sub_title == live)
        await until(pilot, lambda: len(rows(app, "clients-table")) == 1)
        await pilot.press("q")
