"""Textual binding end to end: real server and client on 127.0.0.1, app driven by Pilot."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Coroutine
from typing import Any

import pytest
from hotstate_textual import (
    ClientBinding,
    HotstateReactive,
    StatusIndicator,
    TableSync,
    bind_client,
    item_key,
)
from textual.app import App, ComposeResult
from textual.widgets import DataTable, Label
from textual.worker import WorkerState
from textual_helpers import add_optimistically, text_of, until

from hotstate_rx import RpcError
from hotstate_rx.client import Client


class SpyTable(DataTable[Any]):
    """A DataTable that counts how it is changed, to prove it is never rebuilt."""

    def __init__(self, **kwargs: Any) -> None:
        self.calls = {"clear": 0, "add_row": 0, "remove_row": 0, "update_cell": 0}
        super().__init__(**kwargs)

    def clear(self, columns: bool = False) -> Any:
        self.calls["clear"] += 1
        return super().clear(columns)

    def add_row(self, *cells: Any, **kwargs: Any) -> Any:
        self.calls["add_row"] += 1
        return super().add_row(*cells, **kwargs)

    def remove_row(self, row_key: Any) -> None:
        self.calls["remove_row"] += 1
        super().remove_row(row_key)

    def update_cell(self, *args: Any, **kwargs: Any) -> None:
        self.calls["update_cell"] += 1
        super().update_cell(*args, **kwargs)


class TodoApp(HotstateReactive, App[None]):
    BINDINGS = [("a", "add", "Add a todo")]

    def __init__(self, client: Any) -> None:
        super().__init__()
        self.client = client
        self.hotstate: ClientBinding
        self.table_sync: TableSync

    def compose(self) -> ComposeResult:
        yield StatusIndicator(id="status").data_bind(TodoApp.status)
        yield Label("loading", id="count")
        yield SpyTable(id="todos")

    def on_mount(self) -> None:
        self.hotstate = bind_client(self, self.client, stores=["Todos"])
        count = self.query_one("#count", Label)
        self.hotstate.bind(
            count, "Todos", lambda s: len(s["items"]), lambda n: count.update(f"{n} todos")
        )
        self.table_sync = self.hotstate.bind_table(
            self.query_one(SpyTable),
            "Todos",
            lambda s: s["items"],
            key=item_key("id"),
            columns={"text": lambda t: t["text"]},
        )

    def action_add(self) -> None:
        self.hotstate.call(
            "todos.add", {"text": "typed"}, store="Todos", optimistic=add_optimistically
        )


def table_texts(table: DataTable[Any]) -> list[str]:
    return [str(table.get_row_at(i)[0]) for i in range(table.row_count)]


async def test_key_press_calls_the_server_and_the_label_shows_it(
    client: Any, todo_server: Any
) -> None:
    app = TodoApp(client)
    async with app.run_test() as pilot:
        await until(pilot, lambda: text_of(app, "#count") == "0 todos")
        await pilot.press("a")
        await until(pilot, lambda: text_of(app, "#count") == "1 todos")
        assert todo_server.todos.get()["items"][0]["text"] == "typed"
        assert app.stores["Todos"]["items"][0]["id"] == 1


async def test_status_reactive_and_indicator_follow_the_connection(
    client: Any, todo_server: Any
) -> None:
    app = TodoApp(client)
    async with app.run_test() as pilot:
        indicator = app.query_one(StatusIndicator)
        await until(pilot, lambda: app.status == "connected")
        await until(pilot, lambda: str(indicator.render()) == "● connected")
        assert indicator.has_class("-connected")
        await todo_server.server.close()
        await until(pilot, lambda: app.status == "disconnected")
        await until(pilot, lambda: indicator.has_class("-disconnected"))
        assert not indicator.has_class("-connected")


async def test_data_table_applies_adds_removes_and_updates_without_rebuilding(
    client: Any, todo_server: Any
) -> None:
    app = TodoApp(client)
    async with app.run_test() as pilot:
        table = app.query_one(SpyTable)
        for text in ("one", "two", "three"):
            todo_server.add_now(text)
        await until(pilot, lambda: table_texts(table) == ["one", "two", "three"])
        keys_before = list(table.rows)
        adds_before = table.calls["add_row"]

        todo_server.rename(2, "TWO")
        todo_server.remove(1)
        todo_server.add_now("four")
        await until(pilot, lambda: table_texts(table) == ["TWO", "three", "four"])

        assert table.calls["clear"] == 0
        assert table.calls["add_row"] == adds_before + 1  # only "four" was added
        assert table.calls["remove_row"] == 1
        # The surviving rows are the very same rows, identified by the items' ids.
        assert [k for k in table.rows if k in keys_before] == keys_before[1:]
        assert [k.value for k in table.rows] == ["2", "3", "4"]


async def test_optimistic_call_shows_at_once_then_the_server_result(
    client: Any, todo_server: Any
) -> None:
    todo_server.gate.clear()  # the server holds the call
    app = TodoApp(client)
    async with app.run_test() as pilot:
        table = app.query_one(SpyTable)
        await until(pilot, lambda: text_of(app, "#count") == "0 todos")
        await pilot.press("a")
        await until(pilot, lambda: [k.value for k in table.rows] == ["-1"])
        assert todo_server.todos.get()["items"] == []  # only the client's view has it
        todo_server.gate.set()
        await until(pilot, lambda: [k.value for k in table.rows] == ["1"])
        assert table_texts(table) == ["typed"]
        assert table.calls["clear"] == 0


async def test_a_failed_call_rolls_back_and_notifies(client: Any, todo_server: Any) -> None:
    def refuse(args: Any) -> None:
        raise RpcError("no more todos")

    todo_server.server.handle("todos.refuse", refuse)
    app = TodoApp(client)
    async with app.run_test() as pilot:
        await until(pilot, lambda: text_of(app, "#count") == "0 todos")
        worker = app.hotstate.call("todos.refuse", {}, store="Todos", optimistic=add_optimistically)
        await until(pilot, lambda: worker.state == WorkerState.ERROR)
        assert isinstance(worker.error, RpcError)
        assert "no more todos" in str(worker.error)
        await until(pilot, lambda: app.stores["Todos"]["items"] == [])


async def test_slice_binding_stops_when_its_widget_unmounts_and_handles_are_released(
    client: Any, todo_server: Any, wait_until: Any
) -> None:
    app = TodoApp(client)
    async with app.run_test() as pilot:
        await until(pilot, lambda: text_of(app, "#count") == "0 todos")
        assert todo_server.todos.subscriber_count() == 1
        extra = Label("extra")
        await app.mount(extra)
        worker = app.hotstate.bind(
            extra, "Todos", lambda s: len(s["items"]), lambda n: extra.update(str(n))
        )
        await until(pilot, lambda: str(extra.render()) == "0")
        await extra.remove()
        await until(pilot, lambda: worker.state == WorkerState.CANCELLED)
    # The app is gone: its binding released its subscription handle.
    await wait_until(lambda: todo_server.todos.subscriber_count() == 0)


async def test_binding_an_attribute_the_widget_lacks_names_it(client: Any) -> None:
    app = TodoApp(client)
    async with app.run_test():
        with pytest.raises(AttributeError, match="Label has no attribute 'txt'"):
            app.hotstate.bind(app.query_one("#count", Label), "Todos", len, "txt")


async def test_dispose_releases_the_handles_at_once(
    client: Any, todo_server: Any, wait_until: Any
) -> None:
    app = TodoApp(client)
    async with app.run_test() as pilot:
        await until(pilot, lambda: text_of(app, "#count") == "0 todos")
        app.hotstate.dispose()
        await wait_until(lambda: todo_server.todos.subscriber_count() == 0)
        todo_server.add_now("unseen")
        witness = client.subscribe("Todos")
        await wait_until(lambda: witness.has_data() and len(witness.get_state()["items"]) == 1)
        await pilot.pause()
        assert text_of(app, "#count") == "0 todos"
        witness.release()


async def test_bind_client_needs_the_mixin(client: Any) -> None:
    class Plain(App[None]):
        pass

    app = Plain()
    async with app.run_test():
        with pytest.raises(TypeError, match="HotstateReactive"):
            bind_client(app, client)


@pytest.fixture
async def threaded_client(todo_server: Any) -> AsyncIterator[Any]:
    """A client living on its own event loop in another thread, as in a threaded app."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="client loop")
    thread.start()

    def on_thread(coro: Coroutine[Any, Any, Any]) -> Awaitable[Any]:
        return asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, loop))

    async def start() -> Any:
        other = Client(reconnect=False)
        other.connect(todo_server.url)
        await other.ready()
        return other

    other = await asyncio.wait_for(on_thread(start()), 5)
    try:
        yield other
    finally:
        await asyncio.wait_for(on_thread(other.close()), 5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


async def test_status_emitted_on_another_thread_reaches_the_widget(
    threaded_client: Any, todo_server: Any
) -> None:
    class StatusApp(App[None]):
        def compose(self) -> ComposeResult:
            yield StatusIndicator(threaded_client)

    app = StatusApp()
    async with app.run_test() as pilot:
        indicator = app.query_one(StatusIndicator)
        await until(pilot, lambda: indicator.status == "connected")
        await todo_server.server.close()  # the client's thread sees the socket close
        await until(pilot, lambda: indicator.status == "disconnected")
