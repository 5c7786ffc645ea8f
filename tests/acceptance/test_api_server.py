"""API.md §2: the server — stores, registry, functions, events, serving."""

from __future__ import annotations

import asyncio
import inspect
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable
from typing import Any

import msgpack
import pytest
import websockets
from acceptance_helpers import TIMEOUT, Connect, Recorder
from websockets.asyncio.client import connect as ws_connect

from hotstate_rx import Hotstate, RpcError, Server

# -- stores: names and data ---------------------------------------------------------


async def test_create_store_returns_a_handle_reachable_through_stores(server: Server) -> None:
    todos = server.create_store("Todos", {"items": []})
    rooms = server.create_store("Room:*", {"messages": []})
    assert server.stores["Todos"] is todos
    assert server.stores["Room:*"] is rooms


@pytest.mark.parametrize("name", ["Todos", "Room:*"])
async def test_duplicate_name_raises_value_error(server: Server, name: str) -> None:
    server.create_store(name, {})
    with pytest.raises(ValueError):
        server.create_store(name, {})


@pytest.mark.parametrize("name", ["", "*", "Room*", "Ro*om:*", "Room:*x", "Room:**"])
async def test_malformed_name_raises_value_error(server: Server, name: str) -> None:
    with pytest.raises(ValueError):
        server.create_store(name, {})


@pytest.mark.parametrize(
    "data",
    [{"s": {1, 2}}, {"t": (1,)}, {"b": b"x"}, {"o": object()}, {1: "int key"}, {"f": float("nan")}],
)
async def test_non_json_data_raises_type_error(server: Server, data: Any) -> None:
    with pytest.raises(TypeError):
        server.create_store("Bad", data)
    with pytest.raises(TypeError):
        server.create_store("BadRoom:*", data)


# -- the handle table, static and dynamic ---------------------------------------------


class Store:
    """One store seen through the same calls, static (key None) or dynamic."""

    def __init__(self, server: Server, dynamic: bool, defaults: dict[str, Any]) -> None:
        self.name = "Room:*" if dynamic else "Config"
        self.handle = server.create_store(self.name, defaults)
        self.key: str | None = "general" if dynamic else None
        self.full = "Room:general" if dynamic else "Config"
        self.args: tuple[str, ...] = (self.key,) if dynamic else ()

    def __getattr__(self, method: str) -> Callable[..., Any]:
        bound = getattr(self.handle, method)
        return lambda *a, **kw: bound(*self.args, *a, **kw)


@pytest.fixture(params=["static", "dynamic"])
def store(request: pytest.FixtureRequest, server: Server) -> Store:
    return Store(server, request.param == "dynamic", {"theme": "dark", "tags": []})


def add_tag(tag: str) -> Callable[[Any], None]:
    return lambda d: d["tags"].append(tag)


async def test_update_get_set(store: Store) -> None:
    store.update(add_tag("a"))
    assert store.get() == {"theme": "dark", "tags": ["a"]}
    store.set({"theme": "light"})
    assert store.get() == {"theme": "light"}
    store.update(lambda d: d.__setitem__("lang", "pt"))
    assert store.get() == {"theme": "light", "lang": "pt"}


async def test_update_recipe_raising_changes_nothing(store: Store) -> None:
    store.update(add_tag("a"))

    def boom(d: Any) -> None:
        d["tags"].append("b")
        raise RuntimeError("no")

    with pytest.raises(RuntimeError):
        store.update(boom)
    assert store.get() == {"theme": "dark", "tags": ["a"]}


async def test_mutate_context_manager(store: Store) -> None:
    with store.mutate() as d:
        d["theme"] = "light"
        d["tags"].append("x")
    assert store.get() == {"theme": "light", "tags": ["x"]}


async def test_mutate_discards_the_change_on_exception(store: Store) -> None:
    store.init()
    with pytest.raises(ZeroDivisionError), store.mutate() as d:
        d["theme"] = "light"
        d["tags"].append("x")
        _ = 1 / 0
    assert store.get() == {"theme": "dark", "tags": []}


