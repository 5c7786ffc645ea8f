"""Draft of a JSON object: the ``dict`` surface over :class:`~hotstate_rx.draft.node.Draft`."""

from __future__ import annotations

from collections.abc import Iterator, KeysView
from typing import Any

from hotstate_rx.draft.node import (
    KIND,
    NO_VALUE,
    REVOKED,
    SCALARS,
    Draft,
    kind_of,
    specialise,
    unchanged,
)
from hotstate_rx.frozen import FrozenDict


@specialise
class DictDraft(Draft):
    """Draft of a JSON object; behaves like the ``dict`` it stands for."""

    __slots__ = ()
    _new = FrozenDict
    _setter = staticmethod(dict.__setitem__)
    _stable_slots = True

    def __getitem__(self, key: str) -> Any:
        if not self._session.live:
            raise RuntimeError(REVOKED)
        c = self._copy
        v = (self._base if c is None else c)[key]
        t = type(v)
        kind = KIND[t] if t in KIND else kind_of(v)
        if kind is None:
            return v
        child = self._children.get(key)
        return child if child is not None else self._child(kind, key, v)

    def __setitem__(self, key: str, value: Any) -> None:
        if not self._session.live:
            raise RuntimeError(REVOKED)
        if type(key) is not str:
            raise TypeError(
                f"not a JSON value at {self._where('?')}: object key must be str, "
                f"not {type(key).__name__} {key!r}"
            )
        t = type(value)
        if t is bool or t is str or t is int or value is None:
            moved = None
        else:
            if self._children.get(key, NO_VALUE) is value:  # d["a"] = d["a"]
                return
            value, moved = self._prepare(value, key)
            t = type(value)
        c = self._copy
        cur = self._base if c is None else c
        if key in cur:
            if moved is None and key not in self._children:
                old = cur[key]
                if old is value or (type(old) is t and t in SCALARS and unchanged(old, value)):
                    return
            self._store(key, value, moved, "replace")
        else:
            self._store(key, value, moved, "add")

    def __delitem__(self, key: str) -> None:
        cur = self._cur()
        if key not in cur:
            raise KeyError(key)
        child = self._children.pop(key, None)
        if child is not None:
            self._detach(child, key)
        dict.__delitem__(self._writable(), key)
        self._record(key, "remove")

    def __contains__(self, key: object) -> bool:
        return key in self._cur()

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._cur()))

    def __ior__(self, other: Any) -> DictDraft:
        self.update(other)
        return self

    def get(self, key: str, default: Any = None) -> Any:
        cur = self._cur()
        return self._wrap(key, cur[key]) if key in cur else default

    def keys(self) -> KeysView[str]:
        return self._cur().keys()

    def values(self) -> list[Any]:
        return [self._wrap(k, v) for k, v in self._cur().items()]

    def items(self) -> list[tuple[str, Any]]:
        return [(k, self._wrap(k, v)) for k, v in self._cur().items()]

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key not in self._cur():
            self[key] = default
        return self[key]

    def update(self, other: Any = (), /, **kwargs: Any) -> None:
        self._cur()
        pairs = list(other.items() if hasattr(other, "items") else other) + list(kwargs.items())
        staged = []
        for k, v in pairs:  # validate everything first: a bad value changes nothing
            if type(k) is not str:
                raise TypeError(
                    f"not a JSON value at {self._where('?')}: object key must be str, "
                    f"not {type(k).__name__} {k!r}"
                )
            staged.append((k, *self._prepare(v, k)))
        cur = self._cur()
        for k, v, moved in staged:
            if moved is not None and self._children.get(k) is moved:  # already here
                continue
            if k in cur:
                if moved is None and k not in self._children and unchanged(cur[k], v):
                    continue
                self._store(k, v, moved, "replace")
            else:
                self._store(k, v, moved, "add")
            cur = self._copy

    def pop(self, key: str, default: Any = NO_VALUE) -> Any:
        cur = self._cur()
        if key not in cur:
            if default is NO_VALUE:
                raise KeyError(key)
            return default
        result = self._popped(key, cur[key])
        dict.__delitem__(self._writable(), key)
        self._record(key, "remove")
        return result

    def popitem(self) -> tuple[str, Any]:
        cur = self._cur()
        if not cur:
            raise KeyError("popitem(): dictionary is empty")
        key = next(reversed(cur))
        return key, self.pop(key)

    def clear(self) -> None:
        if not self._cur():
            return
        for k, child in self._children.items():
            self._detach(child, k)
        self._replace_whole(FrozenDict(), {})


__all__ = ["DictDraft"]
