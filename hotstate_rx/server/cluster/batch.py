"""One node's asynchronous Redis commands, pipelined in order.

Call claims, saved results, session records and subscriber counts are many
small commands issued from the loop. :class:`Batch` sends them in order, in
one pipeline per round trip: whatever is queued while a round trip is in
flight goes in the next one, so a burst of calls shares its round trips
instead of paying one each, and a count's idle check always sees the counts
sent before it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ...errors import ClusterUnavailable

if TYPE_CHECKING:
    from redis.asyncio.client import Pipeline

    from .link import RedisLink

__all__ = ["Batch", "Done"]

log = logging.getLogger(__name__)

Done = Callable[[list[Any] | ClusterUnavailable], None]
"""Told the replies of one step's commands (in order), or why they failed."""


class Batch:
    """The ordered, pipelined command queue of one node (see the module docstring)."""

    def __init__(self, link: RedisLink) -> None:
        self._link = link
        self._queue: list[tuple[Callable[[Pipeline], object], Done | None]] = []
        self._task: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()
        """Set once the link is connected: commands queued before wait for it."""

    def add(self, build: Callable[[Pipeline], object], done: Done | None = None) -> None:
        """Queue the commands ``build(pipeline)`` adds; ``done`` gets their replies."""
        self._queue.append((build, done))
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        """Send what is queued (within the link's timeout), then stop."""
        task = self._task
        if task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(task), self._link.timeout)
            except (TimeoutError, asyncio.CancelledError):
                task.cancel()

    async def _run(self) -> None:
        try:
            if not self.ready.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.ready.wait(), 2 * self._link.timeout)
            while self._queue:
                steps, self._queue = self._queue, []
                await self._send(steps)
        finally:
            self._task = None

    async def _send(self, steps: list[tuple[Callable[[Pipeline], object], Done | None]]) -> None:
        link = self._link
        replies: list[Any] | None = None
        failure: ClusterUnavailable | None = None
        spans: list[int] = []
        if link.aio is None or not link.up:
            failure = ClusterUnavailable(f"Redis at {link.url} is unavailable")
        else:
            pipe = link.aio.pipeline(transaction=False)
            for build, _ in steps:
                before = len(pipe.command_stack)
                build(pipe)
                spans.append(len(pipe.command_stack) - before)
            try:
                replies = await pipe.execute(raise_on_error=False)
            except Exception as exc:  # OSError, redis' ConnectionError and TimeoutError
                failure = ClusterUnavailable(f"Redis at {link.url} did not answer: {exc}")
        at = 0
        for index, (_, done) in enumerate(steps):
            if replies is not None:
                span = spans[index]
                mine: list[Any] | ClusterUnavailable = replies[at : at + span]
                at += span
            else:
                mine = failure or ClusterUnavailable("Redis is unavailable")
            if done is None:
                if not isinstance(mine, list):
                    log.warning("a cluster write was lost: %s", mine)
                continue
            try:
                done(mine)
            except Exception:
                log.exception("handling a reply from Redis failed")
