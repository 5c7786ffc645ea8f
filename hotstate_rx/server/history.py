"""Each instance's recent changes, kept to answer a re-subscription (pure).

A client that lost its connection still holds a copy of each store at some
version; when it subscribes again it names that version (and the instance's
epoch). If the log still holds every change since, the server sends exactly
those frames — the same bytes the live subscribers got — instead of a whole
snapshot: less to send, and the client's stream of states stays gap-free.

Bounds: per instance, the last :attr:`History.patches` changes within
:attr:`History.bytes`; across all instances, :attr:`History.total_bytes`
(the instances that changed least recently lose their logs first). A change
larger than an instance's byte bound empties that log: the next resubscriber
gets a snapshot, which is never wrong, only bigger.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass
from itertools import islice

__all__ = ["History", "PatchLogs"]


@dataclass(frozen=True, slots=True)
class History:
    """How much recent history the server keeps for resume (``Server(history=...)``).

    ``History(patches=0)`` keeps none: every re-subscription is a snapshot."""

    patches: int = 1000
    """Changes kept per instance (at least the last 100 is what resume needs
    for a drop of a few seconds at a busy instance)."""
    bytes: int = 256 << 10
    """Encoded bytes kept per instance."""
    total_bytes: int = 64 << 20
    """Encoded bytes kept for all instances together."""

    def __post_init__(self) -> None:
        for name in ("patches", "bytes", "total_bytes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"History.{name} must be an int >= 0, got {value!r}")


class _Log:
    __slots__ = ("epoch", "first", "frames", "size")

    def __init__(self, epoch: str, first: int) -> None:
        self.epoch = epoch
        self.first = first
        """The version of ``frames[0]``; versions in a log are consecutive."""
        self.frames: deque[bytes] = deque()
        self.size = 0


class PatchLogs:
    """The logs of every instance of one server, within the bounds of a :class:`History`."""

    def __init__(self, limits: History) -> None:
        self.limits = limits
        self._logs: OrderedDict[str, _Log] = OrderedDict()  # least recently changed first
        self._size = 0

    @property
    def size(self) -> int:
        """Encoded bytes held now, for all instances."""
        return self._size

    def record(self, name: str, epoch: str, version: int, frame: bytes) -> None:
        """The change to ``version`` of ``name`` went out as ``frame``."""
        limits = self.limits
        log = self._logs.get(name)
        if log is None or log.epoch != epoch or log.first + len(log.frames) != version:
            if log is not None:  # a new lifetime, or a hole: what came before is useless
                self._drop(name)
            log = self._logs[name] = _Log(epoch, version)
        else:
            self._logs.move_to_end(name)
        log.frames.append(frame)
        log.size += len(frame)
        self._size += len(frame)
        while log.frames and (len(log.frames) > limits.patches or log.size > limits.bytes):
            self._evict_first(log)
        while self._size > limits.total_bytes:
            self._drop(next(iter(self._logs)))

    def forget(self, name: str) -> None:
        """The instance is gone: drop its log."""
        if name in self._logs:
            self._drop(name)

    def since(self, name: str, epoch: str, version: int, current: int) -> list[bytes] | None:
        """The frames that take a copy at ``(epoch, version)`` to ``current``, in
        order, or None when the log does not cover that whole gap. The caller
        has checked that ``epoch`` is the instance's own."""
        if version == current:
            return []
        log = self._logs.get(name)
        if log is None or log.epoch != epoch or not log.first <= version + 1 <= current:
            return None
        if log.first + len(log.frames) - 1 != current:
            return None
        return list(islice(log.frames, version + 1 - log.first, None))

    def _evict_first(self, log: _Log) -> None:
        frame = log.frames.popleft()
        log.first += 1
        log.size -= len(frame)
        self._size -= len(frame)

    def _drop(self, name: str) -> None:
        log = self._logs.pop(name)
        self._size -= log.size
