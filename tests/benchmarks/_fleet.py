"""The parent's side of :mod:`tests.benchmarks._receiver`: many subscribers, few processes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

from ._harness import Child, gather_all, spawn

PROCESSES = 2
"""One receiver process per core: the receiving side is the costlier one."""


class Fleet:
    """``clients`` raw websocket clients spread over :data:`PROCESSES` processes,
    speaking ``wire``: ``"hotstate"`` or ``"socketio"`` (see ``_receiver``), and
    offering per-message deflate unless ``deflate`` is false.

    In ``fanout`` mode every process acknowledges each version once all its
    connections hold it; :meth:`until_acked` waits on those acknowledgements.
    """

    def __init__(self, children: Sequence[Child], per: int, readies: list[dict[str, Any]]) -> None:
        versions = {v for r in readies for v in r["versions"]}
        if len(versions) > 1:
            raise RuntimeError(f"subscribers hold different versions: {sorted(versions)}")
        self.version = versions.pop() if versions else 0
        """The version every subscriber held when the fleet was ready."""
        self.extensions = sorted({e for r in readies for e in r["extensions"]})
        """The ``Sec-WebSocket-Extensions`` the server accepted ("" = none)."""
        self._per = per
        self._acked = [self.version] * len(children)
        self._children = children
        self._replies: list[asyncio.Queue[dict[str, Any]]] = [asyncio.Queue() for _ in children]
        self._moved = asyncio.Event()
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._listen(i, c)) for i, c in enumerate(children)]

    @classmethod
    @contextlib.asynccontextmanager
    async def open(
        cls,
        mode: str,
        url: str,
        clients: int,
        store: str | None = None,
        wire: str = "hotstate",
        *,
        deflate: bool = True,
    ) -> AsyncIterator[Fleet]:
        urls = [url] * PROCESSES
        async with cls.spread(mode, urls, clients // PROCESSES, store, wire, deflate=deflate) as f:
            yield f

    @classmethod
    @contextlib.asynccontextmanager
    async def spread(
        cls,
        mode: str,
        urls: Sequence[str],
        per: int,
        store: str | None = None,
        wire: str = "hotstate",
        *,
        deflate: bool = True,
    ) -> AsyncIterator[Fleet]:
        """``per`` clients on each of ``urls``, one process per URL (the nodes
        of a cluster: one process of subscribers each)."""
        wire += "" if deflate else "+plain"
        async with contextlib.AsyncExitStack() as stack:
            children = [
                await stack.enter_async_context(
                    spawn("_receiver", wire, mode, url, str(per), *([store] if store else []))
                )
                for url in urls
            ]
            fleet = cls(children, per, await gather_all(children))
            try:
                yield fleet
            finally:
                await fleet._close()

    async def _listen(self, index: int, child: Child) -> None:
        while True:
            msg = await child.recv(timeout=600)
            if "ack" in msg:
                self._acked[index] = msg["ack"]
                self._moved.set()
            else:
                self._replies[index].put_nowait(msg)

    def delivered(self) -> int:
        """Patches every subscriber holds, summed over subscribers (since the start)."""
        return self._per * sum(a - self.version for a in self._acked)

    async def until_acked(self, version: int, timeout: float = 60.0) -> None:
        """Wait until every subscriber holds ``version``."""
        while min(self._acked) < version:
            self._moved.clear()
            await asyncio.wait_for(self._moved.wait(), timeout)

    async def latencies_ns(self, lo: int, hi: int) -> list[int]:
        """Sorted update-to-receipt latencies of versions in ``(lo, hi]``, all subscribers."""
        for child in self._children:
            child.send({"report": [lo, hi]})
        reports = [await asyncio.wait_for(q.get(), 60) for q in self._replies]
        return sorted(lat for r in reports for lat in r["latencies_ns"])

    async def _close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
