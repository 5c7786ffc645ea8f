"""``client.stores`` and ``client.subscriptions()``: every subscribed store at once.

First the rules of the core (``ClientCore.follow_stores`` and its
``StoresChanged`` actions), fed by values; then the real client against a real
server on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from client_helpers import (
    TIMEOUT,
    TODOS,
    MakeClient,
    Recorder,
    ServeClient,
    add_item,
    add_todo,
    todos_and_rooms,
    with_stores,
)

from hotstate_rx import Server
from hotstate_rx.client.actions import Deliver, Emit, EndStore, StoresChanged, Transmit
from hotstate_rx.frozen import FrozenDict
from hotstate_rx.protocol import (
    Deleted,
    ErrorMessage,
    PatchMessage,
    ServerHello,
    Snapshot,
    Subscribe,
    Unsubscribe,
)


def changes(actions: list[Any]) -> list[Any]:
    """The mappings reported by ``actions``, in order."""
    return [a.stores for a in actions if isinstance(a, StoresChanged)]


# ----------------------------------------------------------------- the core


def test_nothing_is_spent_on_the_mapping_until_someone_follows_it() -> None:
    core = with_stores("Todos")
    actions = core.receive(
        PatchMessage("Todos", 2, [{"op": "add", "path": "/items/-", "value": 1}])
    )
    assert changes(actions) == []
    assert core._visible is None


def test_follow_stores_starts_with_the_stores_that_have_data() -> None:
    core = with_stores("Todos", "Config")
    core.subscribe("Room:a")  # no snapshot yet
    visible = core.follow_stores()
    assert type(visible) is FrozenDict
    assert visible == {"Todos": {"items": []}, "Config": {"items": []}}
    assert visible["Todos"] is core.view("Todos")  # shared, not copied
    assert core.follow_stores() is visible  # idempotent
    assert list(core.subscriptions()) == ["Todos", "Config", "Room:a"]


def test_every_view_change_reports_a_new_mapping_sharing_the_others() -> None:
    core = with_stores("Todos", "Config")
    before = core.follow_stores()
    actions = core.receive(
        PatchMessage("Todos", 2, [{"op": "add", "path": "/items/-", "value": 1}])
    )
    [after] = changes(actions)
    assert actions == [Deliver("Todos", {"items": [1]}, {"items": [1]}), StoresChanged(after)]
    assert after == {"Todos": {"items": [1]}, "Config": {"items": []}}
    assert after is not before and before["Todos"] == {"items": []}  # old mapping untouched
    assert after["Config"] is before["Config"]
    assert after["Todos"] is core.view("Todos")
    assert core.follow_stores() is after


def test_a_store_appears_with_its_first_snapshot() -> None:
    core = with_stores("Todos")
    core.follow_stores()
    assert core.subscribe("Room:a") == [Transmit(Subscribe("Room:a"))]
    [mapping] = changes(core.receive(Snapshot("Room:a", 1, {"messages": []})))
    assert list(mapping) == ["Todos", "Room:a"]
    assert core.subscribe("Room:a") == []  # a second handle changes nothing


def test_the_optimistic_view_is_what_the_mapping_shows_and_a_rollback_too() -> None:
    core = with_stores("Todos")
    core.follow_stores()
    call_id, actions = core.call("todos.add", store="Todos", optimistic=add_item("temp"))
    assert changes(actions) == [{"Todos": {"items": ["temp"]}}]
    [rolled_back] = changes(core.forget_call(call_id))
    assert rolled_back == {"Todos": {"items": []}}
    assert rolled_back["Todos"] is core.server_state("Todos")


def test_the_last_handle_leaving_removes_the_store() -> None:
    core = with_stores("Todos", "Config")
    core.follow_stores()
    core.subscribe("Todos")
    assert core.release("Todos") == []  # one handle left
    assert core.release("Todos") == [
        StoresChanged(FrozenDict(Config={"items": []})),
        Transmit(Unsubscribe("Todos")),
    ]
    core.subscribe("Room:a")
    assert core.release("Room:a") == [Transmit(Unsubscribe("Room:a"))]  # had no data


def test_a_deleted_store_leaves_after_its_handles_end() -> None:
    core = with_stores("Todos", "Room:a")
    core.follow_stores()
    assert core.receive(Deleted("Room:a")) == [
        EndStore("Room:a"),
        StoresChanged(FrozenDict(Todos={"items": []})),
        Emit("store_deleted", "Room:a"),
    ]


def test_a_refused_subscription_never_shows() -> None:
    core = with_stores("Todos")
    core.follow_stores()
    core.subscribe("Nope")
    actions = core.receive(ErrorMessage("subscribe", "unknown store", "Nope"))
    assert changes(actions) == [] and isinstance(actions[0], EndStore)


def test_a_reconnect_keeps_the_mapping_and_a_resync_refreshes_it() -> None:
    core = with_stores("Todos")
    before = core.follow_stores()
    assert changes(core.connection_lost(jitter=0.5)) == []
    core.opened()
    core.receive(ServerHello("c2", 30.0))
    [after] = changes(core.receive(Snapshot("Todos", 7, {"items": [1]})))
    assert after == {"Todos": {"items": [1]}} and before == {"Todos": {"items": []}}


def test_shutdown_empties_the_mapping_after_the_rollbacks() -> None:
    core = with_stores("Todos")
    core.follow_stores()
    core.call("todos.add", store="Todos", optimistic=add_item("temp"))
    actions = core.shutdown()
    assert changes(actions) == [{"Todos": {"items": []}}, {}]
    assert actions[-1] == StoresChanged(FrozenDict())
    assert core.subscriptions() == {} and core.follow_stores() == {}
    assert changes(core.shutdown()) == []


# ------------------------------------------------------------ the real thing


async def test_stores_follows_every_subscription_made_before_or_after(
    serve_client: ServeClient,
) -> None:
    server, client = await serve_client(todos_and_rooms)
    todos = client.subscribe("Todos")
    await todos.ready()
    seen = Recorder()
    client.stores.subscribe(seen)
    assert seen.values == [{"Todos": TODOS}]  # the current mapping first
    assert client.stores.value is seen.values[0]

    room = client.subscribe("Room:general")  # subscribed after following
    await seen.until(lambda v: "Room:general" in v[-1])
    general = {"messages": [], "name": "general"}
    assert seen.values[-1] == {"Todos": TODOS, "Room:general": general}
    assert seen.values[-1]["Todos"] is seen.values[0]["Todos"]

    add_todo(server, "milk")
    await seen.until(lambda v: v[-1]["Todos"]["items"] == ["milk"])
    last, previous = seen.values[-1], seen.values[-2]
    assert last["Room:general"] is previous["Room:general"]  # unchanged entries are shared
    assert last["Todos"] is todos.get_state()
    with pytest.raises(TypeError, match="immutable"):
        last["Todos"] = None  # type: ignore[index]
    assert client.subscriptions() == ["Todos", "Room:general"]

    todos.release()
    assert seen.values[-1] == {"Room:general": general}
    assert client.subscriptions() == ["Room:general"]
    room.release()
    assert seen.values[-1] == {} and client.subscriptions() == []


async def test_subscriptions_lists_stores_before_they_have_data(make_client: MakeClient) -> None:
    client = make_client()  # never connected
    first, second = client.subscribe("Todos"), client.subscribe("Todos")
    client.subscribe("Config")
    assert client.subscriptions() == ["Todos", "Config"]
    assert client.stores.value == {}
    first.release()
    assert client.subscriptions() == ["Todos", "Config"]  # one handle left
    second.release()
    assert client.subscriptions() == ["Config"]


async def test_stores_shows_the_optimistic_view_then_the_servers_state(
    serve_client: ServeClient,
) -> None:
    gate = asyncio.Event()

    def setup(server: Server) -> None:
        todos = server.create_store("Todos", {"items": []})

        async def add_later(args: Any) -> None:
            await gate.wait()
            todos.update(lambda d: d["items"].append(args["text"]))

        server.handle("todos.add_later", add_later)

    _, client = await serve_client(setup)
    await client.subscribe("Todos").ready()
    seen = Recorder()
    client.stores.subscribe(seen)
    pending = asyncio.ensure_future(
        client.call("todos.add_later", {"text": "real"}, store="Todos", optimistic=add_item("temp"))
    )
    await seen.until(lambda v: v[-1]["Todos"]["items"] == ["temp"])
    gate.set()
    await asyncio.wait_for(pending, TIMEOUT)
    await seen.until(lambda v: v[-1]["Todos"]["items"] == ["real"])
    # The server's patch may come before the answer: ["real", "temp"] in between.
    shown = [m["Todos"]["items"] for m in seen.values]
    assert shown[:2] == [[], ["temp"]] and shown[-1] == ["real"]
    assert all("temp" in items for items in shown[1:-1])


async def test_a_deleted_store_leaves_the_mapping(serve_client: ServeClient) -> None:
    server, client = await serve_client(todos_and_rooms)
    seen = Recorder()
    client.stores.subscribe(seen)
    await client.subscribe("Room:general").ready()
    await client.subscribe("Todos").ready()
    server.stores["Room:*"].delete("general")
    await seen.until(lambda v: "Room:general" not in v[-1] and "Todos" in v[-1])
    assert client.subscriptions() == ["Todos"]


async def test_destroy_empties_then_completes_the_stream(serve_client: ServeClient) -> None:
    _, client = await serve_client(todos_and_rooms)
    await client.subscribe("Todos").ready()
    seen = Recorder()
    client.stores.subscribe(on_next=seen, on_completed=seen.on_completed)
    client.destroy()
    await seen.done()
    assert seen.values == [{"Todos": TODOS}, {}]
    assert client.subscriptions() == []
    late = Recorder()
    client.stores.subscribe(on_next=late, on_completed=late.on_completed)
    assert late.completed and late.values == [{}]  # the current value, then the end


async def test_first_use_after_destroy_is_an_ended_stream(make_client: MakeClient) -> None:
    client = make_client()
    client.subscribe("Todos")
    client.destroy()
    late = Recorder()
    client.stores.subscribe(on_next=late, on_completed=late.on_completed)
    assert late.completed and late.values == [{}]
