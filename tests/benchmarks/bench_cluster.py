"""Cluster: updates/s of one hot instance committed through Redis, against one node in memory.

Each update increments one counter of ``{"n": 0, "items": [...]}`` (10 items)
and is committed before ``update()`` returns: in a cluster that is one Lua
compare-and-set round trip to a local ``redis-server`` (started here, on a
free port, without persistence). The figure is updates per wall-clock second
(Redis is another process: its time counts). Cases: one node writing, and
two nodes (two ``Server`` objects in this process, one thread each, sharing
the GIL) writing the same instance at once, where the loser of each race
catches up and runs its recipe again. The baseline is the same loop on a
server without a cluster.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from hotstate_rx import Hotstate, Server

from ..redis_server import RedisServer, find_redis_server
from ._harness import Row, emit

UPDATES = 3000
AGAINST = "one node in memory"


def increment(draft: Any) -> None:
    draft["n"] += 1


def hammer(server: Server, count: int, start: threading.Barrier) -> None:
    store = server.stores["Hot"]
    start.wait()
    for _ in range(count):
        store.update(increment)


async def rate(servers: list[Server]) -> float:
    """Updates/s with every server writing ``UPDATES / len(servers)`` in a thread."""
    for server in servers:
        server.create_store("Hot", {"n": 0, "items": list(range(10))})
        await server.listen(0, "127.0.0.1")
    each = UPDATES // len(servers)
    start = threading.Barrier(len(servers) + 1)
    threads = [asyncio.to_thread(hammer, s, each, start) for s in servers]
    running = asyncio.gather(*threads)
    await asyncio.to_thread(start.wait)
    began = time.perf_counter()
    await running
    elapsed = time.perf_counter() - began
    for server in servers:
        await server.close()
    return each * len(servers) / elapsed


async def main() -> None:
    single = await rate([Hotstate()])
    binary = find_redis_server()
    if binary is None:
        raise SystemExit("no redis-server: python3 tasks.py test provisions one")
    with RedisServer(binary) as redis:
        one = await rate([Hotstate(cluster=redis.url, cluster_namespace="b1")])
        two = await rate([Hotstate(cluster=redis.url, cluster_namespace="b2") for _ in range(2)])
    metric = "update() per second, one hot instance"
    emit(
        [
            Row("cluster", "1 node on Redis", metric, one, "/s", single, against=AGAINST),
            Row(
                "cluster",
                "2 nodes on Redis, both writing",
                metric,
                two,
                "/s",
                single,
                against=AGAINST,
            ),
        ]
    )


if __name__ == "__main__":
    asyncio.run(main())
