"""The writer thread: group commits, retries after a failed write, and close."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

import pytest

from hotstate_rx import StorageError
from hotstate_rx.server.storage import MemoryStorage, Saved
from hotstate_rx.server.storage.journal import Journal
from hotstate_rx.server.storage.writer import CLOSE_ATTEMPTS, GroupCommit

WAIT = 5.0


class Flaky(MemoryStorage):
    """Fails its first ``failures`` writes (``-1``: every write), like a full disk."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures
        self.writes: list[list[str]] = []
        self.closed = False

    def write(self, saved: Sequence[Saved], deleted: Sequence[str]) -> None:
        if self.failures:
            self.failures -= 1
            raise OSError("No space left on device")
        self.writes.append([s.name for s in saved])
        super().write(saved, deleted)

    def close(self) -> None:
        self.closed = True
        super().close()


def start(storage: MemoryStorage) -> tuple[Journal, GroupCommit, list[Exception], threading.Event]:
    journal = Journal(storage, storage.open())
    durable = threading.Event()
    journal.on_durable = durable.set
    errors: list[Exception] = []
    return journal, GroupCommit(journal, errors.append), errors, durable


def test_records_are_committed_and_reported_durable() -> None:
    storage = Flaky(0)
    journal, writer, errors, durable = start(storage)
    journal.save(Saved("Todos", 1, {"n": 1}))
    token = journal.token()
    assert token is not None
    assert durable.wait(WAIT) and journal.is_durable(token)
    assert storage.load("Todos") == Saved("Todos", 1, {"n": 1}) and errors == []
    writer.close()
    assert storage.closed


def test_a_failed_write_is_reported_and_retried_until_it_succeeds() -> None:
    storage = Flaky(2)
    journal, writer, errors, durable = start(storage)
    journal.save(Saved("Todos", 1, {"n": 1}))
    assert durable.wait(WAIT)
    assert [type(e) for e in errors] == [StorageError, StorageError]
    assert "<MemoryStorage" in str(errors[0]) and "No space left on device" in str(errors[0])
    assert storage.writes == [["Todos"]]
    writer.close()


def test_close_writes_everything_recorded_first() -> None:
    storage = Flaky(0)
    journal, writer, _, _ = start(storage)
    for i in range(100):
        journal.save(Saved(f"Room:{i}", 1, {}))
    writer.close()
    assert len(storage.names()) == 100 and storage.closed
    assert journal.token() is None


def test_close_gives_up_on_a_storage_that_keeps_failing(caplog: pytest.LogCaptureFixture) -> None:
    storage = Flaky(-1)
    journal, writer, errors, _ = start(storage)
    journal.save(Saved("Todos", 1, {}))
    with caplog.at_level(logging.ERROR, logger="hotstate_rx.server.storage.writer"):
        writer.close()
    assert len(errors) >= CLOSE_ATTEMPTS
    assert "1 instance(s) not saved at close" in caplog.text
    assert not storage.closed  # left as after a crash: the next open starts a new epoch
