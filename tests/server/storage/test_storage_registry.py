"""The registry with storage, without a thread or a loop: save, restore, revive, hibernate.

Batches are written by the test itself (what the writer thread does), and
time is a number the test moves, so every step is deterministic.
"""

from __future__ import annotations

from typing import Any
from unittest.mock import ANY

import pytest

from hotstate_rx import StorageError
from hotstate_rx.server.handle import StoreHandle
from hotstate_rx.server.storage import MemoryStorage, Saved
from hotstate_rx.server.storage.journal import Journal
from hotstate_rx.server.store import StoreRegistry

HIBERNATE_AFTER = 10.0


class Counting(MemoryStorage):
    """Counts loads: an instance read back from storage was not in memory."""

    def __init__(self) -> None:
        super().__init__()
        self.loads: list[str] = []

    def load(self, name: str) -> Saved | None:
        self.loads.append(name)
        return super().load(name)


class Rig:
    """A registry over one storage; ``restart()`` gives a new one, as a new process would."""

    def __init__(self) -> None:
        self.storage = Counting()
        self.now = 0.0
        self.created: list[Any] = []
        self.hibernated: list[str] = []
        self.journal: Journal | None = None
        self.restart()

    def restart(self) -> None:
        if self.journal is not None:
            self.write()
            self.storage.close()
        self.journal = Journal(self.storage, self.storage.open())
        self.registry = StoreRegistry(
            self.journal, hibernate_after=HIBERNATE_AFTER, clock=lambda: self.now
        )
        self.registry.on_hibernated = self.hibernated.append
        self.storage.loads.clear()

    def restarted(self) -> tuple[StoreHandle, StoreHandle]:
        """:meth:`restart`, then the stores defined again, with a fresh on_create log."""
        self.restart()
        self.created.clear()
        return self.stores()

    def write(self) -> None:
        """Commit everything recorded (the writer thread's job)."""
        assert self.journal is not None
        while self.journal.token() is not None:
            batch = self.journal.take()
            assert batch is not None
            self.storage.write(batch.saved, batch.deleted)
            self.journal.committed(batch)

    def stores(self) -> tuple[StoreHandle, StoreHandle]:
        """``Todos`` and ``Room:*``, with on_create hooks that log their keys."""
        reg = self.registry
        todos = StoreHandle(reg, reg.define("Todos", {"items": []}))
        rooms = StoreHandle(reg, reg.define("Room:*", {"messages": []}))
        todos.on_create(lambda key: self.created.append(("Todos", key)))
        rooms.on_create(lambda key: self.created.append(("Room", key)) or {"name": key})
        return todos, rooms


@pytest.fixture
def rig() -> Rig:
    return Rig()


def test_a_restart_restores_states_and_versions_without_on_create(rig: Rig) -> None:
    todos, rooms = rig.stores()
    todos.update(lambda d: d["items"].append("milk"))
    rooms.update("a", lambda d: d["messages"].append("hi"))
    assert rig.created == [("Todos", None), ("Room", "a")]
    assert (todos.version(), rooms.version("a")) == (2, 2)

    todos, rooms = rig.restarted()
    assert todos.get() == {"items": ["milk"]} and todos.version() == 2
    assert rooms.get("a") == {"messages": ["hi"], "name": "a"} and rooms.version("a") == 2
    assert todos.is_initialized() and rooms.is_initialized("a")
    rooms.update("a", lambda d: d["messages"].append("again"))
    assert rooms.version("a") == 3 and rig.created == []


def test_saved_instances_exist_before_their_first_use(rig: Rig) -> None:
    _, rooms = rig.stores()
    rooms.init("a")
    rig.restart()
    StoreHandle(rig.registry, rig.registry.define("Room:*", {}))
    assert rig.registry.names() == ["Room:a"]
    assert rig.storage.loads == []  # listing reads no state
    assert rig.registry.has("Room:a") and not rig.registry.has("Room:b")


