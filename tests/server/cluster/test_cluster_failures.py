"""When Redis stops, pauses or comes back (with or without its data), and what
one client can make the cluster hold: a real redis-server, stopped for real."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from redis_server import RedisServer
from replicas import TIMEOUT, Nodes, reach, redis_client

from hotstate_rx import ClusterUnavailable, Server
from hotstate_rx.protocol import ErrorMessage, Snapshot, Subscribe

TIMEOUT_S = 1.0
"""The nodes' ``cluster_timeout`` here."""
HEADROOM = 2.0
"""Seconds a failure may take beyond ``cluster_timeout`` on a loaded 2-core machine."""


def counter(server: Server) -> None:
    server.create_store("Counter", {"n": 0})
    server.create_store("Room:*", {"messages": []})


def increment(draft: Any) -> None:
    draft["n"] += 1


class Outage:
    """Events for one node's link: Redis lost, Redis back."""

    def __init__(self, server: Server) -> None:
        cluster = server._cluster
        assert cluster is not None
        self.link = cluster.link
        self.lost = asyncio.Event()
        self.back = asyncio.Event()
        cluster.link.on_lost(self.lost.set)
        cluster.on_reconnect(self.back.set)


async def test_writes_fail_within_the_timeout_while_redis_is_paused_then_nodes_converge(
    own_nodes: Nodes, redis_server: RedisServer
) -> None:
    a, b = await own_nodes.listening(2, counter)
    outages = [Outage(a), Outage(b)]
    a.stores["Counter"].update(increment)
    redis_server.pause()
    try:
        started = time.monotonic()
        with pytest.raises(ClusterUnavailable, match="did not answer within 1 s"):
            await asyncio.to_thread(b.stores["Counter"].update, increment)
        assert time.monotonic() - started < TIMEOUT_S + HEADROOM
        for outage in outages:
            await asyncio.wait_for(outage.lost.wait(), TIMEOUT)
        started = time.monotonic()
        with pytest.raises(ClusterUnavailable, match="unreachable"):
            a.stores["Counter"].update(increment)  # known down: no wait at all
        assert time.monotonic() - started < TIMEOUT_S / 2
        assert a.stores["Counter"].get() == {"n": 1}  # reads go on; nothing applied
    finally:
        redis_server.resume()
    for outage in outages:
        await asyncio.wait_for(outage.back.wait(), TIMEOUT)
    a.stores["Counter"].update(increment)
    b.stores["Counter"].update(increment)
    # The write b sent before the pause may have reached Redis: in doubt, but
    # then every node has it, in the same place of the history.
    truth = redis_client(redis_server).hget("hotstate:i:Counter", "v")
    assert truth is not None
    version = int(truth)
    for server in (a, b):
        await reach(server, lambda s=server: s.stores["Counter"].version() == version)
    assert a.stores["Counter"].get() == b.stores["Counter"].get()
    assert a.stores["Counter"].get()["n"] in (3, 4)


async def test_a_node_that_knows_redis_is_down_fails_writes_at_once(nodes: Nodes) -> None:
    (a,) = await nodes.listening(1, counter)
    a.stores["Counter"].init()
    link = Outage(a).link
    link.up = False  # as the link's health check leaves it
    with pytest.raises(
        ClusterUnavailable, match=r"unreachable .* cannot commit a change to store 'Counter'"
    ):
        a.stores["Counter"].update(increment)
    assert a.stores["Counter"].get() == {"n": 0} and a.stores["Counter"].version() == 1
    link.up = True
    a.stores["Counter"].update(increment)
    assert a.stores["Counter"].get() == {"n": 1}


