"""The registry's cluster rules, sans I/O: conflicts and their retries, and the
order in which changes heard from other nodes are applied.

The log here is an in-memory stand-in for the pure rules only; everything
that involves Redis is tested against a real redis-server (test_cluster_*)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest

from hotstate_rx import ClusterConflict, ClusterError
from hotstate_rx.patch import apply_patches
from hotstate_rx.server.handle import StoreHandle
from hotstate_rx.server.replication import Conflict, Entry, Loaded, Replication
from hotstate_rx.server.store import CONFLICT_RETRIES, Change, Removed, StoreEvent, StoreRegistry


@dataclass
class _Instance:
    lifetime: str
    entries: list[Entry] = field(default_factory=list)
    claimed: bool = False

    @property
    def version(self) -> int:
        return len(self.entries)


class MemoryLog(Replication):
    """One shared log, as every node's registry sees it (``epoch`` "e1")."""

    def __init__(self, instances: dict[str, _Instance] | None = None) -> None:
        self.epoch = "e1"
        self.instances = {} if instances is None else instances
        self.commits = 0
        self.conflicts = 0

    def node(self) -> MemoryLog:
        """Another node's view of the same log."""
        return MemoryLog(self.instances)

    def load(self, name: str, defaults: Any) -> Loaded | None:
        inst = self.instances.get(name)
        if inst is None:
            return None
        state, initialized = defaults, False
        for entry in inst.entries:
            state = entry.state if entry.patches is None else apply_patches(state, entry.patches)
            initialized = entry.initialized
        return Loaded(inst.version, inst.lifetime, initialized, state)

    def create(self, name: str, lifetime: str) -> str:
        return self.instances.setdefault(name, _Instance(lifetime)).lifetime

    def claim(self, name: str, lifetime: str) -> bool:
        inst = self.instances.get(name)
        if inst is None or inst.lifetime != lifetime:
            raise Conflict(None)
        if any(e.initialized for e in inst.entries[-1:]):
            return False
        inst.claimed = True
        return True

    def unclaim(self, name: str, lifetime: str) -> None:
        inst = self.instances.get(name)
        if inst is not None and inst.lifetime == lifetime:
            inst.claimed = False

    def commit(self, name: str, base: int, lifetime: str, entry: Entry, state: Any) -> None:
        inst = self.instances.get(name)
        if inst is None or inst.lifetime != lifetime:
            raise Conflict(None)
        if inst.version != base:
            self.conflicts += 1
            raise Conflict(inst.entries[base:])
        self.commits += 1
        inst.entries.append(entry)

    def delete(self, name: str, lifetime: str) -> bool | None:
        inst = self.instances.get(name)
        if inst is None or inst.lifetime != lifetime:
            return None
        del self.instances[name]
        return any(e.initialized for e in inst.entries[-1:])

    def names(self) -> list[str]:
        return list(self.instances)

    def since(self, name: str, lifetime: str, version: int) -> list[Entry] | None:
        inst = self.instances.get(name)
        if inst is None or inst.lifetime != lifetime:
            return None
        return inst.entries[version:]

    def heads(self, names: Iterable[str]) -> dict[str, tuple[int, str] | None]:
        found = {n: self.instances.get(n) for n in names}
        return {n: None if i is None else (i.version, i.lifetime) for n, i in found.items()}


class Node:
    """One registry on the shared log, with a Counter store and what it announced."""

    def __init__(self, log: MemoryLog) -> None:
        self.log = log
        self.registry = StoreRegistry(replication=log)
        self.counter = StoreHandle(self.registry, self.registry.define("Counter", {"n": 0}))
        self.events: list[StoreEvent] = []
        self.registry.watch(self.events.append)

    def used(self) -> Node:
        """Initialised here (catching up if another node did it), events cleared."""
        self.counter.init()
        self.events.clear()
        return self

    def versions(self) -> list[int]:
        return [e.version for e in self.events if isinstance(e, Change)]


def increment(draft: Any) -> None:
    draft["n"] += 1


@pytest.fixture
def log() -> MemoryLog:
    return MemoryLog()


def test_update_on_a_stale_replica_catches_up_and_runs_again(log: MemoryLog) -> None:
    a, b = Node(log).used(), Node(log.node()).used()
    a.counter.update(increment)
    a.counter.update(increment)
    assert b.counter.get() == {"n": 0}  # b heard nothing yet
    runs: list[int] = []

    def counted(draft: Any) -> None:
        runs.append(draft["n"])
        increment(draft)

    b.counter.update(counted)
    assert runs == [0, 2]  # once on the stale copy, again on the caught-up one
    assert b.counter.get() == {"n": 3} and b.counter.version() == 4
    assert b.versions() == [2, 3, 4]  # subscribers got every version, in order
    assert log.load("Counter", None) == Loaded(4, log.instances["Counter"].lifetime, True, {"n": 3})


def test_set_on_a_stale_replica_is_committed_after_catching_up(log: MemoryLog) -> None:
    a, b = Node(log).used(), Node(log.node()).used()
    a.counter.update(increment)
    b.counter.set({"n": 10})
    assert b.counter.version() == 3 and log.instances["Counter"].version == 3


def test_mutate_on_a_stale_replica_raises_and_applies_nothing(log: MemoryLog) -> None:
    a, b = Node(log).used(), Node(log.node()).used()
    a.counter.update(increment)
    conflict = pytest.raises(ClusterConflict, match="'Counter' was changed by another node")
    with conflict as caught, b.counter.mutate() as draft:
        draft["n"] = 100
    assert caught.value.store == "Counter"
    assert b.counter.get() == {"n": 1} and b.counter.version() == 2  # caught up, not applied
    assert log.load("Counter", None).state == {"n": 1}  # type: ignore[union-attr]


