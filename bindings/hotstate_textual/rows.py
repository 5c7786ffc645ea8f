"""Diff two versions of a list of records into row operations (pure, no Textual).

A store's list arrives as a new immutable snapshot on every change, sharing every
unchanged item with the previous one. :func:`diff_rows` turns *old -> new* into
the few operations a table widget needs, so a table follows a list by applying
the change instead of being cleared and refilled:

- the common prefix and suffix are skipped by **identity** (``is``), so their
  items are never even keyed: the cost grows with the changed window, not with
  the list;
- inside the window, rows are matched by ``key(item)``: a key that disappears is
  removed, a kept row whose item is a new object is updated in place, new keys
  at the end are appended;
- a table can only append, so when the order changes (a move, or an insert
  before rows that stay) the rows from the first misplaced one to the end are
  removed and appended again in their new order. Rows before it are untouched.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class RowDiff(Generic[T]):
    """Operations turning a table showing ``old`` into one showing ``new``.

    Apply them in this order: ``remove`` (row keys), then ``update`` (key, old
    item, new item) in place, then ``append`` (key, item) at the end.
    """

    remove: tuple[str, ...] = ()
    update: tuple[tuple[str, T, T], ...] = ()
    append: tuple[tuple[str, T], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.remove or self.update or self.append)


def _keys(items: Sequence[T], key: Callable[[T], str]) -> list[str]:
    keys = [key(item) for item in items]
    if len(set(keys)) != len(keys):
        seen: set[str] = set()
        for k in keys:
            if k in seen:
                raise ValueError(f"duplicate row key {k!r}: every item needs a distinct key")
            seen.add(k)
    return keys


def diff_rows(old: Sequence[T], new: Sequence[T], key: Callable[[T], str]) -> RowDiff[T]:
    """Return the row operations that turn ``old`` into ``new`` (see the module doc).

    ``key`` gives each item's row key; it is called only on items inside the
    changed window. Raises ``ValueError`` when two items in that window share a key.
    """
    n_old, n_new = len(old), len(new)
    start, limit = 0, min(n_old, n_new)
    while start < limit and old[start] is new[start]:
        start += 1
    end_old, end_new = n_old, n_new
    while end_old > start and end_new > start and old[end_old - 1] is new[end_new - 1]:
        end_old -= 1
        end_new -= 1
    if start == end_old and start == end_new:
        return RowDiff()

    old_win, new_win = old[start:end_old], new[start:end_new]
    old_keys, new_keys = _keys(old_win, key), _keys(new_win, key)
    wanted = set(new_keys)
    remove = [k for k in old_keys if k not in wanted]
    kept = [(k, item) for k, item in zip(old_keys, old_win, strict=True) if k in wanted]

    # Kept rows stay where they are up to the first one out of its new place.
    placed = 0
    while placed < len(kept) and kept[placed][0] == new_keys[placed]:
        placed += 1
    update = tuple(
        (k, item, new_win[i]) for i, (k, item) in enumerate(kept[:placed]) if item is not new_win[i]
    )
    has_suffix = end_old < n_old
    if placed == len(kept) and (not has_suffix or len(new_win) == placed):
        append = [(new_keys[i], new_win[i]) for i in range(placed, len(new_win))]
        return RowDiff(tuple(remove), update, tuple(append))

    # The order changed: re-append everything from the first misplaced row.
    suffix = new[end_new:]
    suffix_keys = [key(item) for item in suffix]
    remove += [k for k, _ in kept[placed:]] + suffix_keys
    append = [(new_keys[i], new_win[i]) for i in range(placed, len(new_win))]
    append += zip(suffix_keys, suffix, strict=True)
    return RowDiff(tuple(remove), update, tuple(append))


def item_key(field: str = "id") -> Callable[[Any], str]:
    """A ``key`` for :func:`diff_rows` reading ``item[field]`` as a string."""

    def key(item: Any) -> str:
        return str(item[field])

    return key


__all__ = ["RowDiff", "diff_rows", "item_key"]