async def test_set_with_non_json_raises_type_error_and_keeps_state(store: Store) -> None:
    store.init()
    with pytest.raises(TypeError):
        store.set({"when": object()})
    with pytest.raises(TypeError):
        store.update(lambda d: d.__setitem__("bad", {1}))
    assert store.get() == {"theme": "dark", "tags": []}


async def test_get_of_uninitialized_returns_raw_defaults_without_on_create(
    store: Store,
) -> None:
    created = []
    store.handle.on_create(lambda key: created.append(key) or {"theme": "custom"})
    if store.key is not None:
        store.init()
        store.reset()
    assert store.get() == {"theme": "dark", "tags": []}
    assert store.is_initialized() is False
    assert created == ([] if store.key is None else ["general"])


async def test_get_of_missing_dynamic_instance_is_none_and_does_not_create(
    server: Server,
) -> None:
    rooms = server.create_store("Room:*", {"messages": []})
    assert rooms.get("nowhere") is None
    assert rooms.has("nowhere") is False
    assert "Room:nowhere" not in server.list_stores()


async def test_has(store: Store, server: Server) -> None:
    if store.key is None:
        assert store.has() is True, "the static instance exists from create_store"
    else:
        assert store.has() is False, "a dynamic instance exists from its first use"
    store.init()
    assert store.has() is True
    store.delete()
    assert store.has() is False
    assert store.full not in server.list_stores()


async def test_get_result_does_not_silently_diverge(
    store: Store, server: Server, url: str, connect: Connect, recorder: Callable[[], Recorder]
) -> None:
    client = await connect()
    seen = recorder()
    client.subscribe(store.full, seen)
    await seen.until()
    state = store.get()
    try:
        state["theme"] = "hacked"
        state["tags"].append("hacked")
    except Exception:  # refusing the mutation is the simple way to keep the promise
        pass
    store.update(lambda d: d.__setitem__("marker", 1))
    latest = await seen.until(lambda s: "marker" in s)
    assert latest == store.get()


async def test_lazy_on_create_runs_on_first_use_not_on_get_or_reset(
    server: Server, url: str, connect: Connect, recorder: Callable[[], Recorder]
) -> None:
    def mutate(h: Any) -> None:
        with h.mutate() as d:
            d["v"] = 3

    uses: dict[str, Callable[[Any], Any]] = {
        "update": lambda h: h.update(lambda d: None),
        "mutate": mutate,
        "set": lambda h: h.set({"v": 2}),
        "init": lambda h: h.init(),
    }
    for use, run in uses.items():
        created: list[Any] = []
        h = server.create_store(f"S{use}", {"v": 1}).on_create(created.append)
        h.get()
        h.reset()
        assert created == [] and h.is_initialized() is False
        run(h)
        assert created == [None], use
        assert h.is_initialized() is True

    created = []
    sub = server.create_store("Sub", {"v": 1}).on_create(created.append)
    client = await connect()
    seen = recorder()
    client.subscribe("Sub", seen)
    await seen.until()
    assert created == [None] and sub.is_initialized()


async def test_lazy_dynamic_on_create_for_each_use(
    server: Server, url: str, connect: Connect, recorder: Callable[[], Recorder]
) -> None:
    created: list[Any] = []
    rooms = server.create_store("Room:*", {"v": 1}).on_create(created.append)
    rooms.update("u", lambda d: None)
    with rooms.mutate("m") as d:
        d["v"] = 2
    rooms.set("s", {"v": 3})
    rooms.init("i")
    rooms.get("g")
    rooms.reset("u")
    client = await connect()
    seen = recorder()
    client.subscribe("Room:sub", seen)
    assert await seen.until() == {"v": 1}
    assert created == ["u", "m", "s", "i", "sub"]


async def test_on_create_runs_once_until_reset(store: Store) -> None:
    created: list[Any] = []
    store.handle.on_create(created.append)
    store.init()
    store.init()
    store.update(add_tag("a"))
    assert created == [store.key]
    store.reset()
    assert created == [store.key]
    store.init()
    assert created == [store.key, store.key]


