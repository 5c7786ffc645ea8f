"""Updates: server-side ``update()`` throughput, 0 and 1,000 subscribers, 10 and 100,000 items.

Each update replaces one item of ``{"items": [...]}``. The figure is updates
per second of the server process's CPU time (``time.process_time()``), from
the first ``update()`` until every subscriber holds the last version: it
counts the draft, the patch, its encoding and the writes to every socket, and
nothing the subscribers (other processes, on the same two cores) spend. With
subscribers the driver yields to the loop after each ``update()`` so that
delivery keeps pace instead of piling up; with none it calls ``update()`` in a
tight loop. There is no bare baseline: a bare server has no state to update.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from hotstate_rx import Hotstate

from ._fleet import Fleet
from ._harness import Row, emit, raise_fd_limit

STORE = "Items"
SIZES = (10, 100_000)
SUBSCRIBERS = (0, 1000)
UPDATES = {0: 5000, 1000: 100}
"""Bounded counts: with 1,000 subscribers each update is 1,000 frames."""


async def measure(size: int, subscribers: int) -> float:
    hub = Hotstate()
    store = hub.create_store(STORE, {"items": list(range(size))})
    await hub.listen(port=0, host="127.0.0.1")
    count = UPDATES[subscribers]
    try:
        async with contextlib.AsyncExitStack() as stack:
            fleet = None
            if subscribers:
                url = f"ws://127.0.0.1:{hub.port}"
                fleet = await stack.enter_async_context(
                    Fleet.open("fanout", url, subscribers, STORE)
                )
            cpu0 = time.process_time()
            for k in range(count):
                stamp = time.monotonic_ns()
                store.update(lambda d, i=k % size, s=stamp: d["items"].__setitem__(i, s))
                if fleet:
                    await asyncio.sleep(0)
            if fleet:
                await fleet.until_acked(fleet.version + count)
            return count / (time.process_time() - cpu0)
    finally:
        await hub.close()


async def main() -> None:
    raise_fd_limit()
    rows = []
    for subscribers in SUBSCRIBERS:
        for size in SIZES:
            rate = await measure(size, subscribers)
            case = f"{size:,} items, {subscribers:,} subscribers"
            rows.append(Row("updates", case, "update() per CPU-second", rate, "/s"))
    emit(rows)


if __name__ == "__main__":
    asyncio.run(main())
