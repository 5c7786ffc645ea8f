"""Stores over real sockets: subscriptions, versions, fan-out, threads, lifecycle."""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING, Any
from unittest.mock import ANY

from hotstate_rx import Server
from hotstate_rx.protocol import (
    Deleted,
    ErrorMessage,
    PatchMessage,
    Snapshot,
    Subscribe,
    Unsubscribe,
)
from hotstate_rx.server.handle import StoreHandle

if TYPE_CHECKING:
    from conftest import Connect, RawClient  # fixture types only: several conftest modules exist


TIMEOUT = 5.0


async def subscribe(client: RawClient, store: str) -> Snapshot:
    await client.send(Subscribe(store))
    snap = await client.recv()
    assert isinstance(snap, Snapshot), snap
    return snap


async def test_sub_snap_patch_versions(server: Server, client: RawClient) -> None:
    todos = server.create_store("Todos", {"items": []})
    snap = await subscribe(client, "Todos")
    assert snap == Snapshot("Todos", 1, {"items": []}, ANY)
    assert todos.subscriber_count() == 1
    todos.update(lambda d: d["items"].append("milk"))
    todos.set({"items": []})
    assert await client.recv() == PatchMessage(
        "Todos", 2, [{"op": "add", "path": "/items/-", "value": "milk"}]
    )
    assert await client.recv() == Snapshot("Todos", 3, {"items": []}, ANY)


async def test_two_clients_get_identical_patch_bytes(
    server: Server, url: str, raw_connect: Connect
) -> None:
    todos = server.create_store("Todos", {"n": 0})
    a, b = await raw_connect(url), await raw_connect(url)
    await subscribe(a, "Todos")
    await subscribe(b, "Todos")
    todos.update(lambda d: d.__setitem__("n", 1))
    assert await a.recv() == await b.recv()
    assert a.frames[-1] == b.frames[-1]


async def test_resubscribe_is_a_resync_with_a_fresh_snapshot(
    server: Server, client: RawClient
) -> None:
    todos = server.create_store("Todos", {"n": 0})
    subscribed: list[str] = []
    server.on("subscribe", lambda name, cid: subscribed.append(name))
    await subscribe(client, "Todos")
    todos.set({"n": 5})
    await client.recv()
    assert await subscribe(client, "Todos") == Snapshot("Todos", 2, {"n": 5}, ANY)
    assert todos.subscriber_count() == 1 and subscribed == ["Todos"]


async def test_unknown_store_is_a_subscribe_error(server: Server, client: RawClient) -> None:
    server.create_store("Room:*", {})
    for name in ("Nope", "Room:"):
        await client.send(Subscribe(name))
        reply = await client.recv()
        assert isinstance(reply, ErrorMessage) and (reply.code, reply.store) == ("subscribe", name)
        assert name in reply.message
    assert server.list_stores() == []


async def test_failing_on_create_is_a_subscribe_error(server: Server, client: RawClient) -> None:
    errors: list[object] = []
    server.on("error", lambda exc, cid: errors.append((str(exc), cid)))
    server.create_store("Room:*", {}).on_create(lambda key: 1 / 0)
    await client.send(Subscribe("Room:a"))
    reply = await client.recv()
    assert isinstance(reply, ErrorMessage) and reply.code == "subscribe"
    assert reply.message.startswith("cannot serve 'Room:a': internal error (ref ")
    assert errors == [("division by zero", client.client_id)]


async def test_200_mutations_from_a_thread_arrive_in_order(
    server: Server, client: RawClient
) -> None:
    counter = server.create_store("Counter", {"n": 0})
    await subscribe(client, "Counter")
    seen_threads: set[int] = set()
    counter.watch(lambda e: seen_threads.add(threading.get_ident()))

    def work() -> None:
        for _ in range(200):
            counter.update(lambda d: d.__setitem__("n", d["n"] + 1))

    await asyncio.to_thread(work)
    patches = [await client.recv() for _ in range(200)]
    assert [p.version for p in patches] == list(range(2, 202))
    assert [p.ops[0]["value"] for p in patches] == list(range(1, 201))
    assert seen_threads == {threading.get_ident()}  # listeners ran on the loop thread