async def test_on_create_result_is_merged_shallow_over_defaults(store: Store) -> None:
    store.handle.on_create(lambda key: {"theme": "light", "name": key, "tags": ["t"]})
    store.init()
    assert store.get() == {"theme": "light", "tags": ["t"], "name": store.key}


async def test_on_create_returning_none_keeps_defaults(store: Store) -> None:
    store.handle.on_create(lambda key: None)
    store.init()
    assert store.get() == {"theme": "dark", "tags": []}


async def test_each_instance_starts_from_its_own_copy_of_defaults(server: Server) -> None:
    defaults = {"items": [], "meta": {"n": 0}}
    rooms = server.create_store("Room:*", defaults)
    rooms.update("a", lambda d: d["items"].append(1))
    rooms.update("a", lambda d: d["meta"].__setitem__("n", 1))
    rooms.init("b")
    assert rooms.get("b") == {"items": [], "meta": {"n": 0}}
    assert defaults == {"items": [], "meta": {"n": 0}}
    rooms.reset("a")
    assert rooms.get("a") == {"items": [], "meta": {"n": 0}}


async def test_defaults_are_copied_at_create_store(server: Server) -> None:
    defaults = {"items": []}
    rooms = server.create_store("Room:*", defaults)
    config = server.create_store("Config", defaults)
    defaults["items"].append("changed later by the caller")
    rooms.init("a")
    assert rooms.get("a") == {"items": []}
    assert config.get() == {"items": []}


async def test_reset_runs_on_terminate_then_raw_defaults_uninitialized(store: Store) -> None:
    seen: list[Any] = []
    store.handle.on_create(lambda key: {"theme": "created"})
    store.handle.on_terminate(lambda key: seen.append((key, store.get())))
    store.update(add_tag("a"))
    store.reset()
    assert seen == [(store.key, {"theme": "created", "tags": ["a"]})]
    assert store.get() == {"theme": "dark", "tags": []}
    assert store.is_initialized() is False
    assert store.has() is True
    store.init()
    assert store.get() == {"theme": "created", "tags": []}


async def test_delete_runs_on_terminate_removes_and_later_use_recreates(
    store: Store, server: Server
) -> None:
    created: list[Any] = []
    terminated: list[Any] = []
    store.handle.on_create(lambda key: created.append(key) or {"n": len(created)})
    store.handle.on_terminate(lambda key: terminated.append((key, store.get())))
    store.update(add_tag("a"))
    store.delete()
    assert terminated == [(store.key, {"theme": "dark", "tags": ["a"], "n": 1})]
    assert store.has() is False
    assert store.full not in server.list_stores()
    store.update(add_tag("b"))
    assert created == [store.key, store.key]
    assert store.has() is True
    assert store.get() == {"theme": "dark", "tags": ["b"], "n": 2}


async def test_hooks_are_chainable(server: Server) -> None:
    h = server.create_store("Room:*", {})
    assert h.on_create(lambda k: None) is h
    assert h.on_terminate(lambda k: None) is h
    assert h.on_idle(lambda k: None) is h


async def test_hooks_get_none_as_key_for_static_stores(server: Server) -> None:
    keys: list[Any] = []
    h = (
        server.create_store("Config", {})
        .on_create(lambda k: keys.append(("create", k)))
        .on_terminate(lambda k: keys.append(("terminate", k)))
    )
    h.init()
    h.reset()
    assert keys == [("create", None), ("terminate", None)]


async def test_on_idle_when_last_subscriber_unsubscribes_or_disconnects(
    server: Server, url: str, connect: Connect, recorder: Callable[[], Recorder]
) -> None:
    idle = recorder()
    rooms = server.create_store("Room:*", {"v": 0}).on_idle(idle)
    a, b = await connect(), await connect()
    seen_a, seen_b = recorder(), recorder()
    ha = a.subscribe("Room:x", seen_a)
    b.subscribe("Room:x", seen_b)
    await seen_a.until()
    await seen_b.until()
    assert rooms.subscriber_count("x") == 2

    ha.unsubscribe()
    # b is still there: wait for the server to notice a left, then check no idle.
    gone = recorder()
    server.on("unsubscribe", gone)
    await gone.until()
    assert rooms.subscriber_count("x") == 1
    assert idle.items == []

    await b.close()
    assert await idle.until() == "x"
    assert rooms.has("x") is True, "the instance still exists after on_idle"
    assert rooms.subscriber_count("x") == 0


