"""Cluster: what running each call exactly once across nodes costs a call.

In a cluster each call is claimed in Redis before its handler runs (``HSETNX``
in ``{ns}:calls:{client_id}``) and its answer saved there; concurrent calls
share their round trips (one pipeline per batch). Measured here: calls per
second through ``client.call`` to a trivial handler, one at a time
(the claim's round trip adds to every call's latency) and with
:data:`IN_FLIGHT` in flight on one connection (claims batched), against the
same server without a cluster. Server and client run in this process (the
same for both rows); Redis is a local ``redis-server`` without persistence,
started here. Each figure is the median of :data:`REPEATS` runs, alternating.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

from hotstate_rx import Hotstate, RateLimit, Server
from hotstate_rx.client import Client

from ..redis_server import RedisServer, find_redis_server
from ._harness import Row, emit

IN_FLIGHT = 100
DURATION = 0.8
REPEATS = 5
AGAINST = "one server without a cluster"
ARGS = {"text": "hello", "n": 42}


async def serve(**options: Any) -> tuple[Server, Client]:
    server = Hotstate(rate_limit=RateLimit(rate=1e9, burst=10**9), max_pending_calls=200, **options)
    server.handle("echo", lambda args: args)
    await server.listen(0, "127.0.0.1")
    client = Client(f"ws://127.0.0.1:{server.port}")
    await client.ready()
    return server, client


async def rate(client: Client, callers: int) -> float:
    """Calls answered per second with ``callers`` concurrent callers."""
    loop = asyncio.get_running_loop()
    done = 0
    end = loop.time() + DURATION

    async def caller() -> None:
        nonlocal done
        while loop.time() < end:
            await client.call("echo", ARGS)
            done += 1

    began = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(callers)))
    return done / (time.perf_counter() - began)


async def main() -> None:
    binary = find_redis_server()
    if binary is None:
        raise SystemExit("no redis-server: python3 tasks.py test provisions one")
    figures: dict[tuple[str, int], list[float]] = {}
    with RedisServer(binary) as redis:
        setups = {"single": {}, "cluster": {"cluster": redis.url}}
        for _ in range(REPEATS):
            for name, options in setups.items():
                server, client = await serve(**options)
                for callers in (1, IN_FLIGHT):
                    figures.setdefault((name, callers), []).append(await rate(client, callers))
                await client.close()
                await server.close()
    metric = "calls per second"
    rows = []
    for callers, case in ((1, "one at a time"), (IN_FLIGHT, f"{IN_FLIGHT} in flight")):
        value = statistics.median(figures["cluster", callers])
        baseline = statistics.median(figures["single", callers])
        rows.append(
            Row(
                "cluster calls",
                f"1 node on Redis, {case}",
                metric,
                value,
                "/s",
                baseline,
                against=AGAINST,
            )
        )
    emit(rows)


if __name__ == "__main__":
    asyncio.run(main())
