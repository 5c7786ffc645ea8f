"""Storage: SQLite against memory in the same run, and memory per hibernated instance.

- Acknowledged calls: round trips per second through ``client.call`` to a
  handler that changes a store (``_serve hotstate-count``), one server kept in
  memory and two on SQLite files: ``synchronous=full`` (the default: each
  answer waits for a commit synced to disk) and ``normal`` (written, not
  synced). Sequential (one call at a time: one commit per call) and pipelined
  (:data:`~.bench_calls.IN_FLIGHT` calls at once on one connection: a group
  commit takes many calls per sync). Medians of :data:`REPEATS` interleaved
  runs; the baseline column is the same server in memory.
- Updates: server-side ``update()`` per CPU-second of the whole process (the
  writer thread included), from the first update to the end of ``close()``
  (the last commit included), 0 subscribers, as in ``bench_updates``.
- Commit delay: how long a change that no call waits for takes to be on disk,
  with updates paced at about one per millisecond (the documented bound is 50 ms).
- Hibernation: 100,000 ``Room:*`` instances created over time, 100 at a time,
  each used once; the older ones hibernate (``hibernate_after`` = 10 ms). The
  Python heap (``tracemalloc``) and RSS are read at 10,000 and at 100,000
  instances: their growth divided by the 90,000 in between is the memory per
  hibernated instance (flat means ~0). The baseline: the same instances all
  resident, without storage.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hotstate_rx import Hotstate
from hotstate_rx.client import Client
from hotstate_rx.server.storage import Saved, SQLiteStorage

from ._harness import Parent, Row, emit, percentile, rss_bytes, spawn
from .bench_calls import IN_FLIGHT, rate

REPEATS = 5
ARGS = {"text": "hello"}
SIZES = (10, 100_000)
UPDATES = {10: 20_000, 100_000: 2_000}
PACED = 2000
PACE = 0.001
ROOMS = 100_000
ACTIVE = 100
FIRST_MARK = 10_000
HIBERNATE = 0.01
ROOM_DEFAULTS = {"title": "", "messages": [], "members": {}}
KIB = 1024
IN_MEMORY = "hotstate_rx in memory (no storage)"


# -- acknowledged calls -----------------------------------------------------------------


async def calls(tmp: Path) -> list[Row]:
    kinds = ("memory", "full", "normal")
    rates: dict[tuple[str, int], list[float]] = {}
    async with contextlib.AsyncExitStack() as stack:
        clients: dict[str, Client] = {}
        for kind in kinds:
            db = () if kind == "memory" else (f"{tmp}/calls-{kind}.db", kind)
            server = await stack.enter_async_context(spawn("_serve", "hotstate-count", *db))
            client = clients[kind] = Client()
            stack.push_async_callback(client.close)
            client.connect((await server.recv())["url"])
        await asyncio.wait_for(asyncio.gather(*(c.ready() for c in clients.values())), 30)
        for _ in range(REPEATS):
            for callers in (1, IN_FLIGHT):
                for kind, client in clients.items():
                    got = await rate(lambda c=client: c.call("bump", ARGS), callers)
                    rates.setdefault((kind, callers), []).append(got)
    median = {k: statistics.median(v) for k, v in rates.items()}
    rows = []
    for callers, case in ((1, "sequential"), (IN_FLIGHT, f"pipelined ({IN_FLIGHT} in flight)")):
        for kind in ("full", "normal"):
            rows.append(
                Row(
                    "storage",
                    f"{case}, SQLite synchronous={kind}",
                    "acknowledged calls",
                    median[kind, callers],
                    "/s",
                    median["memory", callers],
                    "ratio >= 0.5" if callers > 1 and kind == "full" else "",
                    against=IN_MEMORY,
                )
            )
    return rows


# -- updates and commit delay --------------------------------------------------------------


async def updates_per_cpu_second(size: int, db: Path | None) -> float:
    hub = Hotstate(storage=None if db is None else SQLiteStorage(db))
    store = hub.create_store("Items", {"items": list(range(size))})
    await hub.listen(port=0, host="127.0.0.1")
    count = UPDATES[size]
    cpu0 = time.process_time()
    try:
        for k in range(count):
            store.update(lambda d, i=k % size, s=-k - 1: d["items"].__setitem__(i, s))
    finally:
        await hub.close()
    return count / (time.process_time() - cpu0)


class Timed(SQLiteStorage):
    """Notes when each version of each instance reached the disk."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.commits: list[tuple[float, int]] = []

    def write(self, saved: Sequence[Saved], deleted: Sequence[str]) -> None:
        super().write(saved, deleted)
        now = time.monotonic()
        self.commits += [(now, s.version) for s in saved]