async def test_on_idle_on_unsubscribe_with_static_key_none(
    server: Server, url: str, connect: Connect, recorder: Callable[[], Recorder]
) -> None:
    idle = recorder()
    config = server.create_store("Config", {"v": 0}).on_idle(idle)
    client = await connect()
    seen = recorder()
    h = client.subscribe("Config", seen)
    await seen.until()
    assert config.subscriber_count() == 1
    h.unsubscribe()
    assert await idle.until() is None
    assert config.has() and config.subscriber_count() == 0


async def test_subscriber_count_counts_connected_client_subscriptions(
    server: Server, url: str, connect: Connect, recorder: Callable[[], Recorder]
) -> None:
    todos = server.create_store("Todos", {})
    assert todos.subscriber_count() == 0
    clients = [await connect() for _ in range(3)]
    recs = [recorder() for _ in clients]
    for client, rec in zip(clients, recs, strict=True):
        client.subscribe("Todos", rec)
    for rec in recs:
        await rec.until()
    assert todos.subscriber_count() == 3
    left = recorder()
    server.on("disconnect", left)
    await clients[0].close()
    await left.until()
    assert todos.subscriber_count() == 2


async def test_mutations_from_another_thread_arrive_in_order(
    server: Server, url: str, connect: Connect, recorder: Callable[[], Recorder]
) -> None:
    counter = server.create_store("Counter", {"n": 0, "log": []})
    client = await connect()
    seen = recorder()
    h = client.subscribe("Counter", seen)
    await h.ready()

    def bump(d: Any) -> None:
        d["n"] += 1
        d["log"].append(d["n"])

    def work() -> None:
        for _ in range(200):
            counter.update(bump)

    thread = threading.Thread(target=work)
    thread.start()
    await seen.until(lambda s: s["n"] == 200)
    thread.join()
    values = [s["n"] for s in seen.items]
    assert values == sorted(values) and len(set(values)) == len(values)
    assert h.get_state()["log"] == list(range(1, 201))


async def test_dynamic_store_without_key_is_a_clear_error(server: Server) -> None:
    rooms = server.create_store("Room:*", {})
    with pytest.raises((TypeError, ValueError)):
        rooms.update(lambda d: None)
    with pytest.raises((TypeError, ValueError)):
        rooms.init()


async def test_static_store_with_a_key_is_a_clear_error(server: Server) -> None:
    config = server.create_store("Config", {})
    with pytest.raises((TypeError, ValueError)):
        config.update("key", lambda d: None)
    with pytest.raises((TypeError, ValueError)):
        config.get("key")


async def test_handle_with_a_non_callable_is_a_clear_error(server: Server) -> None:
    with pytest.raises(TypeError, match="x"):
        server.handle("x", 42)


# -- registry -------------------------------------------------------------------------


async def test_registry_accessors(server: Server) -> None:
    terminated: list[Any] = []
    server.create_store("Config", {"theme": "dark"}).on_terminate(terminated.append)
    rooms = server.create_store("Room:*", {}).on_terminate(terminated.append)
    assert server.list_stores() == ["Config"]
    assert server.has_store("Config") is True
    assert server.has_store("Room:general") is False
    rooms.init("general")
    rooms.init("random")
    server.stores["Config"].init()
    assert sorted(server.list_stores()) == ["Config", "Room:general", "Room:random"]
    assert server.has_store("Room:general") is True
    server.delete_store("Room:general")
    assert terminated == ["general"]
    assert server.has_store("Room:general") is False
    server.delete_store("Config")
    assert terminated == ["general", None]
    assert server.list_stores() == ["Room:random"]
    assert server.stores["Config"] is not None, "the name stays registered"


async def test_unknown_name_in_stores_raises_key_error(server: Server) -> None:
    with pytest.raises(KeyError):
        server.stores["Nope"]


# -- functions --------------------------------------------------------------------------


