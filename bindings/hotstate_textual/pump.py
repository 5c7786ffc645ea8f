"""Feed an Observable into a Textual node, on the app's loop, for the node's lifetime.

Everything the binding does goes through :func:`bind_observable`. It runs one
Textual worker per binding, which gives three things for free:

- **the right loop**: values are applied inside the worker, an asyncio task on
  the app's loop. An emission from another thread (a client running on its own
  loop) is handed over with ``loop.call_soon_threadsafe``; one from the app's
  own thread is taken directly. The emitting side is never blocked (unlike
  ``App.call_from_thread``, which waits for the app). That step is
  :class:`~hotstate_rx.client.handover.LoopHandover`, shared with NiceGUI.
- **the right lifetime**: Textual cancels a node's workers when it unmounts, and
  the worker's ``finally`` disposes the Rx subscription.
- **coalescing**: only the latest value is kept between two turns of the
  worker, so a burst of patches costs one UI update, never a backlog.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from reactivex import Observable
from textual.dom import DOMNode
from textual.worker import Worker

from hotstate_rx.client.handover import LoopHandover

T = TypeVar("T")

_EMPTY: Any = object()


class Mailbox(Generic[T]):
    """Latest-value slot filled from any thread and drained by one asyncio task."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._deliver = LoopHandover(loop)
        self._ready = asyncio.Event()
        self._value: T = _EMPTY
        self._error: BaseException | None = None
        self._done = False

    def put(self, value: T) -> None:
        self._deliver(self._set, value)

    def fail(self, error: BaseException) -> None:
        self._deliver(self._set_error, error)

    def complete(self) -> None:
        """The stream completed: the reader gets ``StopAsyncIteration`` after the last value."""
        self._deliver(self._set_done, None)

    async def get(self) -> T:
        """The latest value; raises the stream's error; ``StopAsyncIteration`` at its end."""
        while True:
            if self._value is not _EMPTY:
                value, self._value = self._value, _EMPTY
                return value
            if self._error is not None:
                raise self._error
            if self._done:
                raise StopAsyncIteration
            self._ready.clear()
            await self._ready.wait()

    def _set(self, value: T) -> None:
        self._value = value
        self._ready.set()

    def _set_error(self, error: BaseException) -> None:
        self._error = error
        self._ready.set()

    def _set_done(self, _: None) -> None:
        self._done = True
        self._ready.set()


def bind_observable(
    node: DOMNode,
    source: Observable[T],
    on_value: Callable[[T], object],
    *,
    on_completed: Callable[[], object] | None = None,
    name: str = "hotstate",
) -> Worker[None]:
    """Call ``on_value(value)`` on the app's loop for each value of ``source``.

    Runs until ``source`` completes (then ``on_completed()``), or until ``node``
    unmounts, whichever comes first; the subscription is disposed either way.
    An error of ``source`` fails the worker, which by Textual's default exits
    the app with the traceback: it is a bug of the app (e.g. an unknown store).
    Call it from the app's loop, typically in ``on_mount``.
    """

    async def pump() -> None:
        box: Mailbox[T] = Mailbox(asyncio.get_running_loop())
        subscription = source.subscribe(
            on_next=box.put, on_error=box.fail, on_completed=box.complete
        )
        try:
            while True:
                try:
                    value = await box.get()
                except StopAsyncIteration:
                    break
                on_value(value)
        finally:
            subscription.dispose()
        if on_completed is not None:
            on_completed()

    return node.run_worker(pump(), name=name, group="hotstate")


__all__ = ["Mailbox", "bind_observable"]
