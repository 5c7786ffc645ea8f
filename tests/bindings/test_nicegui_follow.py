"""NiceGUI: ``bind_client`` without ``stores=`` follows every subscription of the client.

The original's ``client.bindZustand(useStore)``: ``state.stores[name]`` appears
when anything later calls ``client.subscribe(name)``. NiceGUI's simulated user,
a real hotstate server and client on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
from typing import Any, NamedTuple

from hotstate_nicegui import HotstateState, bind_client
from nicegui import Client, ui
from nicegui.testing import User


class Page(NamedTuple):
    state: HotstateState
    page: Client


def names(stores: Any) -> str:
    return "stores: " + (",".join(stores) or "none")


def count(stores: Any) -> str:
    todos = stores.get("Todos")
    return "loading" if todos is None else f"{len(todos['items'])} todos"


def follow_page(client: Any, pages: list[Page], **bind: Any) -> None:
    """Register "/" showing the names in ``state.stores`` and the todo count;
    record each page's binding and NiceGUI page."""

    @ui.page("/")
    def index() -> None:
        state = bind_client(client, **bind)
        pages.append(Page(state, ui.context.client))
        ui.label().bind_text_from(state, "stores", backward=names)
        ui.label().bind_text_from(state, "stores", backward=count)


async def test_stores_subscribed_after_binding_appear_change_and_leave(
    user: User, client: Any, todo_server: Any
) -> None:
    todo_server.server.create_store("Config", {"theme": "dark"})
    pages: list[Page] = []
    follow_page(client, pages)
    await user.open("/")
    await user.should_see("stores: none", retries=100)
    assert pages[0].state.following
    todos = client.subscribe("Todos")  # the app subscribes, not the binding
    await user.should_see("0 todos", retries=100)
    config = client.subscribe("Config")
    await user.should_see("stores: Todos,Config", retries=100)
    assert pages[0].state.stores["Config"] == {"theme": "dark"}
    assert pages[0].state.stores["Todos"] is todos.get_state()

    todo_server.add_now("from the server")
    await user.should_see("1 todos", retries=100)

    todos.release()
    await user.should_see("stores: Config", retries=100)
    await user.should_see("loading", retries=100)
    config.release()
    await user.should_see("stores: none", retries=100)


async def test_an_optimistic_call_shows_in_the_followed_stores(
    user: User, client: Any, todo_server: Any, wait_until: Any
) -> None:
    pages: list[Page] = []
    follow_page(client, pages)
    todo_server.gate.clear()  # the server holds todos.add
    await user.open("/")
    pages[0].state.subscribe("Todos")
    await user.should_see("0 todos", retries=100)

    def optimistic(state: Any) -> Any:
        return {**state, "items": [*state["items"], {"id": -1, "text": "typed", "done": False}]}

    task = asyncio.ensure_future(
        client.call("todos.add", {"text": "typed"}, store="Todos", optimistic=optimistic)
    )
    await user.should_see("1 todos", retries=100)
    assert pages[0].state.stores["Todos"]["items"][0]["id"] == -1
    todo_server.gate.set()
    assert await asyncio.wait_for(task, 5) == 1
    await wait_until(lambda: pages[0].state.stores["Todos"]["items"][0]["id"] == 1)


async def test_a_closed_page_releases_what_it_subscribed_and_stops_following(
    user: User, client: Any, todo_server: Any, wait_until: Any
) -> None:
    pages: list[Page] = []
    follow_page(client, pages)
    await user.open("/")
    state = pages[0].state
    state.subscribe("Todos")
    await user.should_see("0 todos", retries=100)
    assert state.subscribe("Todos") is state.subscribe("Todos")
    assert todo_server.todos.subscriber_count() == 1
    pages[0].page.delete()  # what NiceGUI does when the tab is gone for good
    assert state.disposed
    await wait_until(lambda: todo_server.todos.subscriber_count() == 0)
    assert client.subscriptions() == []
    witness = client.subscribe("Todos")
    todo_server.add_now("after close")
    await wait_until(lambda: witness.has_data() and len(witness.get_state()["items"]) == 1)
    assert state.stores["Todos"]["items"] == []  # the closed page's state no longer moves
    witness.release()


async def test_explicit_stores_show_only_those(user: User, client: Any, todo_server: Any) -> None:
    todo_server.server.create_store("Config", {"theme": "dark"})
    pages: list[Page] = []
    follow_page(client, pages, stores=["Todos"])
    await user.open("/")
    await user.should_see("stores: Todos", retries=100)
    assert not pages[0].state.following
    config = client.subscribe("Config")
    await config.ready()  # a follower would have it by now: same loop, pushed at once
    assert list(pages[0].state.stores) == ["Todos"]
    config.release()
