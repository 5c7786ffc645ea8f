"""A :class:`~.base.Storage` in this process's memory (pure).

It survives a ``Server`` but not the process: give the same object to a new
server and it finds every instance as the old one left it. Useful in tests,
to hibernate idle instances without a file, and as the smallest complete
example of the interface for someone writing a backend.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Sequence

from ...errors import StorageError
from .base import Saved, Storage

__all__ = ["MemoryStorage"]


class MemoryStorage(Storage):
    """Records in a dict; one server at a time may hold it open."""

    def __init__(self) -> None:
        self._records: dict[str, Saved] = {}
        self._lock = threading.Lock()
        self._epoch = secrets.token_hex(8)
        self._open = False

    def __repr__(self) -> str:
        return f"<MemoryStorage at {id(self):#x}>"

    def open(self) -> str:
        with self._lock:
            if self._open:
                raise StorageError(f"{self!r} is in use by another server")
            self._open = True
            return self._epoch

    def load(self, name: str) -> Saved | None:
        with self._lock:
            return self._records.get(name)

    def names(self) -> list[str]:
        with self._lock:
            return list(self._records)

    def write(self, saved: Sequence[Saved], deleted: Sequence[str]) -> None:
        with self._lock:
            for record in saved:
                self._records[record.name] = record
            for name in deleted:
                self._records.pop(name, None)

    def close(self) -> None:
        with self._lock:
            self._open = False
