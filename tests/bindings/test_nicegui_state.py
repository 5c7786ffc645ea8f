"""NiceGUI binding through NiceGUI's simulated user, with a real hotstate server and client."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from hotstate_nicegui import HotstateState, bind_client
from nicegui import binding, ui
from nicegui.testing import User
from reactivex.subject import BehaviorSubject


def add_optimistically(state: Any) -> Any:
    return {**state, "items": [*state["items"], {"id": -1, "text": "pending", "done": False}]}


def todo_page(client: Any, pages: list[dict[str, Any]]) -> None:
    """Register "/" showing the status, a count and the todo texts; record each page's binding."""

    @ui.page("/")
    def index() -> None:
        state = bind_client(client, stores=["Todos"])
        count = state.select("Todos", lambda s: len(s["items"]), default=0)
        texts = state.select("Todos", lambda s: [t["text"] for t in s["items"]], default=[])
        pages.append({"state": state, "count": count, "page": ui.context.client})
        ui.label().bind_text_from(state, "status", backward=lambda s: f"status: {s}")
        ui.label().bind_text_from(count, "value", backward=lambda n: f"{n} todos")
        ui.label().bind_text_from(texts, "value", backward=lambda t: "items: " + ",".join(t))

        async def add() -> None:
            await client.call(
                "todos.add", {"text": "pending"}, store="Todos", optimistic=add_optimistically
            )

        ui.button("Add", on_click=add)


async def test_status_and_slices_are_pushed_to_the_page(
    user: User, client: Any, todo_server: Any
) -> None:
    pages: list[dict[str, Any]] = []
    todo_page(client, pages)
    await user.open("/")
    await user.should_see("status: connected", retries=100)
    await user.should_see("0 todos", retries=100)
    todo_server.add_now("from the server")
    await user.should_see("1 todos", retries=100)
    await user.should_see("items: from the server", retries=100)
    assert pages[0]["state"].stores["Todos"]["items"][0]["text"] == "from the server"


async def test_bindings_are_pushed_not_polled(user: User, client: Any, todo_server: Any) -> None:
    pages: list[dict[str, Any]] = []
    todo_page(client, pages)
    await user.open("/")
    await user.should_see("0 todos", retries=100)
    ours = {id(pages[0]["state"]), id(pages[0]["count"])}
    # NiceGUI polls only "active links" (plain attributes, dict keys); ours are not among them.
    assert not [link for link in binding.active_links if id(link[0]) in ours]
    assert (id(pages[0]["count"]), ("value",)) in binding.bindings


async def test_an_optimistic_call_from_a_button_shows_before_the_server_answers(
    user: User, client: Any, todo_server: Any, wait_until: Any
) -> None:
    pages: list[dict[str, Any]] = []
    todo_page(client, pages)
    todo_server.gate.clear()  # the server holds todos.add
    await user.open("/")
    await user.should_see("0 todos", retries=100)
    user.find("Add").click()
    await user.should_see("1 todos", retries=100)
    assert pages[0]["state"].stores["Todos"]["items"][0]["id"] == -1
    assert todo_server.todos.get()["items"] == []
    todo_server.gate.set()
    await wait_until(lambda: pages[0]["state"].stores["Todos"]["items"][0]["id"] == 1)
    await user.should_see("items: pending", retries=100)


async def test_a_closed_page_stops_its_subscriptions(
    user: User, client: Any, todo_server: Any, wait_until: Any
) -> None:
    pages: list[dict[str, Any]] = []
    todo_page(client, pages)
    await user.open("/")
    await user.should_see("0 todos", retries=100)
    assert todo_server.todos.subscriber_count() == 1
    state: HotstateState = pages[0]["state"]
    pages[0]["page"].delete()  # what NiceGUI does when the tab is gone for good
    assert state.disposed
    await wait_until(lambda: todo_server.todos.subscriber_count() == 0)
    witness = client.subscribe("Todos")
    todo_server.add_now("after close")
    await wait_until(lambda: witness.has_data() and len(witness.get_state()["items"]) == 1)
    assert state.stores["Todos"]["items"] == []  # the closed page's state no longer moves
    witness.release()


async def test_values_emitted_on_another_thread_are_applied_on_the_loop(wait_until: Any) -> None:
    status: BehaviorSubject[str] = BehaviorSubject("connecting")
    fake_client = type("FakeClient", (), {"status": status, "stores": BehaviorSubject({})})()
    state = bind_client(fake_client, page=None)
    loop_thread = threading.get_ident()
    applied_on: list[int] = []
    seen: dict[str, Any] = {}
    binding.bind_to(
        state, "status", seen, "status", lambda s: applied_on.append(threading.get_ident()) or s
    )
    thread = threading.Thread(target=status.on_next, args=("connected",))
    thread.start()
    thread.join(5)
    assert state.status == "connecting"  # not applied on the emitting thread
    await wait_until(lambda: state.status == "connected")
    assert seen["status"] == "connected"
    assert set(applied_on) == {loop_thread}
    state.dispose()


def test_bind_client_outside_the_event_loop_says_where_to_call_it() -> None:
    with pytest.raises(RuntimeError, match=r"page function or in app\.on_startup"):
        bind_client(object())


async def test_a_disposed_binding_refuses_new_stores() -> None:
    fake_client = type(
        "FakeClient", (), {"status": BehaviorSubject("connected"), "stores": BehaviorSubject({})}
    )()
    state = bind_client(fake_client, page=None)
    state.dispose()
    with pytest.raises(RuntimeError, match="disposed"):
        state.select("Todos", len)