async def test_handlers_in_every_form(server: Server, url: str, connect: Connect) -> None:
    ids = Recorder()
    server.on("connection", ids)

    def plain(args: Any) -> Any:
        return {"plain": args}

    def with_ctx(args: Any, ctx: Any) -> Any:
        return {"ctx": ctx.client_id}

    async def async_plain(args: Any) -> Any:
        await asyncio.sleep(0)
        return args["x"] * 2

    async def async_ctx(args: Any, ctx: Any) -> Any:
        return [args, ctx.client_id]

    server.handle("plain", plain)
    server.handle("ctx", with_ctx)
    server.handle("aplain", async_plain)
    server.handle("actx", async_ctx)

    @server.handle("deco")
    def deco(args: Any) -> Any:
        return "decorated"

    @server.handle("adeco")
    async def adeco(args: Any, ctx: Any) -> Any:
        return None

    assert callable(deco) and deco(None) == "decorated", "the decorator returns the function"

    client = await connect()
    cid = await ids.until()
    assert isinstance(cid, str)
    assert await client.call("plain", {"a": [1]}) == {"plain": {"a": [1]}}
    assert await client.call("plain") == {"plain": None}
    assert await client.call("ctx") == {"ctx": cid}
    assert await client.call("aplain", {"x": 21}) == 42
    assert await client.call("actx", "hi") == ["hi", cid]
    assert await client.call("deco") == "decorated"
    assert await client.call("adeco") is None


async def test_handler_exception_reaches_the_caller_with_its_message(
    server: Server, url: str, connect: Connect
) -> None:
    def fail(args: Any) -> None:
        raise ValueError("the todo does not exist")

    async def afail(args: Any) -> None:
        raise RuntimeError("async boom")

    server.handle("fail", fail)
    server.handle("afail", afail)
    client = await connect()
    with pytest.raises(RpcError) as info:
        await client.call("fail")
    assert str(info.value) == "the todo does not exist"
    with pytest.raises(RpcError) as info:
        await client.call("afail")
    assert str(info.value) == "async boom"
    server.handle("ok", lambda args: "still fine")
    assert await client.call("ok") == "still fine"


async def test_unknown_function_fails_with_an_error_naming_it(
    server: Server, url: str, connect: Connect
) -> None:
    client = await connect()
    with pytest.raises(RpcError) as info:
        await client.call("todos.nonexistent", {})
    assert "todos.nonexistent" in str(info.value)


async def test_handler_returning_non_json_is_an_error_for_the_caller(
    server: Server, url: str, connect: Connect
) -> None:
    server.handle("bad", lambda args: {1, 2})
    server.handle("ok", lambda args: 1)
    client = await connect()
    with pytest.raises(RpcError):
        await client.call("bad", timeout=TIMEOUT)
    assert await client.call("ok") == 1


async def test_mutation_in_handler_reaches_caller_before_result(
    server: Server, url: str, connect: Connect, recorder: Callable[[], Recorder]
) -> None:
    todos = server.create_store("Todos", {"items": []})

    def add(args: Any) -> Any:
        todos.update(lambda d: d["items"].append(args["text"]))
        return len(todos.get()["items"])

    server.handle("todos.add", add)
    client = await connect()
    h = client.subscribe("Todos")
    await h.ready()
    assert await client.call("todos.add", {"text": "milk"}) == 1
    assert h.get_state() == {"items": ["milk"]}


# -- events -----------------------------------------------------------------------------


async def test_emit_broadcast_and_targeted(
    server: Server, url: str, connect: Connect, recorder: Callable[[], Recorder]
) -> None:
    ids = recorder()
    server.on("connection", ids)
    a = await connect()
    id_a = await ids.until()
    b = await connect()
    id_b = await ids.until(lambda i: i != id_a)
    got_a, got_b = recorder(), recorder()
    for client, rec in ((a, got_a), (b, got_b)):
        client.on("alert", lambda data, rec=rec: rec(("alert", data)))
        client.on("notification", lambda data, rec=rec: rec(("notification", data)))

    server.emit("alert", {"message": "Your build finished"}, client_id=id_b)
    server.emit("notification", {"title": "Deployed"})
    await got_a.until(lambda i: i[0] == "notification")
    await got_b.count(2)
    assert got_a.items == [("notification", {"title": "Deployed"})]
    assert got_b.items == [
        ("alert", {"message": "Your build finished"}),
        ("notification", {"title": "Deployed"}),
    ]