def test_records_of_stores_no_longer_registered_are_not_listed(rig: Rig) -> None:
    _, rooms = rig.stores()
    rooms.init("a")
    rig.restart()
    assert rig.registry.names() == [] and not rig.registry.has("Room:a")


def test_delete_removes_the_record_and_the_next_use_starts_over(rig: Rig) -> None:
    _, rooms = rig.stores()
    rooms.update("a", lambda d: d["messages"].append("hi"))
    rooms.delete("a")
    _, rooms = rig.restarted()
    assert rig.registry.names() == ["Todos"] and rooms.get("a") is None
    rooms.init("a")
    assert rig.created == [("Room", "a")] and rooms.version("a") == 1


def test_a_reset_instance_runs_on_create_again_after_a_restart(rig: Rig) -> None:
    _, rooms = rig.stores()
    rooms.update("a", lambda d: d["messages"].append("hi"))
    rooms.reset("a")
    _, rooms = rig.restarted()
    assert not rooms.is_initialized("a") and rooms.get("a") == {"messages": []}
    rooms.init("a")
    assert rig.created == [("Room", "a")] and rooms.version("a") == 4


def test_delete_of_a_hibernated_instance_runs_on_terminate_with_its_state(rig: Rig) -> None:
    _, rooms = rig.stores()
    seen: list[Any] = []
    rooms.on_terminate(lambda key: seen.append(rooms.get(key)))
    rooms.update("a", lambda d: d["messages"].append("hi"))
    rig.now += HIBERNATE_AFTER
    rig.registry.hibernate()
    assert rig.hibernated == ["Room:a"]
    rooms.delete("a")
    assert seen == [{"messages": ["hi"], "name": "a"}]
    rig.write()
    assert rig.storage.load("Room:a") is None


# -- hibernation -------------------------------------------------------------------


def test_an_idle_instance_hibernates_and_comes_back_as_it_was(rig: Rig) -> None:
    _, rooms = rig.stores()
    rooms.update("a", lambda d: d["messages"].append("hi"))
    rig.storage.loads.clear()  # the look-ups of creation
    assert rig.registry.hibernation_delay() == HIBERNATE_AFTER
    rig.now += HIBERNATE_AFTER - 1
    rig.registry.hibernate()
    assert rig.hibernated == [] and rig.registry.hibernation_delay() == 1
    rig.now += 1
    rig.registry.hibernate()
    assert rig.hibernated == ["Room:a"] and rig.registry.hibernation_delay() is None
    assert rig.storage.loads == []

    # Not written yet: the journal still has it, and reads see it.
    assert rooms.get("a") == {"messages": ["hi"], "name": "a"} and rooms.version("a") == 2
    assert rig.storage.loads == []
    rig.write()
    rig.now += HIBERNATE_AFTER
    rig.registry.hibernate()
    rooms.update("a", lambda d: d["messages"].append("back"))  # from storage, no on_create
    assert rig.storage.loads == ["Room:a"] and rooms.version("a") == 3
    assert rig.created == [("Room", "a")]


def test_subscribed_and_static_instances_never_hibernate(rig: Rig) -> None:
    todos, rooms = rig.stores()
    todos.update(lambda d: d["items"].append(1))
    rig.registry.acquire(rooms.definition, "a")
    rig.now += 10 * HIBERNATE_AFTER
    rig.registry.hibernate()
    assert rig.hibernated == [] and rig.registry.hibernation_delay() is None
    rig.registry.release("Room:a")
    assert rig.registry.hibernation_delay() == HIBERNATE_AFTER  # idle from its last subscriber
    rig.now += HIBERNATE_AFTER
    rig.registry.hibernate()
    assert rig.hibernated == ["Room:a"]


def test_every_use_restarts_the_idle_clock(rig: Rig) -> None:
    _, rooms = rig.stores()
    rooms.init("a")
    rooms.init("b")
    rig.now += HIBERNATE_AFTER - 1
    rooms.set("a", {"messages": ["still here"]})
    rig.now += 1
    rig.registry.hibernate()
    assert rig.hibernated == ["Room:b"] and rig.registry.hibernation_delay() == HIBERNATE_AFTER - 1


