"""Subscriptions against the real server: handles, on_change, Observables, select."""

from __future__ import annotations

import asyncio

import pytest
from client_helpers import (
    TIMEOUT,
    TODOS,
    MakeClient,
    Recorder,
    ServeClient,
    StartServer,
    add_todo,
    errors_of,
    todos_and_rooms,
)

from hotstate_rx import SubscriptionError
from hotstate_rx.client import SubscriptionHandle


async def test_subscribe_before_connect_sends_it_once_connected(
    start_server: StartServer, make_client: MakeClient
) -> None:
    server, url = await start_server(todos_and_rooms)
    client = make_client()
    handle = client.subscribe("Todos")
    assert handle.get_state() is None and not handle.has_data()
    client.connect(url)
    await asyncio.wait_for(handle.ready(), TIMEOUT)
    assert handle.get_state() == TODOS
    assert handle.get_server_state() == handle.get_state()
    assert server.stores["Todos"].subscriber_count() == 1


async def test_subscribe_after_connect_and_follow_changes(serve_client: ServeClient) -> None:
    server, client = await serve_client(todos_and_rooms)
    await client.ready()
    changes = Recorder()
    handle = client.subscribe("Todos", changes)
    await handle.ready()
    add_todo(server, "milk")
    add_todo(server, "eggs")
    await changes.until(lambda v: len(v) == 3)
    assert [s["items"] for s in changes.values] == [[], ["milk"], ["milk", "eggs"]]
    assert handle.get_state()["items"] == ["milk", "eggs"]


async def test_dynamic_store_instances(serve_client: ServeClient) -> None:
    _, client = await serve_client(todos_and_rooms)
    room = client.subscribe("Room:general")
    await room.ready()
    assert room.get_state() == {"messages": [], "name": "general"}


async def test_several_handles_share_one_wire_subscription_and_stay_independent(
    serve_client: ServeClient,
) -> None:
    server, client = await serve_client(todos_and_rooms)
    first_changes, second_changes = Recorder(), Recorder()
    first = client.subscribe("Todos", first_changes)
    await first.ready()
    second = client.subscribe("Todos", second_changes)
    assert second.has_data() and second_changes.values == [first.get_state()]
    assert server.stores["Todos"].subscriber_count() == 1
    first.release()
    first.unsubscribe()  # the original's name for release(); idempotent
    add_todo(server, "milk")
    await second_changes.until(lambda v: len(v) == 2)
    assert len(first_changes.values) == 1 and first.get_state()["items"] == []
    second.release()
    unsubscribed = asyncio.Event()
    server.on("unsubscribe", lambda name, cid: unsubscribed.set())
    await asyncio.wait_for(unsubscribed.wait(), TIMEOUT)
    assert server.stores["Todos"].subscriber_count() == 0


async def test_a_refused_subscription_raises_at_ready_and_fires_error(
    serve_client: ServeClient,
) -> None:
    _, client = await serve_client(todos_and_rooms)
    errors = errors_of(client)
    handle = client.subscribe("Nope")
    with pytest.raises(SubscriptionError, match="Nope") as caught:
        await asyncio.wait_for(handle.ready(), TIMEOUT)
    assert errors.values == [caught.value]
    assert not handle.active
    stream_errors = Recorder()
    handle.subscribe(on_error=stream_errors)
    assert stream_errors.values == [caught.value]


async def test_store_deletion_ends_handles_and_fires_store_deleted(
    serve_client: ServeClient,
) -> None:
    server, client = await serve_client(todos_and_rooms)
    deleted = Recorder()
    client.on("store_deleted", deleted)
    room = client.subscribe("Room:general")
    states = Recorder()
    room.subscribe(on_next=states, on_completed=states.on_completed)
    await room.ready()
    server.stores["Room:*"].delete("general")
    await states.done()
    assert await deleted.value("Room:general") == ["Room:general"]
    assert not room.active
    server.stores["Room:*"].update("general", lambda d: d["messages"].append("hi"))
    again = client.subscribe("Room:general")  # a new subscription sees the new instance
    await again.ready()
    assert again.get_state()["messages"] == ["hi"]
    assert states.values == [{"messages": [], "name": "general"}]


async def test_a_handle_is_an_observable_with_the_current_state_first(
    serve_client: ServeClient,
) -> None:
    server, client = await serve_client(todos_and_rooms)
    handle = client.subscribe("Todos")
    early = Recorder()
    handle.subscribe(early)
    await handle.ready()
    late = Recorder()
    handle.subscribe(on_next=late, on_completed=late.on_completed)
    assert late.values == [handle.get_state()] == early.values
    add_todo(server, "milk")
    await late.until(lambda v: len(v) == 2)
    handle.release()
    assert late.completed


async def test_emitted_states_share_unchanged_subtrees(serve_client: ServeClient) -> None:
    server, client = await serve_client(todos_and_rooms)
    states = Recorder()
    client.subscribe("Todos", states)
    await states.until(lambda v: len(v) == 1)
    add_todo(server, "milk")
    await states.until(lambda v: len(v) == 2)
    before, after = states.values
    assert after["config"] is before["config"]
    with pytest.raises(TypeError):
        after["items"].append("mutated")  # immutable snapshots


async def test_select_emits_only_when_its_slice_changes(serve_client: ServeClient) -> None:
    server, client = await serve_client(todos_and_rooms)
    themes, items = Recorder(), Recorder()
    theme_sub = client.select("Todos", lambda s: s["config"]["theme"]).subscribe(themes)
    client.select("Todos", lambda s: s["items"]).subscribe(items)
    await items.until(lambda v: len(v) == 1)
    add_todo(server, "milk")
    await items.until(lambda v: len(v) == 2)
    server.stores["Todos"].update(lambda d: d["config"].update(theme="light"))
    await themes.value("light")
    add_todo(server, "eggs")
    await items.until(lambda v: len(v) == 3)
    assert themes.values == ["dark", "light"]
    assert items.values == [[], ["milk"], ["milk", "eggs"]]
    assert server.stores["Todos"].subscriber_count() == 1
    theme_sub.dispose()
    assert client.subscribe("Todos").has_data()  # the other select still holds the store


def test_release_is_the_handles_one_name_for_ending_its_subscription() -> None:
    """``unsubscribe`` (the original's name) and ``dispose`` (reactivex's) are
    ``release`` itself, not other concepts; ``subscribe`` is Rx's observer."""
    assert SubscriptionHandle.unsubscribe is SubscriptionHandle.release
    assert SubscriptionHandle.dispose is SubscriptionHandle.release
    assert "release()" in (SubscriptionHandle.__doc__ or "")


async def test_disposing_an_observer_keeps_the_subscription_and_release_ends_it(
    serve_client: ServeClient,
) -> None:
    _, client = await serve_client(todos_and_rooms)
    handle = client.subscribe("Todos")
    seen = Recorder()
    observer = handle.subscribe(on_next=seen, on_completed=seen.on_completed)
    await handle.ready()
    observer.dispose()  # Rx: this observer only
    assert handle.active and client.subscriptions() == ["Todos"]
    handle.release()  # the store subscription
    assert not handle.active and client.subscriptions() == []
    assert seen.values == [TODOS] and not seen.completed