async def test_redis_restarted_with_its_data_nodes_catch_up_by_themselves(
    own_nodes: Nodes, redis_server: RedisServer
) -> None:
    a, b = await own_nodes.listening(2, counter, cluster_timeout=TIMEOUT_S)
    outages = [Outage(a), Outage(b)]
    for _ in range(3):
        a.stores["Counter"].update(increment)
    await reach(b, lambda: b.stores["Counter"].get() == {"n": 3})
    epoch = a.epoch
    redis_server.stop()  # SIGTERM: its AOF is flushed
    for outage in outages:
        await asyncio.wait_for(outage.lost.wait(), TIMEOUT)
    with pytest.raises(ClusterUnavailable):
        b.stores["Counter"].update(increment)
    redis_server.start()
    for outage in outages:
        await asyncio.wait_for(outage.back.wait(), TIMEOUT)
    b.stores["Counter"].update(increment)
    await reach(a, lambda: a.stores["Counter"].get() == {"n": 4})
    assert a.epoch == b.epoch == epoch
    assert a.stores["Counter"].version() == b.stores["Counter"].version()


async def test_redis_restarted_empty_gives_a_new_epoch_and_fresh_stores(
    redis_binary: Path, raw_connect: Any
) -> None:
    with RedisServer(redis_binary, appendonly=False) as redis_server:
        nodes = Nodes(redis_server.url)
        try:
            await restarted_empty(nodes, redis_server, raw_connect)
        finally:
            await nodes.close()


async def restarted_empty(nodes: Nodes, redis_server: RedisServer, raw_connect: Any) -> None:
    a, b = await nodes.listening(2, counter)
    outages = [Outage(a), Outage(b)]
    a.stores["Counter"].update(increment)
    b.stores["Room:*"].update("x", lambda d: d["messages"].append("lost"))
    raw = await raw_connect(f"ws://127.0.0.1:{a.port}")
    await raw.send(Subscribe("Room:x"))
    assert isinstance(await raw.recv(), Snapshot)
    epoch = a.epoch
    redis_server.stop()
    for outage in outages:
        await asyncio.wait_for(outage.lost.wait(), TIMEOUT)
    redis_server.start()  # no persistence: nothing came back
    for outage in outages:
        await asyncio.wait_for(outage.back.wait(), TIMEOUT)
    assert a.epoch == b.epoch != epoch
    deleted = await raw.recv()  # the instance's data is gone: its subscribers are told
    assert deleted.__class__.__name__ == "Deleted"
    for server in (a, b):
        assert server.stores["Counter"].get() == {"n": 0}
        assert not server.has_store("Room:x")
    a.stores["Counter"].update(increment)
    await reach(b, lambda: b.stores["Counter"].get() == {"n": 1})


def instance_keys(redis: Any) -> int:
    """The keys of instances in Redis (hashes and logs; sessions and counts,
    written asynchronously, aside)."""
    return len(redis.keys("hotstate:[il]:*"))


async def test_a_flood_of_new_instances_on_one_node_stays_within_the_limits(
    nodes: Nodes, shared_redis: RedisServer, raw_connect: Any
) -> None:
    cap = 20
    a, b = await nodes.listening(2, counter, max_instances=cap)
    healthy = await raw_connect(f"ws://127.0.0.1:{b.port}")
    await healthy.send(Subscribe("Room:general"))
    assert isinstance(await healthy.recv(), Snapshot)
    redis = redis_client(shared_redis)
    keys_before = instance_keys(redis)
    flood = await raw_connect(f"ws://127.0.0.1:{a.port}")
    for i in range(5 * cap):
        await flood.send(Subscribe(f"Room:flood{i}"))
    answers = [await flood.recv() for _ in range(5 * cap)]
    refused = [m for m in answers if isinstance(m, ErrorMessage)]
    assert len(refused) == 5 * cap - cap
    assert all("too many instances" in m.message for m in refused)
    assert instance_keys(redis) <= keys_before + 2 * cap  # a hash and a log each
    assert len(b._registry.resident()) == 2  # b holds only what its clients use
    b.stores["Room:*"].update("general", lambda d: d["messages"].append("still here"))
    assert (await healthy.recv()).version == 2  # type: ignore[union-attr]
    await flood.ws.close()
    await reach(a, lambda: len(a._registry.resident()) == 1)  # transient instances reclaimed
    assert instance_keys(redis) == keys_before
    assert sorted(b.list_stores()) == ["Counter", "Room:general"]