def test_memory_stays_flat_with_many_rooms_over_time_and_few_active(rig: Rig) -> None:
    """2,000 rooms, one a tick, each subscribed for 100 ticks: at most the active
    ones and the recently idle ones stay in memory; every room still exists."""
    _, rooms = rig.stores()
    rooms_total, active, tick = 2000, 100, HIBERNATE_AFTER / 100
    peak = 0
    for i in range(rooms_total):
        rig.now += tick
        rig.registry.acquire(rooms.definition, f"r{i}")
        rooms.update(f"r{i}", lambda d, i=i: d["messages"].append(i))
        if i >= active:
            rig.registry.release(f"Room:r{i - active}")
        rig.registry.hibernate()
        rig.write()
        peak = max(peak, i + 1 - len(rig.hibernated))
    assert peak <= 2 * active + 1
    assert len(rig.registry.names()) == rooms_total + 1  # and Todos
    assert rooms.get("r0") == {"messages": [0], "name": "r0"}


# -- bad values ---------------------------------------------------------------------


def test_a_saved_state_that_is_not_json_fails_naming_the_instance(rig: Rig) -> None:
    rig.storage.write([Saved("Room:a", 1, {"tags": {1, 2}})], [])
    _, rooms = rig.stores()
    with pytest.raises(StorageError, match=r"saved state of 'Room:a' is not a JSON value at /tags"):
        rooms.get("a")
    assert not rig.registry.has("Room:b")


def test_a_non_json_value_never_reaches_storage(rig: Rig) -> None:
    todos, _ = rig.stores()
    todos.init()
    rig.write()
    with pytest.raises(TypeError, match="/items/0"):
        todos.set({"items": [{1, 2}]})
    with pytest.raises(TypeError, match="/items/0"):
        todos.update(lambda d: d["items"].append(b"bytes"))
    assert rig.journal is not None and rig.journal.token() is None
    assert rig.storage.load("Todos") == Saved("Todos", 1, {"items": []}, lifetime=ANY)


def test_after_the_storage_closed_a_change_raises_and_changes_nothing(rig: Rig) -> None:
    todos, _ = rig.stores()
    todos.init()
    assert rig.journal is not None
    rig.journal.close()
    with pytest.raises(StorageError, match="closed"):
        todos.update(lambda d: d["items"].append(1))
    assert todos.get() == {"items": []} and todos.version() == 1


def test_an_instances_history_goes_on_across_a_clean_restart_and_a_hibernation(rig: Rig) -> None:
    """A client's copy is named by ``(epoch, version)`` (resume by version): the
    same lifetime of an instance keeps its epoch; a new lifetime gets another."""
    _, rooms = rig.stores()
    rooms.init("a")
    first = rig.registry.find(rooms.definition, "a")
    assert first is not None and first.epoch
    _, rooms = rig.restarted()
    assert rooms.instance("a").snapshot() is not None
    again = rig.registry.find(rooms.definition, "a")
    assert again is not None and again.epoch == first.epoch  # the same history goes on
    rooms.delete("a")
    rooms.init("a")
    new = rig.registry.find(rooms.definition, "a")
    assert new is not None and new.epoch != first.epoch  # a new lifetime, a new history


def test_after_a_crash_every_history_starts_anew(rig: Rig) -> None:
    """The storage's epoch changes after a crash (changes not yet committed are
    gone), so a copy a client kept from before can never pass for current."""
    _, rooms = rig.stores()
    rooms.init("a")
    rig.write()
    before = rig.registry.find(rooms.definition, "a")
    assert before is not None
    rig.journal = Journal(rig.storage, "another epoch")  # what open() says after a crash
    rig.registry = StoreRegistry(rig.journal)
    rooms = StoreHandle(rig.registry, rig.registry.define("Room:*", {"messages": []}))
    rooms.init("a")
    after = rig.registry.find(rooms.definition, "a")
    assert after is not None and after.version == before.version
    assert after.epoch != before.epoch and after.epoch.startswith("another epoch.")
