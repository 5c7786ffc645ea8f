"""The application of the chaos test (``test_cluster_chaos.py``), one node per
process (the ``NodeProcess`` contract of ``tests/node_proc.py``):

    python tests/cluster/chaos_node.py --port P REDIS_URL

- ``Counter`` (static) and ``Log:*`` (dynamic) hold ``{"n", "ids"}``;
  ``add([name, uid])`` counts its run in Redis (``runs:{uid}``, before it
  changes anything), waits 10 ms (its I/O), then appends ``uid`` to ``ids`` of instance ``name`` and
  adds 1 to ``n``: one call, one change, so ``n == len(ids)`` and a run twice
  shows as a repeated id.
- A writer task on every node adds 1 to ``Ticks``' ``by[PORT]`` and ``n``
  every 50 ms, emits ``tick`` ``{"node": PORT, "n": by[PORT]}``, then
  prints ``tick N`` (so a printed tick is committed and emitted); it stops
  when ``Control.writing`` turns false (``halt()``, on any node) and prints
  ``stopped``.
- ``dump(names)`` -> ``{"stores": list_stores(), name: [state, version,
  subscriber_count], ...}``: what this node holds.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

import redis.asyncio

from hotstate_rx import Server

TICK = 0.05
WORK = 0.01


def add_id(uid: str) -> Any:
    """The recipe of ``add``: free of side effects (it may run again on a conflict)."""

    def recipe(draft: Any) -> None:
        draft["ids"].append(uid)
        draft["n"] = draft["n"] + 1

    return recipe


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("redis_url")
    options = parser.parse_args()
    me = str(options.port)
    runs = redis.asyncio.Redis.from_url(options.redis_url)
    server = Server(cluster=options.redis_url, cluster_timeout=0.5)
    counter = server.create_store("Counter", {"n": 0, "ids": []})
    logs = server.create_store("Log:*", {"n": 0, "ids": []})
    ticks = server.create_store("Ticks", {"n": 0, "by": {}})
    control = server.create_store("Control", {"writing": True})

    @server.handle("add")
    async def add(args: list[str]) -> str:
        name, uid = args
        await runs.incr(f"runs:{uid}")
        await asyncio.sleep(WORK)  # its I/O: a kill often lands mid-call
        if name == "Counter":
            counter.update(add_id(uid))
        else:
            logs.update(name.removeprefix("Log:"), add_id(uid))
        return uid

    @server.handle("halt")
    def halt(_: None) -> None:
        control.update(lambda d: d.update(writing=False))

    @server.handle("dump")
    def dump(names: list[str]) -> dict[str, Any]:
        held: dict[str, Any] = {"stores": sorted(server.list_stores())}
        for name in names:
            handle, key = (
                (logs, (name.removeprefix("Log:"),)) if ":" in name else (server.stores[name], ())
            )
            held[name] = [handle.get(*key), handle.version(*key), handle.subscriber_count(*key)]
        return held

    def tick(draft: Any) -> None:
        draft["by"][me] = draft["by"].get(me, 0) + 1
        draft["n"] = draft["n"] + 1

    async def write() -> None:
        while control.get()["writing"]:
            ticks.update(tick)
            n = ticks.get()["by"][me]  # only this node changes by[me]
            server.emit("tick", {"node": me, "n": n})
            print(f"tick {n}", flush=True)
            await asyncio.sleep(TICK)
        print("stopped", flush=True)

    await server.listen(port=options.port, host="127.0.0.1")
    writer = asyncio.create_task(write())
    print(f"ready ws://127.0.0.1:{server.port}", flush=True)
    await writer
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
