"""The :class:`Storage` interface: where store instances live between runs (pure).

A storage keeps, for each instance name (``"Todos"``, ``"Room:general"``),
one :class:`Saved` record: the last state the server saved, its version, and
whether ``on_create`` had run. It is deliberately small, so that SQLite,
Redis or a user's own database can carry it:

- :meth:`Storage.open` once, at ``Server(storage=...)``: create or check the
  store, and say which *epoch* its history belongs to;
- :meth:`Storage.load` and :meth:`Storage.names`: point reads, from the thread
  that uses an instance (the event loop for a subscription), so keep them fast;
- :meth:`Storage.write`: one atomic, durable group of records, from the
  server's single writer thread (never two at once, never on the event loop);
- :meth:`Storage.close` once everything was written.

Every value handed to :meth:`Storage.write` is a validated, frozen JSON value
(``freeze`` refused anything else at the mutation), so a non-JSON value never
reaches a backend; values a backend returns are validated again on the way in.

The epoch names one continuous history of versions. A client that holds
version 7 of an instance may only be sent patches from version 8 if both come
from the same history: after a crash the changes of the last moments (sent to
clients, not yet committed) are gone, and the version numbers will be reused
for other changes. So :meth:`Storage.open` keeps the epoch after a clean
:meth:`Storage.close` and draws a new one otherwise.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ...frozen import JSON

__all__ = ["Saved", "Storage", "storage_from"]


@dataclass(frozen=True, slots=True)
class Saved:
    """One instance as storage keeps it: ``state`` at ``version``; ``initialized``
    is False after ``reset()`` (the next use runs ``on_create`` again)."""

    name: str
    version: int
    state: JSON
    initialized: bool = True
    lifetime: str = ""
    """Names the instance's current lifetime (a new one after ``delete()``), so
    that versions are compared only within one history."""


class Storage(ABC):
    """Where instances are saved. See the module docstring for who calls what, when.

    Backends raise :class:`~hotstate_rx.StorageError` naming themselves (their
    file, their URL) when they cannot do what is asked; ``repr()`` of a backend
    is how messages name it."""

    @abstractmethod
    def open(self) -> str:
        """Create or check the storage and take it for this server; return the epoch
        (the previous one after a clean :meth:`close`, a new one otherwise).
        Raises ``StorageError`` for a storage that is unreadable, corrupt or in use."""

    @abstractmethod
    def load(self, name: str) -> Saved | None:
        """The record saved for ``name``, or None."""

    @abstractmethod
    def names(self) -> list[str]:
        """The names of every saved record."""

    @abstractmethod
    def write(self, saved: Sequence[Saved], deleted: Sequence[str]) -> None:
        """Save ``saved`` (replacing the records of those names) and remove
        ``deleted``, all or nothing, durably: when this returns, a crash of the
        process keeps them. A name appears in at most one of the two."""

    @abstractmethod
    def close(self) -> None:
        """Everything was written: release the storage; the next :meth:`open`
        continues this epoch."""


def storage_from(spec: object) -> Storage:
    """The backend ``Server(storage=spec)`` names: a :class:`Storage` as it is, or
    ``"sqlite:///absolute/path.db"`` (three slashes then the path, as in
    ``file://`` URLs) or ``"sqlite:relative/path.db"`` (from the working directory)."""
    if isinstance(spec, Storage):
        return spec
    if not isinstance(spec, str):
        raise TypeError(f"storage must be a URL string or a Storage, not {type(spec).__name__}")
    scheme, sep, rest = spec.partition(":")
    authority = rest.startswith("//") and rest[2:3] != "/"  # sqlite://host/... names no file
    if not sep or scheme != "sqlite" or not rest or authority:
        raise ValueError(
            f"unsupported storage {spec!r}: use 'sqlite:///absolute/path.db', "
            "'sqlite:relative/path.db' or a Storage object"
        )
    from .sqlite import SQLiteStorage

    return SQLiteStorage(Path(rest[2:] if rest.startswith("//") else rest))
