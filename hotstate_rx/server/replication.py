"""The registry's seam to a replicated log of every instance (pure: no I/O).

With ``Server(cluster=...)`` the :class:`~.store.StoreRegistry` keeps
*replicas*: every write goes through :meth:`Replication.commit`, a
compare-and-set on the instance's version in the shared log, before it is
applied in memory (see ``docs/CLUSTER.md``). This module is the interface
the registry takes, the way it takes a journal for storage; the Redis
implementation is :mod:`hotstate_rx.server.cluster.replica`, the only one
that does I/O.

Every method may raise :class:`~hotstate_rx.errors.ClusterUnavailable`
(the log cannot be reached within its timeout): nothing was applied then.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..patch import PatchOp
from ..protocol import Cause

__all__ = ["Conflict", "Entry", "Loaded", "Replication"]


@dataclass(frozen=True, slots=True)
class Entry:
    """One version of one instance in the log: ``patches`` from the previous
    version, or ``patches`` None and ``state`` the whole new state."""

    version: int
    initialized: bool
    patches: list[PatchOp] | None
    state: Any = None
    cause: Cause | None = None


@dataclass(frozen=True, slots=True)
class Loaded:
    """An instance read from the log: its state at ``version``."""

    version: int
    lifetime: str
    initialized: bool
    state: Any


class Conflict(Exception):
    """The log's version of the instance is not the base of the change.

    ``entries``: the versions after the base, in order, when the log still
    holds them and the lifetime is the same; None means "reload the instance"
    (deleted, re-created, or the log was trimmed past the base)."""

    def __init__(self, entries: list[Entry] | None) -> None:
        super().__init__("the instance changed in the cluster")
        self.entries = entries


class Replication(ABC):
    """What the registry needs of a replicated log (see the module docstring)."""

    epoch: str
    """The history every node's versions belong to (the same on every node)."""

    @abstractmethod
    def load(self, name: str, defaults: Any) -> Loaded | None:
        """The instance as the log holds it (``defaults`` is its state before
        any snapshot), or None if it does not exist."""

    @abstractmethod
    def create(self, name: str, lifetime: str) -> str:
        """Make the instance at version 0 with ``lifetime`` unless it exists;
        return the lifetime in place (another one: someone else created it)."""

    @abstractmethod
    def claim(self, name: str, lifetime: str) -> bool:
        """Take the right to run ``on_create``: True if this node won it (it then
        commits with ``initialized`` True); False once another node's
        initialisation is committed (the caller catches up with :meth:`since`).
        Waits, bounded, while another live node holds the claim; raises
        :class:`Conflict` (None: reload) if the lifetime is gone."""

    @abstractmethod
    def unclaim(self, name: str, lifetime: str) -> None:
        """Give up this node's claim (its ``on_create`` raised)."""

    @abstractmethod
    def commit(self, name: str, base: int, lifetime: str, entry: Entry, state: Any) -> None:
        """Append ``entry`` (version ``base + 1``) if the log is at ``base`` in
        ``lifetime``; otherwise raise :class:`Conflict`. ``state`` is the state
        the entry leads to (the log may keep a snapshot of it)."""

    @abstractmethod
    def delete(self, name: str, lifetime: str) -> bool | None:
        """Delete the instance if it is still in ``lifetime``: None if this call
        did not, else whether it was initialised (``on_terminate`` is due)."""

    @abstractmethod
    def names(self) -> list[str]:
        """Every instance that exists."""

    @abstractmethod
    def since(self, name: str, lifetime: str, version: int) -> list[Entry] | None:
        """The entries after ``version``, in order; None when the log cannot
        give them (another lifetime, gone, trimmed): reload instead."""

    @abstractmethod
    def heads(self, names: Iterable[str]) -> dict[str, tuple[int, str] | None]:
        """``name -> (version, lifetime)`` in the log now, None for the absent."""
