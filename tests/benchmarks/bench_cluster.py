"""Cluster (issue #15): two nodes on one Redis against a single server, in the same run.

A ``redis-server`` runs here on a free port with its append-only file on
(``appendfsync everysec``, Redis's default: what a deployment runs). Node A
runs in this process; node B and every other server in a helper process
(``_node``). Every figure is compared with a single server (no ``cluster=``)
measured the same way in the same run; each is the median of :data:`REPEATS`
runs, single and cluster interleaved, each cluster run on a fresh namespace.

- **Fan-out**, :data:`CLIENTS` subscribers in two receiver processes: with two
  nodes 1,000 on each node, every update made on node A (so node B's
  subscribers get it through Redis); the single server has both processes
  of 1,000. Flow control as in ``bench_fanout``: at most :data:`WINDOW` updates
  in flight, an update delivered when every subscriber holds it. Deliveries
  per second, and each node's CPU time per delivery it made.
- **Latency**: :data:`PACED` updates at :data:`PACE_HZ` per second made on node
  A, received by :data:`PACED_CLIENTS` subscribers of node B; against the same
  subscribers of the single server that makes the updates. p50 and p99, from
  the ``time.monotonic_ns()`` taken before ``update()`` to the receipt.
- **One hot instance**: :data:`UPDATES` ``update()`` calls to one instance,
  one after the other, by one node or by two nodes at once (half each: the
  loser of each race catches up and runs its recipe again), against a single
  server in memory. Updates per wall-clock second.
- **A call**: ``client.call("echo")`` one at a time and :data:`IN_FLIGHT` at
  once (``bench_calls``'s loop): a node claims each call id in Redis and
  stores the answer (calls run once across nodes); the server's CPU per call.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from functools import partial

from hotstate_rx.client import Client

from ..redis_server import RedisServer, find_redis_server
from ._fleet import Fleet
from ._harness import Row, cpu_seconds, emit, gather_all, percentile, raise_fd_limit, spawn
from ._node import FANOUT_STORE, build
from .bench_calls import ARGS, IN_FLIGHT, timed

CLIENTS = 2000
WINDOW = 4
WARMUP = 0.5
DURATION = 2.0
REPEATS = 3
PACED_CLIENTS = 10
PACE_HZ = 20
PACED = 60
UPDATES = 2000
AGAINST = "a single server, same run"
BENCH = "cluster"


@dataclass(frozen=True, slots=True)
class Nodes:
    """Where the subscribers go, how an update is made (on node A), and whose CPU counts."""

    urls: list[str]
    """Node A's URL, then node B's (twice the single server's)."""
    publish: Callable[[int], None]
    clocks: list[Callable[[], float]]
    """CPU seconds of node A (this process), then of node B when there is one."""


@contextlib.asynccontextmanager
async def nodes(redis: RedisServer | None, namespace: str) -> AsyncIterator[Nodes]:
    """Node A here and node B in a helper process, on ``redis``; or (None) one single server."""
    args = [] if redis is None else [redis.url, namespace]
    server = build(*args)
    await server.listen(0, "127.0.0.1")
    store = server.stores[FANOUT_STORE]
    urls = [f"ws://127.0.0.1:{server.port}"]
    clocks: list[Callable[[], float]] = [time.process_time]

    def publish(stamp: int) -> None:
        store.update(lambda draft: draft.__setitem__("ts", stamp))

    try:
        async with contextlib.AsyncExitStack() as stack:
            if redis is None:
                urls.append(urls[0])
            else:
                other = await stack.enter_async_context(spawn("_node", *args))
                urls.append((await other.recv())["url"])
                clocks.append(partial(cpu_seconds, other.pid))
            yield Nodes(urls, publish, clocks)
    finally:
        await server.close()


@dataclass(frozen=True, slots=True)
class FanOut:
    rate: float
    cpu_us: list[float]
    """CPU µs per delivery of each node (per delivery it made itself)."""
    p99_ms: float


async def fanout(redis: RedisServer | None, namespace: str) -> FanOut:
    async with (
        nodes(redis, namespace) as on,
        Fleet.spread("fanout", on.urls, CLIENTS // 2, FANOUT_STORE) as fleet,
    ):
        loop = asyncio.get_running_loop()
        sent = fleet.version

        async def run_for(seconds: float) -> None:
            nonlocal sent
            end = loop.time() + seconds
            while loop.time() < end:
                await fleet.until_acked(sent - WINDOW + 1)
                sent += 1
                on.publish(time.monotonic_ns())

        await run_for(WARMUP)
        lo, done0, t0 = sent, fleet.delivered(), loop.time()
        cpu0 = [clock() for clock in on.clocks]
        await run_for(DURATION)
        hi, done1, t1 = sent, fleet.delivered(), loop.time()
        cpu1 = [clock() for clock in on.clocks]
        await fleet.until_acked(hi)
        latencies = await fleet.latencies_ns(lo, hi)
        per_node = (done1 - done0) / len(on.clocks)  # each node's share of the subscribers
        return FanOut(
            rate=(done1 - done0) / (t1 - t0),
            cpu_us=[(b - a) / max(per_node, 1) * 1e6 for a, b in zip(cpu0, cpu1, strict=True)],
            p99_ms=percentile(latencies, 99) / 1e6,
        )


async def paced_latency(redis: RedisServer | None, namespace: str) -> tuple[float, float]:
    """p50 and p99 (ms) of updates made on node A and received on node B (or one server)."""
    async with (
        nodes(redis, namespace) as on,
        Fleet.spread("fanout", on.urls[-1:], PACED_CLIENTS, FANOUT_STORE) as fleet,
    ):
        loop = asyncio.get_running_loop()
        first = sent = fleet.version
        tick = loop.time()
        for _ in range(PACED):
            tick += 1 / PACE_HZ
            await asyncio.sleep(tick - loop.time())  # pacing, not synchronisation
            sent += 1
            on.publish(time.monotonic_ns())
        await fleet.until_acked(sent)
        latencies = await fleet.latencies_ns(first, sent)
        return percentile(latencies, 50) / 1e6, percentile(latencies, 99) / 1e6


async def hot_rate(writers: list[list[str]]) -> float:
    """Updates/s of ``Hot`` with one ``_node`` per argument list writing at once."""
    async with contextlib.AsyncExitStack() as stack:
        children = [await stack.enter_async_context(spawn("_node", *a)) for a in writers]
        await gather_all(children)  # every one listens
        each = UPDATES // len(children)
        for child in children:
            child.send({"hammer": each})
        windows = await gather_all(children)
        span = max(w["ended"] for w in windows) - min(w["began"] for w in windows)
        return each * len(children) / (span / 1e9)


async def call_cost(args: list[str], redis: RedisServer | None) -> list[float]:
    """Calls/s alone, server CPU µs per call alone, calls/s and CPU µs with
    IN_FLIGHT at once; then Redis's CPU µs per call (alone, at once) in a cluster."""
    async with spawn("_node", *args) as node:
        client = Client()
        client.connect((await node.recv())["url"])
        try:
            await asyncio.wait_for(client.ready(), 30)
            clocks: list[Callable[[], float]] = [partial(cpu_seconds, node.pid)]
            if redis is not None and redis.pid is not None:
                clocks.append(partial(cpu_seconds, redis.pid))
            call: Callable[[], Awaitable[object]] = lambda: client.call("echo", ARGS)  # noqa: E731
            alone, spent_alone = await timed(call, 1, clocks)
            piped, spent_piped = await timed(call, IN_FLIGHT, clocks)
        finally:
            await client.close()
    redis_us = [spent_alone[1] * 1e6, spent_piped[1] * 1e6] if len(clocks) > 1 else []
    return [alone, spent_alone[0] * 1e6, piped, spent_piped[0] * 1e6, *redis_us]


def median(runs: list[list[float]]) -> list[float]:
    return [statistics.median(column) for column in zip(*runs, strict=True)]


async def main() -> None:
    raise_fd_limit()
    binary = find_redis_server()
    if binary is None:
        raise SystemExit("no redis-server: python3 tasks.py test provisions one")
    single_fan: list[FanOut] = []
    cluster_fan: list[FanOut] = []
    lat: dict[str, list[list[float]]] = {"single": [], "cluster": []}
    hot: dict[str, list[list[float]]] = {"single": [], "one": [], "two": []}
    calls: dict[str, list[list[float]]] = {"single": [], "cluster": []}
    with RedisServer(binary, appendonly=True) as redis:
        for run in range(REPEATS):
            single_fan.append(await fanout(None, ""))
            cluster_fan.append(await fanout(redis, f"fan{run}"))
            lat["single"].append(list(await paced_latency(None, "")))
            lat["cluster"].append(list(await paced_latency(redis, f"lat{run}")))
            hot["single"].append([await hot_rate([[]])])
            hot["one"].append([await hot_rate([[redis.url, f"hot{run}"]])])
            hot["two"].append([await hot_rate([[redis.url, f"hot2{run}"]] * 2)])
            calls["single"].append(await call_cost([], None))
            calls["cluster"].append(await call_cost([redis.url, f"call{run}"], redis))
            redis.flushall()
    one = FanOut(
        statistics.median(r.rate for r in single_fan),
        median([r.cpu_us for r in single_fan]),
        statistics.median(r.p99_ms for r in single_fan),
    )
    two = FanOut(
        statistics.median(r.rate for r in cluster_fan),
        median([r.cpu_us for r in cluster_fan]),
        statistics.median(r.p99_ms for r in cluster_fan),
    )
    (lat1_p50, lat1_p99), (lat2_p50, lat2_p99) = median(lat["single"]), median(lat["cluster"])
    (hot1,), (hot_one,), (hot_two,) = median(hot["single"]), median(hot["one"]), median(hot["two"])
    c1, c2 = median(calls["single"]), median(calls["cluster"])
    fan = f"C={CLIENTS:,}, 2 nodes (1,000 each) vs 1"
    emit([
        row(fan, "patches delivered", two.rate, "/s", one.rate),
        row(fan, "latency p99 under load", two.p99_ms, "ms", one.p99_ms),
        row(f"{fan}: node A (updates)", "server CPU per delivery", two.cpu_us[0], "µs",
            one.cpu_us[0]),
        row(f"{fan}: node B (via Redis)", "server CPU per delivery", two.cpu_us[1], "µs",
            one.cpu_us[0]),
        row(f"update on A, seen on B, {PACE_HZ}/s", "latency p50", lat2_p50, "ms", lat1_p50),
        row(f"update on A, seen on B, {PACE_HZ}/s", "latency p99", lat2_p99, "ms", lat1_p99),
        row("one hot instance, 1 writer node", "update() per second", hot_one, "/s", hot1),
        row("one hot instance, 2 writer nodes", "update() per second", hot_two, "/s", hot1),
        row("call, one at a time", "round trips", c2[0], "/s", c1[0]),
        row("call, one at a time", "server CPU per call", c2[1], "µs", c1[1]),
        row(f"call, {IN_FLIGHT} in flight", "round trips", c2[2], "/s", c1[2]),
        row(f"call, {IN_FLIGHT} in flight", "server CPU per call", c2[3], "µs", c1[3]),
    ])  # fmt: skip
    print(
        f"Redis's own CPU per call in the cluster: {c2[4]:.0f} µs one at a time, "
        f"{c2[5]:.0f} µs with {IN_FLIGHT} in flight (a single server has no Redis)."
    )


def row(case: str, metric: str, value: float, unit: str, single: float) -> Row:
    """A figure of the cluster with the single server's as its baseline."""
    return Row(BENCH, case, metric, value, unit, single, against=AGAINST)


if __name__ == "__main__":
    asyncio.run(main())
