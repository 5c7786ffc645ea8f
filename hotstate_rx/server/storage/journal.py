"""Changes on their way to storage (pure: no I/O, no asyncio).

The registry records every committed change here while it holds its lock, so
the journal's order is the mutation order. The server's writer thread
(:mod:`.writer`) takes everything recorded so far as one :class:`Batch` and
writes it in one transaction: a *group commit*, sized by how much happened
while the previous commit was on its way to disk. Only the latest record of
an instance waits: a thousand updates of one instance between two commits
are one row written.

Sequence numbers make durability checkable: each record takes the next
number, :meth:`Journal.token` is the number to wait for so that everything
recorded so far is on disk, and :meth:`Journal.is_durable` answers it. The
hub holds a function's result until the token taken when it returned is
durable.

Reads go through the journal (:meth:`Journal.load`): a record that is waiting
or being written wins over what storage holds, so an instance dropped from
memory (hibernated) reads back as it was last recorded, committed or not.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from ...errors import StorageError
from ..notify import guarded
from .base import Saved, Storage

__all__ = ["Batch", "Journal"]


@dataclass(frozen=True, slots=True)
class Batch:
    """One group commit: the records to save and the names to delete, which
    together cover every record numbered up to ``upto``."""

    saved: list[Saved]
    deleted: list[str]
    upto: int


class Journal:
    """The records not yet durable, their sequence numbers, and reads that see them.

    Thread-safe: records come from any thread (under the registry lock), the
    writer thread takes and acknowledges batches, the loop asks for tokens."""

    def __init__(self, storage: Storage, epoch: str) -> None:
        self.storage = storage
        self.epoch = epoch
        """The history the versions belong to (see :mod:`.base`)."""
        self.on_durable: Callable[[], None] | None = None
        """Called by the writer thread after each commit (the driver wakes the loop)."""
        self._cond = threading.Condition(threading.Lock())
        self._pending: dict[str, Saved | None] = {}  # None: deleted
        self._writing: dict[str, Saved | None] = {}  # the batch on its way to disk
        self._recorded = 0
        self._durable = 0
        self._closed = False

    def __repr__(self) -> str:
        return f"<Journal of {self.storage!r}: {self._recorded - self._durable} not durable>"

    # -- records (the registry, under its lock) ------------------------------------

    def save(self, saved: Saved) -> None:
        """Record the new state of an instance."""
        self._record(saved.name, saved)

    def delete(self, name: str) -> None:
        """Record that the instance is gone."""
        self._record(name, None)

    def _record(self, name: str, saved: Saved | None) -> None:
        with self._cond:
            if self._closed:
                raise StorageError(
                    f"{self.storage!r} is closed (the server was closed): "
                    f"the change of {name!r} cannot be saved"
                )
            if not self._pending:
                self._cond.notify()
            self._pending[name] = saved
            self._recorded += 1

    # -- reads ---------------------------------------------------------------------

    def load(self, name: str) -> Saved | None:
        """The latest record of ``name``: waiting, being written, or in storage."""
        with self._cond:
            for layer in (self._pending, self._writing):
                if name in layer:
                    return layer[name]
        return self.storage.load(name)

    def names(self) -> list[str]:
        """Every name with a record, counting those not written yet."""
        stored = self.storage.names()
        with self._cond:
            overlay = {**self._writing, **self._pending}
        names = dict.fromkeys(n for n in stored if overlay.get(n, True) is not None)
        names.update((n, None) for n, saved in overlay.items() if saved is not None)
        return list(names)

    # -- durability ------------------------------------------------------------------

    def token(self) -> int | None:
        """The number to wait for until everything recorded so far is durable;
        None when it is already."""
        with self._cond:
            return self._recorded if self._recorded > self._durable else None

    def is_durable(self, token: int) -> bool:
        """Everything up to ``token`` is committed."""
        with self._cond:
            return token <= self._durable

    # -- the writer thread -------------------------------------------------------------

    def take(self) -> Batch | None:
        """Block until something is recorded; take all of it as one batch.
        None once the journal is closed and everything was taken."""
        with self._cond:
            while not self._pending and not self._closed:
                self._cond.wait()
            if not self._pending:
                return None
            self._writing, self._pending = self._pending, {}
            saved = [s for s in self._writing.values() if s is not None]
            deleted = [name for name, s in self._writing.items() if s is None]
            return Batch(saved, deleted, self._recorded)

    def committed(self, batch: Batch) -> None:
        """``batch`` is durable."""
        with self._cond:
            self._writing = {}
            self._durable = batch.upto
        if self.on_durable is not None:
            guarded(self.on_durable)  # the writer thread must live on whatever it raises

    def failed(self, batch: Batch) -> None:
        """``batch`` was not written: its records wait again, behind newer ones."""
        with self._cond:
            self._pending = {**self._writing, **self._pending}
            self._writing = {}

    def pause(self, seconds: float) -> None:
        """Wait ``seconds`` before a retry; a :meth:`close` cuts it short."""
        with self._cond:
            if not self._closed:
                self._cond.wait(seconds)

    def close(self) -> None:
        """Accept no more records; :meth:`take` returns None once drained."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def abandon(self) -> int:
        """Give up on what was not written (storage keeps failing at close);
        return how many instances that loses."""
        with self._cond:
            lost = len({**self._writing, **self._pending})
            self._pending, self._writing = {}, {}
            return lost
