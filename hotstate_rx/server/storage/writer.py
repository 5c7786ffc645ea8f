"""The writer thread: group commits from a :class:`~.journal.Journal` to its storage.

One thread per server writes, so storage I/O never blocks the event loop and
a backend never sees two writes at once. It commits as soon as something is
recorded and commits again at once if more was recorded meanwhile: a change
waits for at most the commit in progress and its own, so the delay follows
the disk (about a millisecond with SQLite's ``synchronous=FULL`` on an SSD)
and has no timer in it. :data:`COMMIT_BOUND` is the documented bound for
changes that no call waits for; a commit that takes longer is logged.

When a write fails (disk full, storage unreachable) the records wait and the
writer retries with backoff, reporting each failure; results that wait for
those records keep waiting, since an acknowledged change must be a durable one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from ...errors import StorageError
from .journal import Journal

__all__ = ["COMMIT_BOUND", "GroupCommit"]

log = logging.getLogger(__name__)

COMMIT_BOUND = 0.05
"""Seconds within which a change is committed (documented; a slower commit is logged)."""
RETRY = (0.05, 5.0)
"""First and longest wait before writing a failed batch again."""
CLOSE_ATTEMPTS = 3
"""Writes tried at close before the unwritten changes are given up (and logged)."""
SLOW_LOG_EVERY = 60.0
"""Seconds between two warnings about slow commits."""


class GroupCommit:
    """The thread that writes ``journal``'s batches. ``report`` receives every
    :class:`StorageError` (from this thread: route it to the loop)."""

    def __init__(self, journal: Journal, report: Callable[[Exception], None]) -> None:
        self.journal = journal
        self._report = report
        self._closing = False
        self._slow_logged = float("-inf")
        self._thread = threading.Thread(target=self._run, name="hotstate-storage", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        journal, delay, failures = self.journal, RETRY[0], 0
        while (batch := journal.take()) is not None:
            started = time.monotonic()
            try:
                journal.storage.write(batch.saved, batch.deleted)
            except Exception as exc:
                journal.failed(batch)
                failures += 1
                size = len(batch.saved) + len(batch.deleted)
                self._report(_failure(journal, f"writing {size} record(s)", exc))
                if self._closing and failures >= CLOSE_ATTEMPTS:
                    lost = journal.abandon()
                    log.error("%r: %d instance(s) not saved at close", journal.storage, lost)
                    return
                journal.pause(delay)
                delay = min(delay * 2, RETRY[1])
                continue
            delay, failures = RETRY[0], 0
            journal.committed(batch)
            self._check_speed(time.monotonic() - started, len(batch.saved) + len(batch.deleted))
        try:
            journal.storage.close()
        except Exception as exc:
            self._report(_failure(journal, "closing", exc))

    def _check_speed(self, took: float, size: int) -> None:
        if took <= COMMIT_BOUND:
            return
        now = time.monotonic()
        if now - self._slow_logged < SLOW_LOG_EVERY:
            return
        self._slow_logged = now
        log.warning(
            "%r: a commit of %d record(s) took %.0f ms, over the %.0f ms bound",
            self.journal.storage,
            size,
            took * 1000,
            COMMIT_BOUND * 1000,
        )

    def close(self) -> None:
        """Write what is recorded, then close the storage (blocks: run it off the loop).

        After :data:`CLOSE_ATTEMPTS` failed writes the rest is given up and
        logged, and the storage is left as after a crash (a new epoch next time)."""
        self._closing = True
        self.journal.close()
        self._thread.join()


def _failure(journal: Journal, what: str, exc: Exception) -> StorageError:
    """``exc`` as a StorageError naming the storage, logged once with its traceback."""
    error = (
        exc
        if isinstance(exc, StorageError)
        else StorageError(f"{journal.storage!r}: {what} failed: {exc}")
    )
    log.error("%s", error, exc_info=exc)
    return error