async def test_server_on_returns_a_remover(
    server: Server, url: str, connect: Connect, recorder: Callable[[], Recorder]
) -> None:
    first, second = recorder(), recorder()
    remove = server.on("connection", first)
    server.on("connection", second)
    await connect()
    await first.until()
    remove()
    await connect()
    await second.count(2)
    assert len(first.items) == 1


async def test_every_server_event_with_its_arguments(
    server: Server, url: str, connect: Connect, recorder: Callable[[], Recorder]
) -> None:
    rooms = server.create_store("Room:*", {})
    events: dict[str, Recorder] = {}
    for name in (
        "connection",
        "disconnect",
        "subscribe",
        "unsubscribe",
        "store_created",
        "store_deleted",
    ):
        events[name] = recorder()
        server.on(name, events[name])

    client = await connect()
    cid = await events["connection"].until()
    assert isinstance(cid, str)

    seen = recorder()
    h = client.subscribe("Room:general", seen)
    await seen.until()
    assert await events["subscribe"].until() == ("Room:general", cid)
    created = await events["store_created"].until()
    assert created[1] == "general"
    assert created[0] in ("Room", "Room:*", "Room:general")

    h.unsubscribe()
    assert await events["unsubscribe"].until() == ("Room:general", cid)

    rooms.delete("general")
    assert await events["store_deleted"].until() == "Room:general"

    await client.close()
    assert await events["disconnect"].until() == cid


async def test_error_event_for_a_failing_handler_carries_the_caller(
    server: Server, url: str, connect: Connect, recorder: Callable[[], Recorder]
) -> None:
    errors, ids = recorder(), recorder()
    server.on("error", errors)
    server.on("connection", ids)
    problem = KeyError("no such todo")

    def fail(args: Any) -> None:
        raise problem

    server.handle("fail", fail)
    client = await connect()
    with pytest.raises(RpcError):
        await client.call("fail")
    assert await errors.until() == (problem, await ids.until())


async def test_error_event_without_a_client_for_a_failing_hook(
    server: Server, url: str, connect: Connect, recorder: Callable[[], Recorder]
) -> None:
    errors = recorder()
    server.on("error", errors)
    problem = RuntimeError("on_idle failed")

    def idle(key: Any) -> None:
        raise problem

    server.create_store("Config", {}).on_idle(idle)
    client = await connect()
    h = client.subscribe("Config")
    await h.ready()
    h.unsubscribe()
    assert await errors.until() == (problem, None)


async def test_error_event_for_bad_network_input(
    server: Server, url: str, connect: Connect, recorder: Callable[[], Recorder]
) -> None:
    errors = recorder()
    server.on("error", errors)
    server.handle("ping", lambda args: "pong")
    healthy = await connect()
    async with ws_connect(url, ping_interval=None) as ws:
        await ws.send(b"\xc1\xc1 this is not msgpack")
        error, client_id = await errors.until(timeout=1.0)
    assert isinstance(error, BaseException)
    assert client_id is None or isinstance(client_id, str)
    assert await healthy.call("ping") == "pong"


# -- serving ------------------------------------------------------------------------------


def test_listen_and_attach_signatures() -> None:
    listen = inspect.signature(Server.listen).parameters
    assert listen["port"].default == 4400
    assert listen["host"].default == "localhost"
    assert listen["path"].default is None
    assert listen["heartbeat"].default == 30.0
    attach = inspect.signature(Server.attach).parameters
    assert attach["path"].default == "/ws"
    assert attach["heartbeat"].default == 30.0
    assert "client_id" in inspect.signature(Server.emit).parameters
    assert inspect.iscoroutinefunction(Server.listen)
    assert inspect.iscoroutinefunction(Server.close)


async def test_hotstate_returns_a_server() -> None:
    server = Hotstate()
    assert isinstance(server, Server)
    await server.close()


