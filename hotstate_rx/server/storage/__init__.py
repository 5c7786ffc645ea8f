"""Storage: store instances that survive a restart (``Server(storage=...)``).

- :mod:`.base` — the public :class:`Storage` interface and its :class:`Saved`
  record, and :func:`storage_from` (what ``storage="sqlite:///..."`` means). Pure.
- :mod:`.memory` — :class:`MemoryStorage`, in this process (pure).
- :mod:`.sqlite` — :class:`SQLiteStorage`, the embedded default backend.
- :mod:`.journal` — the changes on their way to storage, their sequence
  numbers and the reads that see them (pure).
- :mod:`.writer` — the writer thread and its group commits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..._lazy import lazy_exports

if TYPE_CHECKING:
    from .base import Saved as Saved
    from .base import Storage as Storage
    from .base import storage_from as storage_from
    from .memory import MemoryStorage as MemoryStorage
    from .sqlite import SQLiteStorage as SQLiteStorage

_EXPORTS = {
    "MemoryStorage": ".memory",
    "SQLiteStorage": ".sqlite",
    "Saved": ".base",
    "Storage": ".base",
    "storage_from": ".base",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