async def test_observe_from_a_thread_reaches_the_loop_thread(server: Server, url: str) -> None:
    todos = server.create_store("Todos", {"n": 0})
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    seen: list[tuple[object, int]] = []

    def on_next(state: object) -> None:
        seen.append((state, threading.get_ident()))
        if state == {"n": 3} and not done.done():
            done.set_result(None)

    todos.observe().subscribe(on_next)
    await asyncio.to_thread(lambda: [todos.set({"n": i}) for i in (1, 2, 3)])
    await asyncio.wait_for(done, TIMEOUT)
    assert [s for s, _ in seen] == [{"n": 0}, {"n": 1}, {"n": 2}, {"n": 3}]
    assert {t for _, t in seen[1:]} == {threading.get_ident()}


async def test_emit_from_a_thread_keeps_order_with_mutations(
    server: Server, client: RawClient
) -> None:
    todos = server.create_store("Todos", {"n": 0})
    await subscribe(client, "Todos")

    def work() -> None:
        todos.set({"n": 1})
        server.emit("saved", {"n": 1})
        todos.set({"n": 2})

    await asyncio.to_thread(work)
    kinds = [type(await client.recv()).__name__ for _ in range(3)]
    assert kinds == ["Snapshot", "EventMessage", "Snapshot"]


async def test_lifecycle_create_reset_create_again(server: Server, client: RawClient) -> None:
    log: list[str] = []
    config: StoreHandle = server.create_store("Config", {"theme": "dark"})
    config.on_create(lambda key: log.append("create") or {"theme": "light"})
    config.on_terminate(lambda key: log.append("terminate"))
    assert await subscribe(client, "Config") == Snapshot("Config", 1, {"theme": "light"}, ANY)
    config.reset()
    assert await client.recv() == Snapshot("Config", 2, {"theme": "dark"}, ANY)
    assert not config.is_initialized()
    config.update(lambda d: d.__setitem__("x", 1))
    assert await client.recv() == Snapshot("Config", 3, {"theme": "light"}, ANY)
    assert isinstance(await client.recv(), PatchMessage)
    assert log == ["create", "terminate", "create"]


async def test_delete_ends_subscriptions_and_a_later_subscribe_recreates(
    server: Server, client: RawClient
) -> None:
    events: list[object] = []
    server.on("store_created", lambda name, key: events.append(("created", name, key)))
    server.on("store_deleted", lambda name: events.append(("deleted", name)))
    rooms = server.create_store("Room:*", {"n": 0}).on_create(lambda key: {"name": key})
    await subscribe(client, "Room:a")
    assert server.list_stores() == ["Room:a"] and server.has_store("Room:a")
    rooms.delete("a")
    assert await client.recv() == Deleted("Room:a")
    assert rooms.subscriber_count("a") == 0 and not server.has_store("Room:a")
    rooms.init("a")  # the client's subscription ended: it gets nothing from this
    server.delete_store("Room:a")
    assert await subscribe(client, "Room:a") == Snapshot("Room:a", 1, {"n": 0, "name": "a"}, ANY)
    assert events == [
        ("created", "Room:a", "a"),
        ("deleted", "Room:a"),
        ("created", "Room:a", "a"),
        ("deleted", "Room:a"),
        ("created", "Room:a", "a"),
    ]


async def test_on_idle_on_unsubscribe_and_on_disconnect(
    server: Server, url: str, raw_connect: Connect
) -> None:
    idle: asyncio.Queue[str | None] = asyncio.Queue()
    events: list[tuple[str, str]] = []
    server.on("unsubscribe", lambda name, cid: events.append(("unsub", name)))
    rooms = server.create_store("Room:*", {}).on_idle(idle.put_nowait)
    a, b = await raw_connect(url), await raw_connect(url)
    await subscribe(a, "Room:x")
    await subscribe(b, "Room:x")
    await a.send(Unsubscribe("Room:x"))
    await b.send(Subscribe("Room:x"))  # a round trip: the unsub was handled before it
    await b.recv()
    assert idle.empty() and rooms.subscriber_count("x") == 1
    await b.ws.close()
    assert await asyncio.wait_for(idle.get(), TIMEOUT) == "x"
    assert rooms.subscriber_count("x") == 0
    assert not rooms.has("x")  # only subscriptions used it: released after on_idle
    assert events == [("unsub", "Room:x"), ("unsub", "Room:x")]
    await subscribe(a, "Room:x")
    await a.send(Unsubscribe("Room:x"))
    assert await asyncio.wait_for(idle.get(), TIMEOUT) == "x"


