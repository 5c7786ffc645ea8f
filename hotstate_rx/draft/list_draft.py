"""Draft of a JSON array: the ``list`` surface over :class:`~hotstate_rx.draft.node.Draft`.

Inserting or removing shifts the slots after it: the child drafts move with
their elements (``_shift``), and the session's barrier stops later ops from
folding into ops recorded at the old indices.
"""

from __future__ import annotations

import operator
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any, SupportsIndex

from hotstate_rx.draft.node import (
    KIND,
    NO_VALUE,
    REVOKED,
    Draft,
    kind_of,
    plain,
    specialise,
    unchanged,
)
from hotstate_rx.frozen import FrozenList


@specialise
class ListDraft(Draft):
    """Draft of a JSON array; behaves like the ``list`` it stands for."""

    __slots__ = ()
    _new = FrozenList
    _setter = staticmethod(list.__setitem__)
    _stable_slots = False

    def _index(self, i: SupportsIndex, n: int, what: str) -> int:
        i = i if type(i) is int else operator.index(i)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"list {what}index out of range")
        return i

    def __getitem__(self, i: SupportsIndex | slice) -> Any:
        if not self._session.live:
            raise RuntimeError(REVOKED)
        c = self._copy
        cur = self._base if c is None else c
        if type(i) is slice:
            return [self._wrap(k, cur[k]) for k in range(*i.indices(len(cur)))]
        n = len(cur)
        k = i if type(i) is int and 0 <= i < n else self._index(i, n, "")
        v = cur[k]
        t = type(v)
        kind = KIND[t] if t in KIND else kind_of(v)
        if kind is None:
            return v
        child = self._children.get(k)
        return child if child is not None else self._child(kind, k, v)

    def __setitem__(self, i: SupportsIndex | slice, value: Any) -> None:
        cur = self._cur()
        if type(i) is slice:
            self._set_slice(i, value)
            return
        k = self._index(i, len(cur), "assignment ")
        if self._children.get(k, NO_VALUE) is value:
            return
        v, moved = self._prepare(value, k)
        self._set_at(k, v, moved)

    def __delitem__(self, i: SupportsIndex | slice) -> None:
        cur = self._cur()
        if type(i) is slice:
            for k in sorted(range(*i.indices(len(cur))), reverse=True):
                self._delete_at(k)
            return
        self._delete_at(self._index(i, len(cur), "assignment "))

    def __iter__(self) -> Iterator[Any]:
        i = 0
        while i < len(self._cur()):  # like list's iterator: sees changes made meanwhile
            yield self[i]
            i += 1

    def __contains__(self, value: object) -> bool:
        return plain(value) in self._hotstate_current_()

    def __iadd__(self, other: Iterable[Any]) -> ListDraft:
        self.extend(other)
        return self

    def __imul__(self, n: SupportsIndex) -> ListDraft:
        n = operator.index(n)
        if n <= 0:
            self.clear()
        elif n > 1:
            values = self[:]  # drafts for containers: repeated, as list's *= repeats references
            for _ in range(n - 1):
                self.extend(values)
        return self

    def index(self, value: Any, start: SupportsIndex = 0, stop: SupportsIndex = sys.maxsize) -> int:
        return self._hotstate_current_().index(plain(value), start, stop)

    def count(self, value: Any) -> int:
        return self._hotstate_current_().count(plain(value))

    def append(self, value: Any) -> None:
        n = len(self._cur())
        self._insert_at(n, *self._prepare(value, n))

    def extend(self, values: Iterable[Any]) -> None:
        n = len(self._cur())
        staged = [self._prepare(v, n + j) for j, v in enumerate(list(values))]
        for v, moved in staged:
            self._insert_at(len(self._cur()), v, moved)

    def insert(self, i: SupportsIndex, value: Any) -> None:
        n = len(self._cur())
        k = operator.index(i)
        k = min(max(k + n if k < 0 else k, 0), n)
        self._insert_at(k, *self._prepare(value, k))

    def pop(self, i: SupportsIndex = -1) -> Any:
        cur = self._cur()
        if not cur:
            raise IndexError("pop from empty list")
        k = self._index(i, len(cur), "pop ")
        result = self._popped(k, cur[k])
        self._delete_at(k)
        return result

    def remove(self, value: Any) -> None:
        self._delete_at(self.index(value))

    def clear(self) -> None:
        if not self._cur():
            return
        for k, child in self._children.items():
            self._detach(child, k)
        self._replace_whole(FrozenList(), {})

    def sort(self, *, key: Callable[[Any], Any] | None = None, reverse: bool = False) -> None:
        """Sort by current (frozen) values; one ``replace`` op unless the order stays."""
        values = self._hotstate_current_()
        n = len(values)
        order = sorted(
            range(n),
            key=values.__getitem__ if key is None else (lambda i: key(values[i])),
            reverse=reverse,
        )
        if order != list(range(n)):
            self._permute(values, order)

    def reverse(self) -> None:
        values = self._hotstate_current_()
        if len(values) > 1:
            self._permute(values, list(range(len(values) - 1, -1, -1)))

    # -- internals -------------------------------------------------------------

    def _permute(self, values: Any, order: list[int]) -> None:
        """Put ``values[order[j]]`` at ``j``; drafts follow their element."""
        where = [0] * len(order)
        for j, old in enumerate(order):
            where[old] = j
        children = {}
        for old, child in self._children.items():
            self._rekey(child, old, where[old])
            children[where[old]] = child
        self._replace_whole(FrozenList(map(values.__getitem__, order)), children)

    def _shift(self, start: int, delta: int) -> None:
        """Move the drafts at indices >= ``start`` by ``delta``."""
        ch = self._children
        moving = [(k, c) for k, c in ch.items() if k >= start]
        for k, _ in moving:
            del ch[k]
        for k, c in moving:
            self._rekey(c, k, k + delta)
            ch[k + delta] = c

    def _set_at(self, k: int, v: Any, moved: Draft | None) -> None:
        if moved is None:
            old = self._children.get(k)
            now = self._cur()[k] if old is None else old._snapshot()
            if unchanged(now, v):
                return
        elif self._children.get(k) is moved:  # already here
            return
        self._store(k, v, moved, "replace")

    def _keeps(self, k: int, now: Any, v: Any, moved: Draft | None) -> bool:
        """Whether storing ``v`` (``moved``) at ``k``, which holds ``now``, changes nothing."""
        return unchanged(now, v) if moved is None else self._children.get(k) is moved

    def _insert_at(self, k: int, v: Any, moved: Draft | None) -> None:
        copy = self._writable()
        if k >= len(copy):  # append: no index shifts, so later writes may fold into it
            list.append(copy, v)
            if moved is not None:
                self._attach(moved, k)
            self._record(k, "add", v, "-")
            return
        list.insert(copy, k, v)
        if self._children:
            self._shift(k, 1)
        if moved is not None:
            self._attach(moved, k)
        s = self._session
        s.barrier = len(s.ops)  # indices shift: nothing before may fold, this neither
        self._record(k, "add", v)
        s.barrier = len(s.ops)

    def _delete_at(self, k: int) -> None:
        copy = self._writable()
        child = self._children.pop(k, None)
        if child is not None:
            self._detach(child, k)
        list.__delitem__(copy, k)
        if self._children:
            self._shift(k + 1, -1)
        self._record(k, "remove")
        s = self._session
        s.barrier = len(s.ops)  # indices shifted

    def _set_slice(self, s: slice, values: Iterable[Any]) -> None:
        cur = self._cur()
        start, stop, step = s.indices(len(cur))
        staged = [self._prepare(v, start + j * step) for j, v in enumerate(list(values))]
        m = len(staged)
        if step != 1:
            targets = range(start, stop, step)
            if len(targets) != m:
                raise ValueError(
                    f"attempt to assign sequence of size {m} to extended slice of size "
                    f"{len(targets)}"
                )
            for k, (v, moved) in zip(targets, staged, strict=True):
                self._set_at(k, v, moved)
            return
        stop = max(stop, start)
        old = [self._plain_at(k) for k in range(start, stop)]
        # Keep the common head and tail, so `l[:] = [x for x in l if ...]` removes, not rewrites.
        head = 0
        while head < min(len(old), m) and self._keeps(start + head, old[head], *staged[head]):
            head += 1
        tail = 0
        while tail < min(len(old), m) - head and self._keeps(
            stop - 1 - tail, old[-1 - tail], *staged[m - 1 - tail]
        ):
            tail += 1
        middle_old = len(old) - head - tail
        middle_new = staged[head : m - tail]
        at = start + head
        for j, (v, moved) in enumerate(middle_new[:middle_old]):
            self._set_at(at + j, v, moved)
        for _ in range(middle_old - len(middle_new)):
            self._delete_at(at + len(middle_new))
        for j in range(middle_old, len(middle_new)):
            self._insert_at(at + j, *middle_new[j])

    def _plain_at(self, k: int) -> Any:
        child = self._children.get(k)
        return self._cur()[k] if child is None else child._snapshot()


__all__ = ["ListDraft"]