async def test_listen_returns_when_accepting_and_sets_port(server: Server) -> None:
    await server.listen(port=0, host="127.0.0.1")
    assert isinstance(server.port, int) and server.port > 0
    async with ws_connect(f"ws://127.0.0.1:{server.port}", ping_interval=None) as ws:
        assert ws.state.name == "OPEN"


async def test_path_none_accepts_every_path(server: Server, url: str, connect: Connect) -> None:
    server.handle("ping", lambda args: "pong")
    for path in ("/", "/ws", "/any/deep/path"):
        client = await connect(to=url + path)
        assert await client.call("ping") == "pong"


async def test_path_restricts_the_endpoint(server: Server, connect: Connect) -> None:
    server.handle("ping", lambda args: "pong")
    await server.listen(port=0, host="127.0.0.1", path="/ws")
    base = f"ws://127.0.0.1:{server.port}"
    client = await connect(to=base + "/ws")
    assert await client.call("ping") == "pong"
    with pytest.raises((websockets.exceptions.InvalidHandshake, websockets.ConnectionClosed)):
        async with ws_connect(base + "/elsewhere", ping_interval=None) as ws:
            await asyncio.wait_for(ws.recv(), TIMEOUT)


async def _silent_peer(url: str) -> websockets.asyncio.client.ClientConnection:
    """A peer that says hello (PROTOCOL.md) then never answers a heartbeat."""
    ws = await ws_connect(url, ping_interval=None)
    await ws.send(msgpack.packb({"t": "hello", "pv": 1}))
    return ws


async def test_heartbeat_drops_a_silent_peer_and_zero_disables_it() -> None:
    beating, quiet = Hotstate(), Hotstate()
    try:
        await beating.listen(port=0, host="127.0.0.1", heartbeat=0.05)
        await quiet.listen(port=0, host="127.0.0.1", heartbeat=0)
        dropped, quiet_dropped = Recorder(), Recorder()
        beating.on("disconnect", dropped)
        quiet.on("disconnect", quiet_dropped)
        ws_quiet = await _silent_peer(f"ws://127.0.0.1:{quiet.port}")
        ws_beat = await _silent_peer(f"ws://127.0.0.1:{beating.port}")
        await dropped.until()
        assert quiet_dropped.items == []
        hello = msgpack.unpackb(await asyncio.wait_for(ws_quiet.recv(), TIMEOUT))
        quiet.emit("still-there", 1)
        frames = [msgpack.unpackb(await asyncio.wait_for(ws_quiet.recv(), TIMEOUT))]
        assert hello["t"] == "hello"
        assert [f["t"] for f in frames] == ["evt"], "no ping when heartbeat=0"
        await ws_quiet.close()
        await ws_beat.close()
    finally:
        await beating.close()
        await quiet.close()


async def test_close_stops_listening_and_closes_connections(
    connect: Connect, recorder: Callable[[], Recorder]
) -> None:
    server = Hotstate()
    await server.listen(port=0, host="127.0.0.1")
    port = server.port
    client = await connect(to=f"ws://127.0.0.1:{port}", reconnect=False)
    gone = recorder()
    client.on("disconnected", gone)
    await server.close()
    await gone.until()
    with pytest.raises(OSError):
        await ws_connect(f"ws://127.0.0.1:{port}", open_timeout=TIMEOUT)


# -- attach and asgi (uvicorn in-process on port 0) ---------------------------------------


