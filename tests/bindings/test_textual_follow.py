"""Textual: ``bind_client`` without ``stores=`` follows every subscription of the client.

The original's ``client.bindZustand(useStore)``: ``app.stores[name]`` appears
when anything later calls ``client.subscribe(name)``. Real server and client on
127.0.0.1, the app driven by Pilot.
"""

from __future__ import annotations

from typing import Any

from hotstate_textual import ClientBinding, HotstateReactive, bind_client
from textual.app import App, ComposeResult
from textual.css.query import NoMatches
from textual.widgets import Label
from textual_helpers import add_optimistically, text_of, until


class FollowApp(HotstateReactive, App[None]):
    """Shows the names in ``stores`` through ``watch_stores``, as an app would."""

    def __init__(self, client: Any, **bind: Any) -> None:
        super().__init__()
        self.client = client
        self.bind = bind
        self.hotstate: ClientBinding

    def compose(self) -> ComposeResult:
        yield Label("none", id="names")

    def on_mount(self) -> None:
        self.hotstate = bind_client(self, self.client, **self.bind)

    def watch_stores(self, stores: Any) -> None:
        try:
            names = self.query_one("#names", Label)
        except NoMatches:  # not composed yet
            return
        names.update(",".join(stores) or "none")


async def test_stores_subscribed_after_binding_appear_change_and_leave(
    client: Any, todo_server: Any
) -> None:
    todo_server.server.create_store("Config", {"theme": "dark"})
    app = FollowApp(client)
    async with app.run_test() as pilot:
        assert app.hotstate.following
        await until(pilot, lambda: app.status == "connected")
        assert app.stores == {}
        todos = client.subscribe("Todos")  # the app subscribes, not the binding
        await until(pilot, lambda: "Todos" in app.stores)
        assert app.stores["Todos"] is todos.get_state()
        config = client.subscribe("Config")
        await until(pilot, lambda: text_of(app, "#names") == "Todos,Config")
        assert app.stores["Config"] == {"theme": "dark"}

        todo_server.add_now("from the server")
        await until(pilot, lambda: len(app.stores["Todos"]["items"]) == 1)

        todos.release()
        await until(pilot, lambda: list(app.stores) == ["Config"])
        config.release()
        await until(pilot, lambda: text_of(app, "#names") == "none")


async def test_an_optimistic_call_shows_in_the_followed_stores(
    client: Any, todo_server: Any
) -> None:
    todo_server.gate.clear()  # the server holds todos.add
    app = FollowApp(client)
    async with app.run_test() as pilot:
        app.hotstate.subscribe("Todos")
        await until(pilot, lambda: "Todos" in app.stores)
        app.hotstate.call(
            "todos.add", {"text": "typed"}, store="Todos", optimistic=add_optimistically
        )
        await until(pilot, lambda: [t["id"] for t in app.stores["Todos"]["items"]] == [-1])
        todo_server.gate.set()
        await until(pilot, lambda: [t["id"] for t in app.stores["Todos"]["items"]] == [1])


async def test_handles_the_binding_takes_are_released_with_the_app(
    client: Any, todo_server: Any, wait_until: Any
) -> None:
    app = FollowApp(client)
    async with app.run_test() as pilot:
        count = Label()
        await app.mount(count)
        app.hotstate.bind(count, "Todos", lambda s: len(s["items"]), lambda n: count.update(str(n)))
        await until(pilot, lambda: str(count.render()) == "0" and "Todos" in app.stores)
        assert app.hotstate.subscribe("Todos") is app.hotstate.subscribe("Todos")
        assert todo_server.todos.subscriber_count() == 1
    await wait_until(lambda: todo_server.todos.subscriber_count() == 0)
    assert client.subscriptions() == []


async def test_explicit_stores_show_only_those(client: Any, todo_server: Any) -> None:
    todo_server.server.create_store("Config", {"theme": "dark"})
    app = FollowApp(client, stores=["Todos"])
    async with app.run_test() as pilot:
        assert not app.hotstate.following
        config = client.subscribe("Config")
        await config.ready()
        await until(pilot, lambda: "Todos" in app.stores)
        await pilot.pause(0.05)
        assert list(app.stores) == ["Todos"]
        config.release()


async def test_no_stores_at_all_binds_the_status_only(client: Any, todo_server: Any) -> None:
    app = FollowApp(client, stores=())
    async with app.run_test() as pilot:
        await until(pilot, lambda: app.status == "connected")
        handle = client.subscribe("Todos")
        await handle.ready()
        await pilot.pause(0.05)
        assert app.stores == {}
        handle.release()
