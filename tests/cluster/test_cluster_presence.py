"""Presence across nodes (API §11 under §10): who is in a room, whatever node
they are on; a dead node's people leave with it."""

from __future__ import annotations

from typing import Any

import redis
from cluster_helpers import TIMEOUT, MakeClient, Recorder, StartNode

from hotstate_rx import Server


def rooms(server: Server) -> None:
    server.create_store("Room:*", {"n": 0}, presence=True)


async def test_presence_shows_who_is_in_a_room_on_every_node(
    start_server: StartNode, make_client: MakeClient
) -> None:
    a, b = await start_server(rooms), await start_server(rooms)
    on_a, on_b = make_client(f"ws://127.0.0.1:{a.port}"), make_client(f"ws://127.0.0.1:{b.port}")
    watcher = make_client(f"ws://127.0.0.1:{b.port}")
    board = Recorder()
    watcher.subscribe("Room@presence:x", board)
    await on_a.ready()
    await on_b.ready()
    one, two = Recorder(), Recorder()
    handle = on_a.subscribe("Room:x", one)
    on_b.subscribe("Room:x", two)
    await board.until(lambda v: bool(v) and set(v[-1] or {}) == {on_a.client_id, on_b.client_id})
    handle.release()
    await board.until(lambda v: set(v[-1] or {}) == {on_b.client_id})


async def test_a_killed_nodes_people_leave_the_room(
    redis_url: str, start_server: StartNode, make_client: MakeClient, spawn_node: Any
) -> None:
    survivor = await start_server(rooms, cluster_timeout=0.5)
    doomed = await spawn_node()
    gone = make_client(doomed.url, reconnect_max=5.0)
    stays = make_client(f"ws://127.0.0.1:{survivor.port}")
    board, seen = Recorder(), Recorder()
    stays.subscribe("Room@presence:x", board)
    stays.subscribe("Room:x", seen)
    gone.subscribe("Room:x", Recorder())
    await gone.ready()
    await stays.ready()
    present = {gone.client_id, stays.client_id}
    await board.until(lambda v: bool(v) and set(v[-1] or {}) == present)

    doomed.kill()  # SIGKILL
    await doomed.wait()
    try:  # its heartbeat lapses (1.5 s), then the survivor removes it
        await board.until(lambda v: set(v[-1] or {}) == {stays.client_id}, TIMEOUT * 2)
    except TimeoutError:
        with redis.Redis.from_url(redis_url) as r:
            nodes = r.zrange("hotstate:nodes", 0, -1, withscores=True)
            entries = {k: r.hgetall(k) for k in r.keys("hotstate:presence:*")}
        raise AssertionError(f"board {board.values}, nodes {nodes}, entries {entries}") from None
