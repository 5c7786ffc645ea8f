"""Stores shared by several servers through a real redis-server (API.md §10):
every node and every client sees one history per instance."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest
from redis_server import RedisServer
from replicas import TIMEOUT, Nodes, Seen, reach, redis_client

from hotstate_rx import ClusterConflict, Server
from hotstate_rx.client import Client
from hotstate_rx.protocol import PatchMessage, Snapshot, Subscribe
from hotstate_rx.server.replication import Conflict, Entry


def rooms(server: Server) -> None:
    """The application every node runs: a counter, chat rooms and a function."""
    server.create_store("Counter", {"n": 0})
    room = server.create_store("Room:*", {"messages": []})

    @server.handle("say")
    def say(args: dict[str, str]) -> int:
        room.update(args["room"], lambda d: d["messages"].append(args["text"]))
        return len(room.get(args["room"])["messages"])


def url_of(server: Server) -> str:
    return f"ws://127.0.0.1:{server.port}"


def increment(draft: Any) -> None:
    draft["n"] += 1


def say(server: Server, key: str, text: str) -> None:
    server.stores["Room:*"].update(key, lambda d: d["messages"].append(text))


async def test_clients_on_different_nodes_converge(
    nodes: Nodes, clients: Callable[[str], Client], raw_connect: Any
) -> None:
    a, b = await nodes.listening(2, rooms)
    assert a.epoch == b.epoch
    raws = [await raw_connect(url_of(server)) for server in (a, b)]
    for raw in raws:
        await raw.send(Subscribe("Room:general"))
    first = [await raw.recv() for raw in raws]
    assert all(isinstance(m, Snapshot) for m in first)
    assert first[0] == first[1]  # same version, same state, same epoch
    seen = [Seen() for _ in range(2)]
    for server, record in zip((a, b), seen, strict=True):
        handle = clients(url_of(server)).subscribe("Room:general", record)
        await asyncio.wait_for(handle.ready(), TIMEOUT)
    for i in range(10):  # alternating writers: each write on a copy the other just changed
        say(a if i % 2 == 0 else b, "general", f"m{i}")
    expected = [f"m{i}" for i in range(10)]
    final = first[0].version + 10
    streams = [
        await raw.recv_until(lambda m: isinstance(m, PatchMessage) and m.version == final)
        for raw in raws
    ]
    assert [[m.version for m in s] for s in streams] == [
        list(range(first[0].version + 1, final + 1))
    ] * 2
    assert streams[0] == streams[1]  # the same patches, in the same order
    for record in seen:
        assert (await record.until(lambda s: s["messages"] == expected))["messages"] == expected
    for server in (a, b):
        assert server.stores["Room:*"].get("general") == {"messages": expected}
        assert server.stores["Room:*"].version("general") == final


async def test_a_function_on_one_node_changes_what_clients_of_another_see(
    nodes: Nodes, clients: Callable[[str], Client]
) -> None:
    a, b = await nodes.listening(2, rooms)
    watcher = Seen()
    await asyncio.wait_for(clients(url_of(a)).subscribe("Room:ops", watcher).ready(), TIMEOUT)
    caller = clients(url_of(b))
    assert await caller.call("say", {"room": "ops", "text": "deploy"}) == 1
    assert await caller.call("say", {"room": "ops", "text": "done"}) == 2
    await watcher.until(lambda s: s["messages"] == ["deploy", "done"])
    assert a.stores["Room:*"].subscriber_count("ops") == 1


@pytest.mark.parametrize("count", [2, 3])
async def test_concurrent_updates_of_one_instance_from_every_node_lose_nothing(
    nodes: Nodes, count: int
) -> None:
    servers = await nodes.listening(count, rooms)
    per_thread, threads = 40, 2
    start = threading.Barrier(count * threads)

    def hammer(server: Server) -> None:
        start.wait(TIMEOUT)
        for _ in range(per_thread):
            server.stores["Counter"].update(increment)

    await asyncio.gather(*(asyncio.to_thread(hammer, s) for s in servers for _ in range(threads)))
    total = count * threads * per_thread
    for server in servers:
        await reach(server, lambda s=server: s.stores["Counter"].get() == {"n": total})
    versions = {server.stores["Counter"].version() for server in servers}
    assert len(versions) == 1


async def test_mutate_on_a_copy_another_node_just_changed_raises_a_conflict(
    nodes: Nodes,
) -> None:
    a, b = await nodes.listening(2, rooms)
    b.stores["Counter"].update(increment)
    await reach(a, lambda: a.stores["Counter"].get() == {"n": 1})
    b.stores["Counter"].update(increment)  # a has not heard of it: its loop did not run
    conflict = pytest.raises(ClusterConflict, match="'Counter' was changed by another node")
    with conflict as caught, a.stores["Counter"].mutate() as draft:
        draft["n"] = 100
    assert caught.value.store == "Counter"
    assert a.stores["Counter"].get() == {"n": 2}  # caught up; the block applied nothing
    with a.stores["Counter"].mutate() as draft:  # on a current copy it goes through
        draft["n"] += 1
    await reach(b, lambda: b.stores["Counter"].get() == {"n": 3})


def counted_hooks(redis_server: RedisServer) -> Callable[[Server], None]:
    """``rooms`` whose on_create/on_terminate count their runs in Redis (INCR)."""
    counter = redis_client(redis_server)

    def setup(server: Server) -> None:
        rooms(server)
        room = server.stores["Room:*"]
        room.on_create(
            lambda key: {"messages": [f"created #{counter.incr(f'test:created:{key}')}"]}
        )
        room.on_terminate(lambda key: counter.incr(f"test:terminated:{key}"))

    return setup


async def test_on_create_and_on_terminate_run_once_when_three_nodes_race(
    nodes: Nodes, shared_redis: RedisServer
) -> None:
    servers = await nodes.listening(3, counted_hooks(shared_redis))
    keys = [f"k{i}" for i in range(5)]
    race = threading.Barrier(len(servers))

    def everyone(action: Callable[[Server, str], None]) -> Any:
        def run(server: Server) -> None:
            for key in keys:
                race.wait(TIMEOUT)
                action(server, key)

        return asyncio.gather(*(asyncio.to_thread(run, s) for s in servers))

    await everyone(lambda server, key: server.stores["Room:*"].init(key))
    redis = redis_client(shared_redis)
    for key in keys:
        assert redis.get(f"test:created:{key}") == b"1"
        for server in servers:
            assert server.stores["Room:*"].get(key) == {"messages": ["created #1"]}
    await everyone(lambda server, key: server.stores["Room:*"].delete(key))
    for key in keys:
        assert redis.get(f"test:terminated:{key}") == b"1"
        for server in servers:
            assert not server.stores["Room:*"].has(key)
    assert not set(servers[0].list_stores()) & {f"Room:{k}" for k in keys}


async def test_a_full_cluster_restart_keeps_states_and_versions(
    nodes: Nodes, shared_redis: RedisServer
) -> None:
    setup = counted_hooks(shared_redis)
    a, b = await nodes.listening(2, setup)
    say(a, "general", "hello")
    say(b, "general", "world")
    for _ in range(5):
        a.stores["Counter"].update(increment)
    epoch, version = a.epoch, b.stores["Room:*"].version("general")
    await nodes.close()
    c, d = await nodes.listening(2, setup)
    assert c.epoch == d.epoch == epoch
    for server in (c, d):
        assert server.stores["Room:*"].get("general") == {
            "messages": ["created #1", "hello", "world"]
        }
        assert server.stores["Room:*"].version("general") == version
        assert server.stores["Counter"].get() == {"n": 5}
        assert server.list_stores() == ["Counter", "Room:general"]
    assert redis_client(shared_redis).get("test:created:general") == b"1"
    say(d, "general", "again")
    await reach(c, lambda: c.stores["Room:*"].version("general") == version + 1)


async def test_a_hibernated_replica_leaves_memory_and_its_changes_reach_the_foreign_hook(
    nodes: Nodes,
) -> None:
    a, b = await nodes.listening(2, rooms, hibernate_after=0.05)
    hibernated = asyncio.Event()
    b.on("store_hibernated", lambda name: hibernated.set())
    say(b, "quiet", "one")  # used on b, then idle there
    await asyncio.wait_for(hibernated.wait(), TIMEOUT)
    heard: list[Any] = []
    got = asyncio.Event()
    cluster = b._cluster
    assert cluster is not None
    cluster.on_foreign = lambda change: (heard.append(change), got.set())
    say(a, "quiet", "two")
    await asyncio.wait_for(got.wait(), TIMEOUT)
    change = heard[-1]
    assert (change.store, change.key, change.version) == ("Room:quiet", "quiet", 3)
    assert change.patches == [{"op": "add", "path": "/messages/-", "value": "two"}]
    assert change.epoch.startswith(f"{a.epoch}.")
    assert b.list_stores() == ["Counter", "Room:quiet"]
    assert b.stores["Room:*"].get("quiet") == {"messages": ["one", "two"]}  # loaded back
    assert b.stores["Room:*"].version("quiet") == 3


async def test_a_commit_writes_the_change_not_the_state(
    nodes: Nodes, shared_redis: RedisServer
) -> None:
    big = {"items": [{"id": i, "text": "x" * 90} for i in range(10_000)]}  # about 1 MB
    a, b = await nodes.listening(2, lambda s: s.create_store("Big", big))
    a.stores["Big"].init()
    await reach(b, lambda: b.stores["Big"].version() == 1)
    redis = redis_client(shared_redis)

    def written() -> int:
        return int(redis.info("stats")["total_net_input_bytes"])

    before = written()
    for i in range(100):
        a.stores["Big"].update(lambda d, i=i: d["items"][i * 7].__setitem__("text", f"v{i}"))
    per_update = (written() - before) / 100
    assert per_update < 1024, f"{per_update:.0f} bytes sent to Redis per small update"
    await reach(b, lambda: b.stores["Big"].version() == 101)
    assert b.stores["Big"].get() == a.stores["Big"].get()
    print(f"\n1 MB state, 100 small updates: {per_update:.0f} bytes to Redis per update")


async def test_a_node_that_keeps_losing_races_gets_a_turn(
    nodes: Nodes, shared_redis: RedisServer
) -> None:
    a, b = await nodes.listening(2, rooms)
    a.stores["Counter"].update(increment)  # v1 (on_create), v2
    lifetime = redis_client(shared_redis).hget("hotstate:i:Counter", "lt").decode()
    log_a, log_b = (s._cluster.replication for s in (a, b))  # type: ignore[union-attr]

    def entry(version: int) -> Entry:
        return Entry(version, True, [{"op": "replace", "path": "/n", "value": version}])

    for _ in range(2):  # b writes from a stale copy twice: the second loss takes the turn
        with pytest.raises(Conflict):
            log_b.commit("Counter", 1, lifetime, entry(2), None)
    redis = redis_client(shared_redis)
    turn, until = redis.hmget("hotstate:i:Counter", "turn", "tu")
    assert turn is not None and turn.decode() == log_b._link.node
    assert until is not None
    log_a.commit("Counter", 2, lifetime, entry(3), None)  # current, but b's turn: waits
    seconds, micros = redis.time()  # Redis's clock, the one the turn is kept by
    assert seconds * 1000 + micros // 1000 >= int(until)
    with pytest.raises(Conflict):  # b's turn lapsed unused: a went first
        log_b.commit("Counter", 2, lifetime, entry(3), None)
    log_b.commit("Counter", 3, lifetime, entry(4), None)  # and b's next try is in
    assert redis.hget("hotstate:i:Counter", "turn") is None


async def test_an_on_create_that_raises_leaves_no_claim_behind(
    nodes: Nodes, shared_redis: RedisServer
) -> None:
    failing = True

    def setup(server: Server) -> None:
        rooms(server)

        def create(key: str | None) -> dict[str, Any]:
            if failing:
                raise RuntimeError("the database is not there yet")
            return {"messages": ["ready"]}

        server.stores["Room:*"].on_create(create)

    a, b = await nodes.listening(2, setup)
    with pytest.raises(RuntimeError, match="not there yet"):
        a.stores["Room:*"].init("x")
    assert redis_client(shared_redis).hget("hotstate:i:Room:x", "claim") is None
    failing = False
    b.stores["Room:*"].init("x")  # at once: nobody's claim to wait out
    assert b.stores["Room:*"].get("x") == {"messages": ["ready"]}
    await reach(a, lambda: a.stores["Room:*"].get("x") == {"messages": ["ready"]})
