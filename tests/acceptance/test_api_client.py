"""API.md §3: the client — connect, subscribe, call, events, reconnect, destroy."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

import pytest
from acceptance_helpers import TIMEOUT, Connect, Recorder

from hotstate_rx import (
    Disconnected,
    Hotstate,
    HotstateError,
    RpcError,
    RpcTimeout,
    Server,
    SubscriptionError,
)
from hotstate_rx.client import Client

Rec = Callable[[], Recorder]

# -- construction and connection -----------------------------------------------------


def test_client_signatures() -> None:
    params = inspect.signature(Client).parameters
    assert params["reconnect"].default is True
    assert params["reconnect_delay"].default == 1.0
    assert params["reconnect_max"].default == 10.0
    assert params["rpc_timeout"].default == 10.0
    call = inspect.signature(Client.call).parameters
    assert list(call)[1:3] == ["name", "args"]
    assert call["args"].default is None
    for name in ("store", "optimistic", "timeout"):
        assert call[name].kind is inspect.Parameter.KEYWORD_ONLY
        assert call[name].default is None
    subscribe = inspect.signature(Client.subscribe).parameters
    assert subscribe["on_change"].default is None
    assert inspect.iscoroutinefunction(Client.call)
    assert inspect.iscoroutinefunction(Client.ready)
    assert inspect.iscoroutinefunction(Client.close)
    assert not inspect.iscoroutinefunction(Client.destroy)


def test_connect_needs_a_running_loop() -> None:
    client = Client()
    with pytest.raises(RuntimeError):
        client.connect("ws://127.0.0.1:9")


async def test_connect_and_ready(
    server: Server, url: str, new_client: Callable[..., Client]
) -> None:
    server.handle("ping", lambda args: "pong")
    client = new_client()
    client.connect(url)
    await asyncio.wait_for(client.ready(), TIMEOUT)
    assert await client.call("ping") == "pong"


async def test_url_in_constructor_connects_at_once(
    server: Server, url: str, new_client: Callable[..., Client]
) -> None:
    server.handle("ping", lambda args: "pong")
    client = new_client(url)
    await asyncio.wait_for(client.ready(), TIMEOUT)
    assert await client.call("ping") == "pong"


async def test_ready_implies_no_data(
    server: Server, url: str, new_client: Callable[..., Client]
) -> None:
    server.create_store("Todos", {"items": []})
    client = new_client(url)
    await asyncio.wait_for(client.ready(), TIMEOUT)
    h = client.subscribe("Todos")
    assert h.get_state() is None and h.has_data() is False
    await asyncio.wait_for(h.ready(), TIMEOUT)
    assert h.has_data() is True


# -- subscriptions ---------------------------------------------------------------------


async def test_subscribe_before_connect(
    server: Server, url: str, new_client: Callable[..., Client], recorder: Rec
) -> None:
    server.create_store("Todos", {"items": [1]})
    client = new_client()
    seen = recorder()
    h = client.subscribe("Todos", seen)
    assert h.get_state() is None
    assert h.get_server_state() is None
    assert h.has_data() is False
    client.connect(url)
    await asyncio.wait_for(h.ready(), TIMEOUT)
    assert h.get_state() == {"items": [1]}
    assert h.get_server_state() == {"items": [1]}
    assert seen.items == [{"items": [1]}]


async def test_subscribe_after_connect_and_on_change_on_every_change(
    server: Server, url: str, connect: Connect, recorder: Rec
) -> None:
    todos = server.create_store("Todos", {"items": []})
    client = await connect()
    seen = recorder()
    h = client.subscribe("Todos", seen)
    await h.ready()
    todos.update(lambda d: d["items"].append("a"))
    todos.set({"items": ["replaced"]})
    todos.update(lambda d: d["items"].append("b"))
    await seen.count(4)
    assert seen.items == [
        {"items": []},
        {"items": ["a"]},
        {"items": ["replaced"]},
        {"items": ["replaced", "b"]},
    ]
    assert h.get_state() == {"items": ["replaced", "b"]}


async def test_keyword_names_of_subscribe_and_call(
    server: Server, url: str, connect: Connect, recorder: Rec
) -> None:
    server.create_store("Todos", {"n": 1})
    server.handle("echo", lambda args: args)
    client = await connect()
    seen = recorder()
    h = client.subscribe("Todos", on_change=seen)
    await h.ready()
    assert seen.items == [{"n": 1}]
    assert await client.call("echo", args={"x": 1}, timeout=TIMEOUT) == {"x": 1}
    assert await client.call(name="echo") is None


async def test_dynamic_instance_subscription(server: Server, url: str, connect: Connect) -> None:
    server.create_store("Room:*", {"messages": []}).on_create(lambda k: {"name": k})
    client = await connect()
    h = client.subscribe("Room:general")
    await h.ready()
    assert h.get_state() == {"messages": [], "name": "general"}


@pytest.mark.parametrize("name", ["Nope", "Room:", "Nope:x"])
async def test_unknown_store_rejects_ready_and_emits_error(
    server: Server, url: str, connect: Connect, recorder: Rec, name: str
) -> None:
    server.create_store("Room:*", {})
    client = await connect()
    errors = recorder()
    client.on("error", errors)
    h = client.subscribe(name)
    with pytest.raises(SubscriptionError):
        await asyncio.wait_for(h.ready(), TIMEOUT)
    await errors.until()
    assert h.has_data() is False


async def test_unsubscribe_stops_updates_and_handles_are_independent(
    server: Server, url: str, connect: Connect, recorder: Rec
) -> None:
    todos = server.create_store("Todos", {"n": 0})
    client = await connect()
    seen1, seen2 = recorder(), recorder()
    h1 = client.subscribe("Todos", seen1)
    h2 = client.subscribe("Todos", seen2)
    await h1.ready()
    await h2.ready()
    todos.update(lambda d: d.__setitem__("n", 1))
    await seen1.until(lambda s: s["n"] == 1)
    await seen2.until(lambda s: s["n"] == 1)

    h1.unsubscribe()
    todos.update(lambda d: d.__setitem__("n", 2))
    await seen2.until(lambda s: s["n"] == 2)
    assert [s["n"] for s in seen1.items] == [0, 1]
    assert h2.get_state() == {"n": 2}

    h3 = client.subscribe("Todos")
    await h3.ready()
    assert h3.get_state() == {"n": 2}
    h2.unsubscribe()
    todos.update(lambda d: d.__setitem__("n", 3))
    await asyncio.wait_for(_until_state(h3, {"n": 3}), TIMEOUT)
    assert [s["n"] for s in seen2.items] == [0, 1, 2]


async def _until_state(h: Any, expected: Any) -> None:
    done = asyncio.Event()
    sub = h.subscribe(lambda s: done.set() if s == expected else None)
    try:
        await done.wait()
    finally:
        sub.dispose()


async def test_unsubscribing_every_handle_frees_the_server_subscription(
    server: Server, url: str, connect: Connect, recorder: Rec
) -> None:
    todos = server.create_store("Todos", {})
    gone = recorder()
    server.on("unsubscribe", gone)
    client = await connect()
    h = client.subscribe("Todos")
    await h.ready()
    assert todos.subscriber_count() == 1
    h.unsubscribe()
    await gone.until()
    assert todos.subscriber_count() == 0


# -- calls -------------------------------------------------------------------------------


async def test_call_result_and_errors(server: Server, url: str, connect: Connect) -> None:
    server.handle("add", lambda args: args["a"] + args["b"])

    def fail(args: Any) -> None:
        raise ValueError("Not allowed")

    server.handle("fail", fail)
    client = await connect()
    assert await client.call("add", {"a": 1, "b": 2}) == 3
    with pytest.raises(RpcError) as info:
        await client.call("fail")
    assert str(info.value) == "Not allowed"
    assert isinstance(info.value, HotstateError)


async def test_call_timeout_per_call_and_default(
    server: Server, url: str, connect: Connect, gate: asyncio.Event
) -> None:
    async def slow(args: Any) -> str:
        await gate.wait()
        return "late"

    server.handle("slow", slow)
    client = await connect()
    with pytest.raises(RpcTimeout) as info:
        await client.call("slow", timeout=0.05)
    assert str(info.value) == "RPC timeout"
    assert isinstance(info.value, HotstateError)

    quick = await connect(rpc_timeout=0.05)
    with pytest.raises(RpcTimeout, match=r"^RPC timeout$"):
        await quick.call("slow")


async def test_pending_call_rejects_with_disconnected_on_destroy(
    server: Server, url: str, connect: Connect, gate: asyncio.Event, recorder: Rec
) -> None:
    entered = recorder()

    async def slow(args: Any) -> str:
        entered(args)
        await gate.wait()
        return "late"

    server.handle("slow", slow)
    client = await connect()
    call = asyncio.create_task(client.call("slow", 1))
    await entered.until()
    result = client.destroy()
    assert not inspect.isawaitable(result)
    with pytest.raises(Disconnected) as info:
        await asyncio.wait_for(call, TIMEOUT)
    assert str(info.value) == "Disconnected"
    assert isinstance(info.value, HotstateError)


async def test_pending_call_rejects_with_disconnected_when_server_goes(
    connect: Connect, gate: asyncio.Event, recorder: Rec
) -> None:
    server = Hotstate()
    entered = recorder()

    async def slow(args: Any) -> str:
        entered(args)
        await gate.wait()
        return "late"

    server.handle("slow", slow)
    await server.listen(port=0, host="127.0.0.1")
    try:
        client = await connect(to=f"ws://127.0.0.1:{server.port}", reconnect=False)
        call = asyncio.create_task(client.call("slow", 1))
        await entered.until()
    finally:
        await server.close()
    with pytest.raises(Disconnected, match=r"^Disconnected$"):
        await asyncio.wait_for(call, TIMEOUT)


async def test_call_after_destroy_fails_with_disconnected(
    server: Server, url: str, connect: Connect
) -> None:
    server.handle("ping", lambda args: "pong")
    client = await connect()
    client.destroy()
    with pytest.raises(Disconnected):
        await asyncio.wait_for(client.call("ping"), TIMEOUT)


# -- optimistic calls -----------------------------------------------------------------------


@pytest.fixture
async def todo_server(server: Server, url: str, gate: asyncio.Event) -> tuple[Server, Recorder]:
    """``todos.add`` waits for ``gate``; ``args["fail"]`` makes it raise."""
    todos = server.create_store("Todos", {"items": [{"id": 1, "text": "old"}]})
    entered = Recorder()

    async def add(args: Any) -> dict[str, int]:
        entered(args)
        await gate.wait()
        if args.get("fail"):
            raise ValueError("rejected")
        new_id = len(todos.get()["items"]) + 1
        todos.update(lambda d: d["items"].append({"id": new_id, "text": args["text"]}))
        return {"id": new_id}

    server.handle("todos.add", add)
    return server, entered


def optimistic_add(state: Any) -> Any:
    return {**state, "items": [*state["items"], {"id": "temp", "text": "New"}]}


async def test_optimistic_view_until_the_server_answers(
    todo_server: tuple[Server, Recorder], connect: Connect, gate: asyncio.Event
) -> None:
    _, entered = todo_server
    client = await connect()
    h = client.subscribe("Todos")
    await h.ready()
    call = asyncio.create_task(
        client.call("todos.add", {"text": "New"}, store="Todos", optimistic=optimistic_add)
    )
    await entered.until()
    assert h.get_state() == {"items": [{"id": 1, "text": "old"}, {"id": "temp", "text": "New"}]}
    assert h.get_server_state() == {"items": [{"id": 1, "text": "old"}]}
    gate.set()
    assert await asyncio.wait_for(call, TIMEOUT) == {"id": 2}
    confirmed = {"items": [{"id": 1, "text": "old"}, {"id": 2, "text": "New"}]}
    assert h.get_state() == confirmed
    assert h.get_server_state() == confirmed


async def test_optimistic_view_rolls_back_on_failure(
    todo_server: tuple[Server, Recorder], connect: Connect, gate: asyncio.Event
) -> None:
    _, entered = todo_server
    client = await connect()
    h = client.subscribe("Todos")
    await h.ready()
    call = asyncio.create_task(
        client.call(
            "todos.add", {"text": "New", "fail": True}, store="Todos", optimistic=optimistic_add
        )
    )
    await entered.until()
    assert len(h.get_state()["items"]) == 2
    gate.set()
    with pytest.raises(RpcError, match="rejected"):
        await asyncio.wait_for(call, TIMEOUT)
    assert h.get_state() == {"items": [{"id": 1, "text": "old"}]}
    assert h.get_state() == h.get_server_state()


async def test_optimistic_view_rolls_back_on_timeout(
    todo_server: tuple[Server, Recorder], connect: Connect, recorder: Rec
) -> None:
    client = await connect()
    seen = recorder()
    h = client.subscribe("Todos", seen)
    await h.ready()
    with pytest.raises(RpcTimeout):
        await client.call(
            "todos.add", {"text": "New"}, store="Todos", optimistic=optimistic_add, timeout=0.1
        )
    assert h.get_state() == {"items": [{"id": 1, "text": "old"}]}
    assert seen.items[-1] == {"items": [{"id": 1, "text": "old"}]}


async def test_optimistic_view_rolls_back_on_disconnect(
    todo_server: tuple[Server, Recorder], connect: Connect
) -> None:
    _, entered = todo_server
    client = await connect()
    h = client.subscribe("Todos")
    await h.ready()
    call = asyncio.create_task(
        client.call("todos.add", {"text": "New"}, store="Todos", optimistic=optimistic_add)
    )
    await entered.until()
    client.destroy()
    with pytest.raises(Disconnected):
        await asyncio.wait_for(call, TIMEOUT)
    assert h.get_state() == {"items": [{"id": 1, "text": "old"}]}


# -- events and lifecycle channels ----------------------------------------------------------------


async def test_on_returns_an_unsubscribe_function(
    server: Server, url: str, connect: Connect, recorder: Rec
) -> None:
    client = await connect()
    first, marker = recorder(), recorder()
    off = client.on("news", first)
    client.on("news", marker)
    server.emit("news", {"n": 1})
    await marker.count(1)
    off()
    server.emit("news", {"n": 2})
    await marker.count(2)
    assert first.items == [{"n": 1}]
    assert marker.items == [{"n": 1}, {"n": 2}]


async def test_connected_and_disconnected_channels(
    connect: Connect, new_client: Callable[..., Client], recorder: Rec
) -> None:
    server = Hotstate()
    await server.listen(port=0, host="127.0.0.1")
    try:
        client = new_client(reconnect=False)
        connected, disconnected = recorder(), recorder()
        client.on("connected", connected)
        client.on("disconnected", disconnected)
        client.connect(f"ws://127.0.0.1:{server.port}")
        await connected.until()
        await asyncio.wait_for(client.ready(), TIMEOUT)
    finally:
        await server.close()
    await disconnected.until()


async def test_store_deleted_channel_and_handles_stop_receiving(
    server: Server, url: str, connect: Connect, recorder: Rec
) -> None:
    rooms = server.create_store("Room:*", {"n": 0})
    client = await connect()
    deleted, seen = recorder(), recorder()
    client.on("store_deleted", deleted)
    h = client.subscribe("Room:general", seen)
    await h.ready()
    rooms.delete("general")
    assert await deleted.until() == "Room:general"
    count = len(seen.items)

    rooms.update("general", lambda d: d.__setitem__("n", 1))
    fresh = client.subscribe("Room:general")
    await fresh.ready()
    rooms.update("general", lambda d: d.__setitem__("n", 2))
    await asyncio.wait_for(_until_state(fresh, {"n": 2}), TIMEOUT)
    assert len(seen.items) == count, "a handle of a deleted store stops receiving updates"


# -- reconnect ----------------------------------------------------------------------------------


async def test_reconnect_resyncs_after_a_server_restart_on_the_same_port(
    new_client: Callable[..., Client], recorder: Rec
) -> None:
    first = Hotstate()
    first.create_store("Todos", {"items": ["a", "b", "c"]})
    first.create_store("Other", {"v": 1})
    await first.listen(port=0, host="127.0.0.1")
    port = first.port
    second = Hotstate()
    try:
        client = new_client(reconnect_delay=0.02, reconnect_max=0.1)
        seen, status = recorder(), recorder()
        reconnecting, connected = recorder(), recorder()
        client.on("reconnecting", reconnecting)
        client.on("connected", connected)
        h = client.subscribe("Todos", seen)
        other = client.subscribe("Other")
        client.connect(f"ws://127.0.0.1:{port}")
        await asyncio.wait_for(h.ready(), TIMEOUT)
        await asyncio.wait_for(other.ready(), TIMEOUT)
        client.status.subscribe(status)
        first.stores["Todos"].update(lambda d: d["items"].append("d"))
        await seen.until(lambda s: len(s["items"]) == 4)

        await first.close()
        await reconnecting.until()
        await status.until(lambda s: s == "reconnecting")
        before = len(seen.items)

        todos = second.create_store("Todos", {"items": []})
        second.create_store("Other", {"v": 2})
        for i in range(5):  # version 5 in the new server: more than the client held
            todos.update(lambda d, i=i: d["items"].append(f"x{i}"))
        await second.listen(port=port, host="127.0.0.1")
        await connected.count(2)
        expected = {"items": [f"x{i}" for i in range(5)]}
        await seen.until(lambda s: s == expected)
        await asyncio.wait_for(_until_state(other, {"v": 2}), TIMEOUT)
        todos.update(lambda d: d["items"].append("live"))
        await seen.until(lambda s: s["items"][-1:] == ["live"])
        after = seen.items[before:]
        assert all(all(i.startswith("x") or i == "live" for i in s["items"]) for s in after), (
            "the client showed a state that mixed the old server's data with the new one's"
        )
        assert h.get_state() == {"items": [*expected["items"], "live"]}
        await status.until(lambda s: s == "connected")
    finally:
        await first.close()
        await second.close()


async def test_stale_optimistic_state_is_dropped_on_reconnect(
    new_client: Callable[..., Client], recorder: Rec, gate: asyncio.Event
) -> None:
    first = Hotstate()
    entered = recorder()

    async def add(args: Any) -> None:
        entered(args)
        await gate.wait()

    first.handle("todos.add", add)
    first.create_store("Todos", {"items": []})
    await first.listen(port=0, host="127.0.0.1")
    port = first.port
    second = Hotstate()
    try:
        client = new_client(reconnect_delay=0.02, reconnect_max=0.1)
        connected = recorder()
        client.on("connected", connected)
        h = client.subscribe("Todos")
        client.connect(f"ws://127.0.0.1:{port}")
        await asyncio.wait_for(h.ready(), TIMEOUT)
        call = asyncio.create_task(
            client.call("todos.add", {}, store="Todos", optimistic=optimistic_add)
        )
        await entered.until()
        assert h.get_state()["items"] == [{"id": "temp", "text": "New"}]
        await first.close()
        with pytest.raises(Disconnected):
            await asyncio.wait_for(call, TIMEOUT)
        second.create_store("Todos", {"items": ["server"]})
        await second.listen(port=port, host="127.0.0.1")
        await connected.count(2)
        await asyncio.wait_for(_until_state(h, {"items": ["server"]}), TIMEOUT)
        assert h.get_state() == h.get_server_state() == {"items": ["server"]}
    finally:
        await first.close()
        await second.close()


async def test_no_reconnect_when_disabled(new_client: Callable[..., Client], recorder: Rec) -> None:
    server = Hotstate()
    await server.listen(port=0, host="127.0.0.1")
    client = new_client(reconnect=False)
    reconnecting, statuses = recorder(), recorder()
    client.on("reconnecting", reconnecting)
    client.connect(f"ws://127.0.0.1:{server.port}")
    await asyncio.wait_for(client.ready(), TIMEOUT)
    client.status.subscribe(statuses)
    await server.close()
    await statuses.until(lambda s: s == "disconnected")
    assert reconnecting.items == []
    assert "reconnecting" not in statuses.items


# -- destroy and close ----------------------------------------------------------------------------


async def test_destroy_disconnects_and_stops_reconnecting(
    server: Server, url: str, connect: Connect, recorder: Rec
) -> None:
    left = recorder()
    server.on("disconnect", left)
    client = await connect(reconnect_delay=0.01, reconnect_max=0.02)
    reconnecting, statuses = recorder(), recorder()
    client.on("reconnecting", reconnecting)
    client.status.subscribe(statuses)
    client.destroy()
    await left.until()
    await statuses.until(lambda s: s == "disconnected")
    assert reconnecting.items == []
    assert "reconnecting" not in statuses.items


async def test_close_is_awaitable_and_waits(
    server: Server, url: str, connect: Connect, recorder: Rec
) -> None:
    left = recorder()
    server.on("disconnect", left)
    client = await connect()
    statuses = recorder()
    client.status.subscribe(statuses)
    await client.close()
    assert statuses.items == ["connected", "disconnected"]
    await left.until()


# -- what subscribers see of the server's lifecycle --------------------------------------------


async def test_subscribers_see_a_reset_to_the_raw_defaults(
    server: Server, url: str, connect: Connect, recorder: Rec
) -> None:
    rooms = server.create_store("Room:*", {"messages": []}).on_create(lambda k: {"name": k})
    client = await connect()
    seen = recorder()
    client.subscribe("Room:x", seen)
    await seen.until()
    rooms.update("x", lambda d: d["messages"].append("hi"))
    rooms.reset("x")
    assert await seen.until(lambda s: s == {"messages": []}) == {"messages": []}


async def test_subscribing_to_a_deleted_static_store_creates_it_again(
    server: Server, url: str, connect: Connect, recorder: Rec
) -> None:
    created: list[Any] = []
    config = server.create_store("Config", {"theme": "dark"}).on_create(
        lambda k: created.append(k) or {"n": len(created)}
    )
    config.init()
    config.delete()
    client = await connect()
    h = client.subscribe("Config")
    await asyncio.wait_for(h.ready(), TIMEOUT)
    assert h.get_state() == {"theme": "dark", "n": 2}
    assert config.has() and created == [None, None]


async def test_deleting_a_static_store_tells_its_subscribers(
    server: Server, url: str, connect: Connect, recorder: Rec
) -> None:
    config = server.create_store("Config", {})
    client = await connect()
    deleted = recorder()
    client.on("store_deleted", deleted)
    h = client.subscribe("Config")
    await h.ready()
    server.delete_store("Config")
    assert await deleted.until() == "Config"
    assert config.has() is False