def test_retries_are_bounded(log: MemoryLog) -> None:
    a, b = Node(log).used(), Node(log.node()).used()
    runs = 0

    def racing(draft: Any) -> None:  # another node wins every race
        nonlocal runs
        runs += 1
        a.counter.update(increment)
        increment(draft)

    with pytest.raises(ClusterError, match=f"{CONFLICT_RETRIES} tries"):
        b.counter.update(racing)
    assert runs == CONFLICT_RETRIES


def test_single_node_never_retries() -> None:
    registry = StoreRegistry()
    counter = StoreHandle(registry, registry.define("Counter", {"n": 0}))
    assert list(registry.attempts("Counter")) == [0]
    counter.update(increment)
    assert counter.get() == {"n": 1}


def test_remote_changes_apply_in_version_order_and_echoes_are_ignored(log: MemoryLog) -> None:
    a, b = Node(log).used(), Node(log.node()).used()
    lifetime = log.instances["Counter"].lifetime
    a.counter.update(increment)  # v2
    a.counter.update(increment)  # v3
    v2, v3 = log.instances["Counter"].entries[1:3]
    assert b.registry.apply_remote("Counter", lifetime, v2)
    assert b.registry.apply_remote("Counter", lifetime, v2)  # again: ignored
    assert b.registry.apply_remote("Counter", lifetime, v3)
    assert b.versions() == [2, 3] and b.counter.get() == {"n": 2}
    assert a.registry.apply_remote("Counter", lifetime, v3)  # a's own echo
    assert a.versions() == [2, 3]


def test_a_gap_is_filled_from_the_log(log: MemoryLog) -> None:
    a, b = Node(log).used(), Node(log.node()).used()
    lifetime = log.instances["Counter"].lifetime
    for _ in range(3):
        a.counter.update(increment)  # v2..v4
    v4 = log.instances["Counter"].entries[3]
    b.registry.apply_remote("Counter", lifetime, v4)  # v2 and v3 were missed
    assert b.versions() == [2, 3, 4] and b.counter.get() == {"n": 3}


def test_a_change_of_another_lifetime_reloads_and_one_not_in_memory_is_refused(
    log: MemoryLog,
) -> None:
    a, b = Node(log).used(), Node(log.node()).used()
    room_a = StoreHandle(a.registry, a.registry.define("Room:*", {"m": []}))
    room_b = StoreHandle(b.registry, b.registry.define("Room:*", {"m": []}))
    room_a.update("x", lambda d: d["m"].append(1))
    entry = log.instances["Room:x"].entries[-1]
    assert not b.registry.apply_remote("Room:x", "other", entry)  # b does not hold it
    assert room_b.get("x") == {"m": [1]}  # loaded on use
    room_a.delete("x")
    room_a.update("x", lambda d: d["m"].append(2))  # a new lifetime
    new = log.instances["Room:x"]
    assert b.registry.apply_remote("Room:x", new.lifetime, new.entries[-1])
    assert isinstance(b.events[-1], Removed)  # b's copy was of the deleted lifetime
    assert room_b.get("x") == {"m": [2]}


def test_remove_remote_drops_only_the_same_lifetime(log: MemoryLog) -> None:
    a, b = Node(log).used(), Node(log.node()).used()
    lifetime = log.instances["Counter"].lifetime
    b.registry.remove_remote("Counter", "stale")
    assert b.counter.has() and not b.events
    b.registry.remove_remote("Counter", lifetime)
    assert b.events == [Removed("Counter", None)]
    assert a.counter.has()  # a was not told: the log still has it


def test_on_create_runs_where_the_claim_was_won(log: MemoryLog) -> None:
    created: list[str] = []
    nodes = [Node(log if i == 0 else log.node()) for i in range(3)]
    rooms = [StoreHandle(n.registry, n.registry.define("Room:*", {"m": []})) for n in nodes]
    for room in rooms:
        room.on_create(lambda key: created.append(key) or {"m": ["hello"]})
    for room in rooms:
        room.init("x")
    assert created == ["x"]
    assert [room.get("x") for room in rooms] == [{"m": ["hello"]}] * 3


def test_delete_runs_on_terminate_once_and_reset_after_its_commit(log: MemoryLog) -> None:
    a, b = Node(log).used(), Node(log.node()).used()
    terminated: list[Any] = []
    for node in (a, b):
        node.counter.on_terminate(lambda key, node=node: terminated.append(node.counter.get()))
    a.counter.update(increment)
    b.counter.reset()  # b's stale copy catches up, then resets
    assert terminated == [{"n": 0}]  # after the reset: defaults
    a.counter.reset()  # a catches up: not initialised any more, nothing to do
    assert terminated == [{"n": 0}]
    a.counter.init()
    a.counter.delete()
    assert terminated == [{"n": 0}, {"n": 0}]  # the copy was still readable in the hook
    b.counter.delete()  # a deleted it first: b only drops its copy
    assert len(terminated) == 2 and not b.counter.has()
    assert b.events[-1] == Removed("Counter", None)


def test_resync_catches_up_reloads_or_drops(log: MemoryLog) -> None:
    a, b = Node(log).used(), Node(log.node()).used()
    a.counter.update(increment)
    a.counter.update(increment)  # v3; b is at v1
    b.registry.resync()
    assert b.versions() == [2, 3] and b.counter.get() == {"n": 2}
    log.instances["Counter"].entries.pop()  # the log lost v3 (Redis restarted, not synced)
    a.registry.resync()
    assert a.events[-1] == Removed("Counter", None)  # its subscribers saw a version now gone
    assert a.counter.get() == {"n": 1} and a.counter.version() == 2  # the log's, on next use
