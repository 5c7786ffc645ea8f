"""Membership: subscriber counts summed over live nodes, on_idle once in the
cluster, a dead node's subscribers gone with it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import redis
from cluster_helpers import TIMEOUT, MakeClient, Recorder, StartNode

from hotstate_rx import Server


def rooms(redis_url: str) -> Callable[[Server], None]:
    """``Room:*`` whose ``on_idle`` counts its runs in Redis (``idle:{key}``)."""

    def setup(server: Server) -> None:
        def idle(key: str | None) -> None:
            with redis.Redis.from_url(redis_url) as r:
                r.incr(f"idle:{key}")

        server.create_store("Room:*", {"n": 0}).on_idle(idle)

    return setup


def idle_runs(redis_url: str, key: str) -> int:
    with redis.Redis.from_url(redis_url) as r:
        return int(r.get(f"idle:{key}") or 0)


def counted(redis_url: str, name: str) -> int:
    """The subscribers of ``name`` in every node's count, live or not."""
    with redis.Redis.from_url(redis_url) as r:
        return sum(int(r.hget(key, name) or 0) for key in r.keys("hotstate:subs:*"))


async def until(condition: Callable[[], bool]) -> None:
    """Wait (bounded) for ``condition``, polled: what it reads lives in Redis."""
    async with asyncio.timeout(TIMEOUT):
        while not condition():
            await asyncio.sleep(0.01)


async def test_subscriber_count_sums_the_nodes_and_on_idle_runs_once(
    redis_url: str, start_server: StartNode, make_client: MakeClient
) -> None:
    a = await start_server(rooms(redis_url))
    b = await start_server(rooms(redis_url))
    room_a, room_b = a.stores["Room:*"], b.stores["Room:*"]
    one, two = make_client(f"ws://127.0.0.1:{a.port}"), make_client(f"ws://127.0.0.1:{b.port}")
    states = Recorder(), Recorder()
    stop_one = one.subscribe("Room:x", states[0])
    stop_two = two.subscribe("Room:x", states[1])
    await states[0].until(len)
    await states[1].until(len)
    await until(lambda: room_a.subscriber_count("x") == 2 == room_b.subscriber_count("x"))

    stop_one.release()
    await until(lambda: room_b.subscriber_count("x") == 1)
    stop_two.release()
    await until(lambda: idle_runs(redis_url, "x") == 1)  # the last one in the cluster left
    assert room_a.subscriber_count("x") == 0 == room_b.subscriber_count("x")
    # Once more from A alone: its second idle proves the first round is over.
    again = Recorder()
    stop = one.subscribe("Room:x", again)
    await again.until(len)
    stop.release()
    await until(lambda: idle_runs(redis_url, "x") >= 2)
    assert idle_runs(redis_url, "x") == 2


async def test_a_killed_nodes_subscribers_leave_the_count_and_idle_runs_on_a_survivor(
    redis_url: str, start_server: StartNode, make_client: MakeClient, spawn_node: Any
) -> None:
    survivor = await start_server(rooms(redis_url), cluster_timeout=0.5)
    doomed = await spawn_node()
    room = survivor.stores["Room:*"]
    client = make_client(doomed.url)
    states = Recorder()
    client.subscribe("Room:x", states)
    await states.until(len)
    await until(lambda: room.subscriber_count("x") == 1)
    local = make_client(f"ws://127.0.0.1:{survivor.port}")
    seen = Recorder()
    handle = local.subscribe("Room:x", seen)
    await seen.until(len)
    handle.release()  # subscribed and gone: the dead node still counts
    await until(lambda: counted(redis_url, "Room:x") == 1)
    assert room.subscriber_count("x") == 1 and idle_runs(redis_url, "x") == 0

    doomed.kill()  # SIGKILL
    await doomed.wait()
    await until(lambda: room.subscriber_count("x") == 0)  # its heartbeat lapsed
    await until(lambda: idle_runs(redis_url, "x") == 1)  # the survivor ran the idle step
    assert counted(redis_url, "Room:x") == 0
    with redis.Redis.from_url(redis_url) as r:
        assert r.zcard("hotstate:nodes") == 1