async def test_connection_events(server: Server, url: str, raw_connect: Connect) -> None:
    gone = asyncio.get_running_loop().create_future()
    joined: list[str] = []
    server.on("connection", joined.append)
    server.on("disconnect", gone.set_result)
    client = await raw_connect(url)
    assert joined == [client.client_id]
    await client.ws.close()
    assert await asyncio.wait_for(gone, TIMEOUT) == client.client_id


async def test_snapshots_are_encoded_once_per_version(
    server: Server, url: str, raw_connect: Connect
) -> None:

    server.create_store("Big", {"items": list(range(1000))})
    clients = [await raw_connect(url) for _ in range(3)]
    for c in clients:
        await subscribe(c, "Big")
    version, frame = server._hub.cached_snapshot("Big") or (None, b"")
    assert version == 1
    assert all(c.frames[-1] == frame for c in clients)


async def test_registry_seams_for_the_rx_layer(server: Server, url: str) -> None:
    """``report`` reaches the ``error`` event; ``on_close`` callbacks run at close."""
    errors: list[tuple[str, str | None]] = []
    server.on("error", lambda exc, cid: errors.append((str(exc), cid)))
    closed: list[str] = []
    server._registry.on_close(lambda: closed.append("kept"))
    off = server._registry.on_close(lambda: closed.append("cancelled"))
    off()
    await asyncio.to_thread(server._registry.report, RuntimeError("sensor failed"))
    server._registry.flush()
    assert errors == [("sensor failed", None)]
    await server.close()
    assert closed == ["kept"]


async def test_on_idle_of_a_static_store_gets_no_key_and_its_failure_is_an_error_event(
    server: Server, client: RawClient
) -> None:
    failed = asyncio.get_running_loop().create_future()
    server.on("error", lambda exc, cid: failed.set_result((exc, cid)))
    problem = RuntimeError("on_idle failed")
    keys: list[str | None] = []

    def on_idle(key: str | None) -> None:
        keys.append(key)
        raise problem

    config = server.create_store("Config", {}).on_idle(on_idle)
    await subscribe(client, "Config")
    await client.send(Unsubscribe("Config"))
    assert await asyncio.wait_for(failed, TIMEOUT) == (problem, None)  # no client to blame
    assert keys == [None]
    assert config.has() and config.subscriber_count() == 0


async def test_a_leaving_client_whose_unsubscribe_changes_a_store_it_watches(
    server: Server, url: str, raw_connect: Connect
) -> None:
    """An "unsubscribe" listener that changes another store the leaving client is
    still subscribed to (what presence does): the change reaches the others, and
    the hub does not trip over the half-closed session (it raised KeyError once)."""
    board = server.create_store("Board", {"left": 0})
    server.create_store("Room", {})
    errors: list[object] = []
    server.on("error", lambda exc, client_id: errors.append(exc))
    server.on("unsubscribe", lambda store, cid: store == "Room" and board.update(_count))
    leaving, staying = await raw_connect(url), await raw_connect(url)
    for client in (leaving, staying):
        for store in ("Room", "Board"):
            await client.send(Subscribe(store))
            await client.recv_until(lambda m: isinstance(m, Snapshot))
    await leaving.ws.close()  # a goodbye: the session ends at once
    seen = await staying.recv_until(lambda m: isinstance(m, PatchMessage))
    assert seen[-1].store == "Board" and seen[-1].version == 2
    assert errors == []


def _count(draft: Any) -> None:
    draft["left"] += 1
