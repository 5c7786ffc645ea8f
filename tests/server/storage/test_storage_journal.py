"""The journal without a thread: records, group batches, tokens, reads that see pending records."""

from __future__ import annotations

import pytest

from hotstate_rx import StorageError
from hotstate_rx.server.storage import MemoryStorage, Saved
from hotstate_rx.server.storage.journal import Batch, Journal


@pytest.fixture
def journal() -> Journal:
    storage = MemoryStorage()
    return Journal(storage, storage.open())


def write(journal: Journal) -> Batch:
    """What the writer thread does, once: take a batch, write it, acknowledge it."""
    batch = journal.take()
    assert batch is not None
    journal.storage.write(batch.saved, batch.deleted)
    journal.committed(batch)
    return batch


def test_a_batch_holds_the_latest_record_of_each_instance(journal: Journal) -> None:
    for version in (1, 2, 3):
        journal.save(Saved("Todos", version, {"n": version}))
    journal.save(Saved("Room:a", 1, {}))
    journal.delete("Room:b")
    batch = write(journal)
    assert batch == Batch([Saved("Todos", 3, {"n": 3}), Saved("Room:a", 1, {})], ["Room:b"], 5)
    assert journal.storage.load("Todos") == Saved("Todos", 3, {"n": 3})


def test_a_token_is_durable_once_a_batch_covering_it_is_committed(journal: Journal) -> None:
    assert journal.token() is None  # nothing recorded: nothing to wait for
    journal.save(Saved("Todos", 1, {}))
    token = journal.token()
    assert token == 1 and not journal.is_durable(token)
    batch = journal.take()
    assert batch is not None
    journal.save(Saved("Todos", 2, {}))  # recorded while the batch is being written
    later = journal.token()
    assert later == 2
    journal.committed(batch)
    assert journal.is_durable(token) and not journal.is_durable(later)
    write(journal)
    assert journal.is_durable(later) and journal.token() is None


def test_the_writer_is_told_after_each_commit(journal: Journal) -> None:
    told: list[int] = []
    journal.on_durable = lambda: told.append(journal.token() or 0)
    journal.save(Saved("Todos", 1, {}))
    write(journal)
    assert told == [0]


def test_reads_see_records_waiting_and_being_written_before_storage(journal: Journal) -> None:
    journal.storage.write([Saved("Room:a", 4, {"old": True})], [])
    assert journal.load("Room:a") == Saved("Room:a", 4, {"old": True})
    journal.save(Saved("Room:a", 5, {"new": True}))
    assert journal.load("Room:a") == Saved("Room:a", 5, {"new": True})
    batch = journal.take()
    assert batch is not None
    assert journal.load("Room:a") == Saved("Room:a", 5, {"new": True})  # on its way
    journal.delete("Room:a")
    assert journal.load("Room:a") is None
    journal.storage.write(batch.saved, batch.deleted)
    journal.committed(batch)
    assert journal.load("Room:a") is None
    assert journal.storage.load("Room:a") == Saved("Room:a", 5, {"new": True})


def test_names_count_pending_records_and_not_pending_deletions(journal: Journal) -> None:
    journal.storage.write([Saved("Room:a", 1, {}), Saved("Room:b", 1, {})], [])
    journal.delete("Room:a")
    journal.save(Saved("Room:c", 1, {}))
    assert sorted(journal.names()) == ["Room:b", "Room:c"]


def test_a_failed_batch_waits_again_behind_newer_records(journal: Journal) -> None:
    journal.save(Saved("Todos", 1, {"v": 1}))
    journal.save(Saved("Room:a", 1, {}))
    batch = journal.take()
    assert batch is not None
    journal.save(Saved("Todos", 2, {"v": 2}))
    journal.failed(batch)
    retry = write(journal)
    assert sorted(retry.saved, key=lambda s: s.name) == [
        Saved("Room:a", 1, {}),
        Saved("Todos", 2, {"v": 2}),
    ]
    assert retry.upto == 3 and journal.token() is None


def test_a_closed_journal_refuses_records_and_drains(journal: Journal) -> None:
    journal.save(Saved("Todos", 1, {}))
    journal.close()
    with pytest.raises(StorageError, match=r"closed.*'Todos'"):
        journal.save(Saved("Todos", 2, {}))
    write(journal)
    assert journal.take() is None


def test_abandon_drops_and_counts_what_was_not_written(journal: Journal) -> None:
    journal.save(Saved("Todos", 1, {}))
    journal.delete("Room:a")
    assert journal.abandon() == 2
    assert journal.load("Todos") is None and journal.names() == []