async def commit_delays(db: Path) -> list[float]:
    """Milliseconds from each paced update to the commit that carried it."""
    storage = Timed(db)
    hub = Hotstate(storage=storage)
    store = hub.create_store("Items", {"items": list(range(10))})
    await hub.listen(port=0, host="127.0.0.1")
    made: list[tuple[int, float]] = []
    try:
        for k in range(PACED):
            store.update(lambda d, k=k: d["items"].__setitem__(k % 10, k))
            made.append((store.version() or 0, time.monotonic()))
            await asyncio.sleep(PACE)
    finally:
        await hub.close()
    delays = []
    commits = iter(storage.commits)
    at, version = next(commits)
    for wanted, when in made:
        while version < wanted:
            at, version = next(commits)
        delays.append((at - when) * 1000)
    return sorted(delays)


# -- hibernation (each case in a process of its own) -----------------------------------------


def _used(traced: bool) -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0] if traced else rss_bytes()


async def rooms_over_time(storage: bool, traced: bool) -> dict[str, Any]:
    """Memory at FIRST_MARK and at ROOMS instances, and the most that were resident."""
    if traced:
        tracemalloc.start()
    with tempfile.TemporaryDirectory() as tmp:
        hub = Hotstate(
            storage=SQLiteStorage(Path(tmp) / "rooms.db") if storage else None,
            hibernate_after=HIBERNATE,
        )
        hibernated = 0

        def count(_: str) -> None:
            nonlocal hibernated
            hibernated += 1

        hub.on("store_hibernated", count)
        rooms = hub.create_store("Room:*", ROOM_DEFAULTS)
        await hub.listen(port=0, host="127.0.0.1")  # its loop runs the hibernation timer
        marks: dict[int, int] = {}
        peak = 0
        try:
            for first in range(0, ROOMS, ACTIVE):
                for i in range(first, first + ACTIVE):
                    rooms.update(f"r{i}", lambda d, i=i: d["messages"].append(f"hello {i}"))
                peak = max(peak, first + ACTIVE - hibernated)
                if storage:
                    await asyncio.sleep(HIBERNATE * 1.5)  # time passes: this batch goes idle
                if first + ACTIVE in (FIRST_MARK, ROOMS):
                    marks[first + ACTIVE] = _used(traced)
        finally:
            await hub.close()
    return {"marks": marks, "peak": peak}


async def run_case(case: str) -> None:
    """Child process: one hibernation case, reported to the parent."""
    parent = await Parent.connect()
    kind, how = case.split("-")
    parent.send(await rooms_over_time(kind == "sqlite", traced=how == "traced"))


async def _in_child(case: str) -> dict[str, Any]:
    async with spawn("bench_storage", case) as child:
        return await child.recv(timeout=200)


def per_instance(result: dict[str, Any]) -> float:
    marks = {int(k): v for k, v in result["marks"].items()}
    return (marks[ROOMS] - marks[FIRST_MARK]) / (ROOMS - FIRST_MARK)


async def main() -> None:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        rows += await calls(Path(tmp))
        for size in SIZES:
            memory = await updates_per_cpu_second(size, None)
            sqlite = await updates_per_cpu_second(size, Path(tmp) / f"updates-{size}.db")
            case = f"{size:,} items, 0 subscribers, SQLite"
            metric = "update() per CPU-second"
            rows.append(Row("storage", case, metric, sqlite, "/s", memory, against=IN_MEMORY))
        delays = await commit_delays(Path(tmp) / "delays.db")
    case = f"{PACED:,} updates ~{PACE * 1000:.0f} ms apart"
    for q in (50, 99):
        target = "value <= 50" if q == 99 else ""
        rows.append(
            Row(
                "storage",
                case,
                f"commit delay p{q}",
                percentile(delays, q),
                "ms",
                target=target,
                against=IN_MEMORY,
            )
        )
    rows.append(Row("storage", case, "commit delay max", delays[-1], "ms", against=IN_MEMORY))
    cases = {c: await _in_child(c) for c in ("sqlite-traced", "memory-traced", "sqlite-rss")}
    rooms = f"{ROOMS:,} Room:* over time, {ACTIVE} in use"
    rows += [
        Row(
            "storage",
            rooms,
            "Python heap per hibernated instance (baseline: all resident)",
            per_instance(cases["sqlite-traced"]) / KIB,
            "KiB",
            per_instance(cases["memory-traced"]) / KIB,
            "value < 0.05",
            against=IN_MEMORY,
        ),
        Row(
            "storage",
            rooms,
            "RSS per hibernated instance",
            per_instance(cases["sqlite-rss"]) / KIB,
            "KiB",
            against=IN_MEMORY,
        ),
        Row(
            "storage",
            rooms,
            "instances in memory at most",
            cases["sqlite-traced"]["peak"],
            "",
            against=IN_MEMORY,
        ),
    ]
    emit(rows)


if __name__ == "__main__":
    if len(sys.argv) > 1:
        asyncio.run(run_case(sys.argv[1]))
    else:
        asyncio.run(main())
