"""A server process for the cluster benchmark: one node, or a single server.

    python -m tests.benchmarks._node                  # a single server, in memory
    python -m tests.benchmarks._node REDIS_URL NS     # a node of the cluster on REDIS_URL

Stores: ``Bench`` (the fan-out store of ``bench_fanout``) and ``Hot`` (one
counter and ten items); function ``echo``. The rate limit is raised out of
reach (as ``_serve`` does). Reports ``{"url": ...}`` once it listens. On
``{"hammer": N}`` it makes N ``update()`` calls to ``Hot`` in a thread, one
after the other, and answers ``{"began": ns, "ended": ns}`` (``time.monotonic_ns``:
one clock for every process on Linux, so the parent can join the windows of
several nodes). Closing stdin stops it.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

from hotstate_rx import Hotstate

from ._harness import Parent
from ._serve import PENDING, UNTHROTTLED

FANOUT_STORE = "Bench"
FANOUT_DATA = {"ts": 0, "name": "fan-out benchmark"}
HOT_STORE = "Hot"
HOT_DATA = {"n": 0, "items": list(range(10))}


def increment(draft: Any) -> None:
    draft["n"] += 1


def hammer(server: Hotstate, count: int) -> tuple[int, int]:
    """``count`` updates of ``Hot``, one after the other; the window they took."""
    store = server.stores[HOT_STORE]
    began = time.monotonic_ns()
    for _ in range(count):
        store.update(increment)
    return began, time.monotonic_ns()


def build(cluster: str | None = None, namespace: str = "hotstate") -> Hotstate:
    """The server under test: a single one, or a node of ``cluster``."""
    server = Hotstate(
        cluster=cluster,
        cluster_namespace=namespace,
        rate_limit=UNTHROTTLED,
        max_pending_calls=PENDING,
    )
    server.create_store(FANOUT_STORE, FANOUT_DATA)
    server.create_store(HOT_STORE, HOT_DATA)
    server.handle("echo", lambda args: args)
    return server


async def main(argv: list[str]) -> None:
    server = build(*argv[:2])
    parent = await Parent.connect()
    await server.listen(0, "127.0.0.1")
    parent.send({"url": f"ws://127.0.0.1:{server.port}"})
    while (cmd := await parent.recv()) is not None:
        if "hammer" in cmd:
            began, ended = await asyncio.to_thread(hammer, server, int(cmd["hammer"]))
            parent.send({"began": began, "ended": ended})
    await server.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
