"""The ordered notification queue behind ``watch`` (pure: no asyncio).

Mutations append to one queue while they hold the registry lock, so the queue
order is the mutation order. ``flush()`` runs the queued notifications outside
the lock, one at a time; a flush requested while one is running (a listener
that mutates, or another thread) returns at once and the running flush picks
the new items up, so order is kept and nothing re-enters a listener.

Where flushing happens is pluggable (``set_deliver``): inline by default, on
the server's event loop once it runs one.
"""

from __future__ import annotations

import enum
import logging
import threading
from collections import deque
from collections.abc import Callable
from functools import partial
from typing import Any, Final, TypeAlias

__all__ = ["ALL", "Notifier", "Watch", "WatchKey", "guarded"]

log = logging.getLogger(__name__)


class _All(enum.Enum):
    """Sentinel type: watch every instance of a store.

    A one-member enum rather than a bare ``object()`` so that type checkers
    narrow ``key is ALL`` / ``key is not ALL`` (``WatchKey`` minus ``_All``
    is ``str | None``), and so that copying or pickling keeps the identity."""

    ALL = "ALL"

    def __repr__(self) -> str:
        return "ALL"

    __str__ = __repr__


ALL: Final = _All.ALL
WatchKey: TypeAlias = "str | _All | None"


class Watch:
    """One registered listener and the instances it wants (None = every store)."""

    __slots__ = ("active", "definition", "key", "listener")

    def __init__(self, listener: Callable[[Any], None], definition: str | None, key: WatchKey):
        self.listener = listener
        self.definition = definition
        self.key = key
        self.active = True

    def matches(self, definition: str, event: Any) -> bool:
        if self.definition is not None and self.definition != definition:
            return False
        return self.key is ALL or self.key == event.key


class Notifier:
    """An ordered queue of notifications, flushed by one thread at a time."""

    def __init__(self, lock: threading.RLock) -> None:
        self._lock = lock
        self._queue: deque[Callable[[], None]] = deque()
        self._watches: list[Watch] = []
        self._flushing = False
        self._requested = False  # a flush was asked for and has not started yet
        self._deliver: Callable[[Callable[[], None]], None] | None = None

    def set_deliver(self, deliver: Callable[[Callable[[], None]], None] | None) -> None:
        """Have :meth:`deliver` call ``deliver(self.flush)`` (None: flush inline)."""
        self._deliver = deliver

    def add(self, watch: Watch) -> Callable[[], None]:
        """Register ``watch`` for events enqueued from now on; return its remover."""
        with self._lock:
            self._watches.append(watch)

        def remove() -> None:
            with self._lock:
                watch.active = False
                if watch in self._watches:
                    self._watches.remove(watch)

        return remove

    def enqueue(self, event: Any, definition: str) -> None:
        """Queue ``event`` for the watches registered now (caller holds the lock)."""
        targets = [w for w in self._watches if w.matches(definition, event)]
        if targets:
            self._queue.append(partial(_notify, targets, event))

    def enqueue_call(self, fn: Callable[..., Any], *args: Any) -> None:
        """Queue a plain call, ordered with the events (caller holds the lock)."""
        self._queue.append(partial(guarded, fn, *args))

    def deliver(self) -> None:
        """Ask for a flush where the owner wants it (called after the lock is released).

        One request is outstanding at a time: a thread mutating in a burst asks
        the loop once, not once per mutation, and the flush takes the lot."""
        with self._lock:
            if not self._queue or self._requested:
                return
            self._requested = True
        deliver = self._deliver
        if deliver is None:
            self.flush()
        else:
            deliver(self.flush)

    def flush(self) -> None:
        """Run queued items in order, in this thread, until the queue is empty
        (at once if another flush is running: that one picks them up)."""
        if not self._queue and not self._requested:
            # Nothing of this thread's is queued (its items are appended before
            # it asks), and no request waits to be cleared: no lock needed.
            return
        with self._lock:
            self._requested = False  # items queued from now on ask again
            if self._flushing:
                return
            self._flushing = True
        try:
            while True:
                with self._lock:
                    if not self._queue:
                        self._flushing = False
                        return
                    item = self._queue.popleft()
                item()
        except BaseException:
            with self._lock:
                self._flushing = False
            raise


def _notify(watches: list[Watch], event: Any) -> None:
    for watch in watches:
        if watch.active:
            guarded(watch.listener, event)


def guarded(fn: Callable[..., Any], *args: Any) -> None:
    """Call user code; log what it raises instead of letting it break the caller."""
    try:
        fn(*args)
    except Exception:
        log.exception("listener %r raised", fn)