class Uvicorn:
    """uvicorn in this loop on a socket bound beforehand, so the port is known at once
    and early connections wait in the backlog (uvicorn has no "started" event)."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        config = uvicorn.Config(app, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> int:
        self.task = asyncio.create_task(self.server.serve(sockets=[self.sock]))
        return self.sock.getsockname()[1]

    async def __aexit__(self, *exc: object) -> None:
        self.server.should_exit = True
        if self.task is not None:
            await asyncio.wait_for(self.task, TIMEOUT)
        self.sock.close()


async def _check_store_over(client_url: str, connect: Connect) -> None:
    client = await connect(to=client_url)
    h = client.subscribe("Todos")
    await asyncio.wait_for(h.ready(), TIMEOUT)
    assert h.get_state() == {"items": ["x"]}
    assert await client.call("ping") == "pong"


@pytest.mark.parametrize("framework", ["starlette", "fastapi"])
async def test_attach_shares_the_port_of_a_starlette_family_app(
    server: Server, connect: Connect, framework: str
) -> None:
    import httpx

    if framework == "starlette":
        from starlette.applications import Starlette
        from starlette.responses import JSONResponse
        from starlette.routing import Route

        async def health(request: Any) -> JSONResponse:
            return JSONResponse({"ok": True})

        app: Any = Starlette(routes=[Route("/api/health", health)])
    else:
        from fastapi import FastAPI

        app = FastAPI()

        @app.get("/api/health")
        def health_route() -> dict[str, bool]:
            return {"ok": True}

    server.create_store("Todos", {"items": ["x"]})
    server.handle("ping", lambda args: "pong")
    server.attach(app, path="/ws")
    async with Uvicorn(app) as port:
        async with httpx.AsyncClient() as http:
            response = await http.get(f"http://127.0.0.1:{port}/api/health")
        assert response.json() == {"ok": True}
        await _check_store_over(f"ws://127.0.0.1:{port}/ws", connect)


async def test_asgi_is_a_plain_asgi_app(server: Server, connect: Connect) -> None:
    server.create_store("Todos", {"items": ["x"]})
    server.handle("ping", lambda args: "pong")
    async with Uvicorn(server.asgi) as port:
        await _check_store_over(f"ws://127.0.0.1:{port}/", connect)


# -- run() blocks until interrupted, then closes cleanly ----------------------------------

RUN_SCRIPT = """
import sys
from hotstate_rx import Hotstate
server = Hotstate()
server.create_store("Todos", {"items": ["from run"]})
server.run(port=int(sys.argv[1]), host="127.0.0.1", heartbeat=0)
print("run returned", flush=True)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_run_blocks_until_interrupted_then_closes_cleanly(
    new_client: Callable[..., Any], recorder: Callable[[], Recorder]
) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        RUN_SCRIPT,
        str(port),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    try:
        client = new_client(reconnect=True, reconnect_delay=0.05, reconnect_max=0.1)
        h = client.subscribe("Todos")
        gone = recorder()
        client.on("disconnected", gone)
        client.connect(f"ws://127.0.0.1:{port}")
        await asyncio.wait_for(h.ready(), 15)
        assert h.get_state() == {"items": ["from run"]}
        proc.send_signal(signal.SIGINT)
        out, err = await asyncio.wait_for(proc.communicate(), 10)
        await gone.until()
        assert proc.returncode == 0, err.decode()
        assert b"Traceback" not in err, err.decode()
        assert out.decode().strip() == "run returned"
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


# -- what subscribers get on the wire (PROTOCOL.md message types) ---------------------------


async def test_update_and_mutate_send_patches_set_sends_a_snapshot(
    server: Server, url: str
) -> None:
    config = server.create_store("Config", {"theme": "dark", "big": list(range(50))})
    async with ws_connect(url, ping_interval=None) as ws:

        async def recv() -> dict[str, Any]:
            while True:
                msg = msgpack.unpackb(await asyncio.wait_for(ws.recv(), TIMEOUT))
                if msg["t"] == "ping":
                    await ws.send(msgpack.packb({"t": "pong"}))
                    continue
                return msg

        await ws.send(msgpack.packb({"t": "hello", "pv": 1}))
        assert (await recv())["t"] == "hello"
        await ws.send(msgpack.packb({"t": "sub", "s": "Config"}))
        assert (await recv())["t"] == "snap"
        config.update(lambda d: d.__setitem__("theme", "light"))
        patch = await recv()
        assert patch["t"] == "patch"
        assert patch["p"] == [{"op": "replace", "path": "/theme", "value": "light"}]
        with config.mutate() as d:
            d["lang"] = "pt"
        assert (await recv())["p"] == [{"op": "add", "path": "/lang", "value": "pt"}]
        config.set({"theme": "dark"})
        snap = await recv()
        assert snap["t"] == "snap" and snap["d"] == {"theme": "dark"}
