"""Helpers shared by the acceptance tests (a unique module name, unlike ``conftest``).

Nothing here sleeps to synchronise: tests await a :class:`Recorder` (a callback
that remembers its calls) with a timeout.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from hotstate_rx.client import Client

TIMEOUT = 5.0
"""Upper bound for anything a test awaits."""


class Recorder:
    """A callable that records its calls and lets a test await one of them.

    Safe to call from any thread: calls made off the loop are handed over to it.
    One positional argument is recorded as itself, several as a tuple.
    """

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()
        self.items: list[Any] = []
        self._waiters: list[tuple[Callable[[list[Any]], bool], asyncio.Future[None]]] = []

    def __call__(self, *args: Any) -> None:
        item = args[0] if len(args) == 1 else args
        if threading.get_ident() == self._thread:
            self._add(item)
        else:
            self.loop.call_soon_threadsafe(self._add, item)

    def _add(self, item: Any) -> None:
        self.items.append(item)
        for check, fut in list(self._waiters):
            if not fut.done() and check(self.items):
                fut.set_result(None)

    async def _wait(self, check: Callable[[list[Any]], bool], timeout: float) -> None:
        if check(self.items):
            return
        fut: asyncio.Future[None] = self.loop.create_future()
        entry = (check, fut)
        self._waiters.append(entry)
        try:
            await asyncio.wait_for(fut, timeout)
        finally:
            self._waiters.remove(entry)

    async def until(
        self, predicate: Callable[[Any], bool] = lambda _: True, timeout: float = TIMEOUT
    ) -> Any:
        """The first recorded item matching ``predicate`` (waits for it)."""
        await self._wait(lambda items: any(predicate(i) for i in items), timeout)
        return next(i for i in self.items if predicate(i))

    async def count(self, n: int, timeout: float = TIMEOUT) -> list[Any]:
        """Wait until at least ``n`` items were recorded; all of them."""
        await self._wait(lambda items: len(items) >= n, timeout)
        return self.items


Connect = Callable[..., Awaitable[Client]]
