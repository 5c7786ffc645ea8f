"""Drafts: mutate a stand-in for an immutable state, get the new state and its JSON Patch.

``produce(state, recipe)`` hands ``recipe`` a draft of ``state``. The draft
copies a container the first time it (or something below it) changes, once
per produce, and shares every untouched subtree with the old state, as Immer
does. Operations are recorded as they happen, with the JSON Pointer of that
moment (RFC 6901), so a list ``pop(0)`` is one ``remove`` op, not a rewrite of
every shifted index; repeated writes to one place are folded into one op.

Semantics worth knowing:

* **Values are frozen when stored.** A dict or list stored through a draft is
  validated and copied once (:func:`~hotstate_rx.frozen.freeze`); keeping a
  reference to it and mutating it later cannot change the state.
* **A removed draft moves; an attached draft is copied.** ``pop``/``popitem``
  return a *detached* draft; storing it again (``done.append(items.pop(0))``)
  moves it, and later mutations through it land at its new place. Storing a
  draft that is still in the tree at a second place stores its value at that
  moment (a JSON tree cannot alias): later mutations affect the original only.
* **Detached drafts are scratch values.** A draft whose slot was overwritten or
  deleted keeps working, but its mutations touch neither the state nor the
  patches unless it is stored again (then it moves, as above).
* **Revocation.** Once the recipe has ended, any use of its drafts raises
  ``RuntimeError("draft used after its recipe ended")``.
* **Reads give current values.** ``==``, ``in``, ``index``, ``sort`` keys and
  ``repr`` see the current frozen values; ``sort`` and ``reverse`` emit one
  ``replace`` of the list. ``keys()`` is a view of the keys at call time;
  ``values()``/``items()`` are lists (of drafts, for containers).
* **Scalar roots.** A recipe gets a ``str``/number/``None`` root as itself and
  cannot change it; ``produce`` returns it unchanged with ``[]``.
"""

from __future__ import annotations

import math
import operator
import sys
from collections.abc import Callable, Iterable, Iterator, KeysView
from typing import Any, SupportsIndex

from hotstate_rx.frozen import FrozenDict, FrozenList, freeze
from hotstate_rx.patch import apply_patches
from hotstate_rx.pointer import escape_token

_REVOKED = "draft used after its recipe ended"
_SCALARS = frozenset({str, int, float, bool, type(None)})
_NO_DEFAULT: Any = object()

Patch = dict[str, Any]


def _is_container(v: Any) -> bool:
    t = type(v)
    return t is FrozenDict or t is FrozenList or (t not in _SCALARS and isinstance(v, dict | list))


def _same(a: Any, b: Any) -> bool:
    """Whether storing ``b`` over ``a`` changes nothing (containers: identity only, O(1))."""
    if a is b:
        return True
    t = type(a)
    if t is not type(b) or t not in _SCALARS:
        return False
    if t is float:
        return bool(a == b and math.copysign(1.0, a) == math.copysign(1.0, b))
    return bool(a == b)


class DraftSession:
    """One recipe's worth of drafting: ``draft`` to mutate, then ``finish()`` or ``discard()``.

    ``with store.mutate() as d:`` is built on this; :func:`produce` is its
    one-call form.
    """

    __slots__ = ("_barrier", "_base", "_live", "_ops", "_root", "draft")

    def __init__(self, state: Any) -> None:
        self._base = state
        self._live = True
        # Ops as recorded; folded-away ops become None (indices must stay stable).
        self._ops: list[Patch | None] = []
        # Ops before this index may no longer be folded into: paths shifted since.
        self._barrier = 0
        root: Draft | None = None
        if type(state) is FrozenDict or isinstance(state, dict):
            root = DictDraft(self, None, None, state)
        elif isinstance(state, list):
            root = ListDraft(self, None, None, state)
        self._root = root
        self.draft: Any = state if root is None else root

    def finish(self) -> tuple[Any, list[Patch]]:
        """End the session: the new state and its patches (same state and ``[]`` if unchanged)."""
        if not self._live:
            raise RuntimeError("draft session already ended")
        self._live = False
        root = self._root
        if root is None:
            return self._base, []
        new = root._finalize()
        ops = self._ops
        if None in ops:
            ops = [op for op in ops if op is not None]
        if not ops:
            return self._base, []
        return new, ops  # type: ignore[return-value]

    def discard(self) -> None:
        """End the session without a result; the drafts are revoked. Idempotent."""
        if self._live:
            self._live = False
            if self._root is not None:
                self._root._finalize()


def produce(state: Any, recipe: Callable[[Any], object]) -> tuple[Any, list[Patch]]:
    """Run ``recipe(draft)`` and return ``(new_state, patches)``; see API.md §1.

    ``state`` is never mutated. If the recipe raises, nothing changes and the
    exception propagates; its return value is ignored.
    """
    session = DraftSession(state)
    try:
        recipe(session.draft)
    except BaseException:
        session.discard()
        raise
    return session.finish()


def current(value: Any) -> Any:
    """The current value of a draft as frozen data (other values are frozen as they are)."""
    if isinstance(value, Draft):
        return value._hotstate_current_()
    return freeze(value)


class Draft:
    """Common machinery of :class:`DictDraft` and :class:`ListDraft`."""

    __slots__ = (
        "_base",
        "_children",
        "_copy",
        "_key",
        "_last",
        "_parent",
        "_session",
        "_shared",
    )
    __hash__ = None  # type: ignore[assignment]
    _new: Callable[[Any], Any]  # the frozen type: FrozenDict / FrozenList
    _setter: Callable[[Any, Any, Any], None]  # dict.__setitem__ / list.__setitem__

    def __init__(self, session: DraftSession, parent: Draft | None, key: Any, base: Any) -> None:
        self._session = session
        self._parent = parent
        self._key = key
        self._base = base
        self._copy: Any = None  # our own container once we changed
        self._shared = False  # _copy escaped as a value: copy again before writing
        self._children: dict[Any, Draft] = {}  # slot -> draft handed out for it
        self._last: dict[Any, int] | None = None  # slot -> index of its last op, to fold into

    # -- reading ---------------------------------------------------------------

    def _cur(self) -> Any:
        if not self._session._live:
            raise RuntimeError(_REVOKED)
        c = self._copy
        return self._base if c is None else c

    def _wrap(self, key: Any, v: Any) -> Any:
        """The draft for a container slot (made on first access), or the scalar itself."""
        t = type(v)
        if t is FrozenDict or t is FrozenList or (t not in _SCALARS and isinstance(v, dict | list)):
            child = self._children.get(key)
            if child is None:
                child = (DictDraft if isinstance(v, dict) else ListDraft)(
                    self._session, self, key, v
                )
                self._children[key] = child
                if self._last:  # ops below this slot follow now: never fold into its op
                    self._last.pop(key, None)
            return child
        return v

    def _snapshot(self) -> Any:
        """Current value as frozen data; our copy becomes shared, so it is never changed again."""
        copy = self._copy
        if copy is None:
            return self._base
        if self._children:
            setter = self._setter
            for k, child in self._children.items():
                v = child._snapshot()
                if copy[k] is not v:
                    if self._shared:
                        copy = self._copy = self._new(copy)
                        self._shared = False
                    setter(copy, k, v)
        self._shared = True
        return copy

    def _finalize(self) -> Any:
        """Like ``_snapshot``, and cut the draft tree's reference cycles.

        Without this every produce would leave its drafts (and the copies they
        hold) to the cycle collector, which then frees them in bulk: at 100,000
        items that doubled the cost of a produce.
        """
        copy = self._copy
        children = self._children
        self._session = _ENDED
        self._parent = None
        self._children = _NO_CHILDREN
        if copy is None:
            for child in children.values():
                child._finalize()
            return self._base
        setter = self._setter
        for k, child in children.items():
            v = child._finalize()
            if copy[k] is not v:
                if self._shared:
                    copy = self._copy = self._new(copy)
                    self._shared = False
                setter(copy, k, v)
        return copy

    def _hotstate_current_(self) -> Any:
        if not self._session._live:
            raise RuntimeError(_REVOKED)
        return self._snapshot()

    def __len__(self) -> int:
        return len(self._cur())

    def __eq__(self, other: object) -> bool:
        return bool(self._hotstate_current_() == _plain(other))

    def __repr__(self) -> str:
        if not self._session._live:
            return f"<revoked {type(self).__name__}>"
        return f"{type(self).__name__}({self._snapshot()!r})"

    # -- where we are ----------------------------------------------------------

    def _tokens(self) -> tuple[list[Any], bool]:
        """Reversed path tokens from the top draft, and whether that top is the root."""
        tokens = []
        d = self
        while d._parent is not None:
            tokens.append(d._key)
            d = d._parent
        return tokens, d is self._session._root

    def _where(self, token: Any) -> str:
        tokens, attached = self._tokens()
        path = "".join("/" + escape_token(t) for t in reversed(tokens))
        path += "/" + escape_token(token)
        return path if attached else f"{path} (in a detached draft)"

    # -- writing ---------------------------------------------------------------

    def _writable(self) -> Any:
        """Our own container, copying it (and every ancestor not yet copied) on first write."""
        c = self._copy
        if c is None:
            c = self._copy = self._new(self._base)
            p = self._parent
            while p is not None and p._copy is None:
                p._copy = p._new(p._base)
                p = p._parent
        elif self._shared:
            c = self._copy = self._new(c)
            self._shared = False
        return c

    def _prepare(self, value: Any, key: Any) -> tuple[Any, Draft | None]:
        """Frozen value to store at ``key``, and the detached draft to move there, if any."""
        t = type(value)
        if t is str or t is int or t is bool or value is None or t is FrozenDict or t is FrozenList:
            return value, None
        if isinstance(value, Draft):
            v = value._hotstate_current_()
            if (
                value._session is self._session
                and value._parent is None
                and value is not self._session._root
                and self._tokens()[1]
            ):
                return v, value  # detached: move it here
            return v, None  # still in the tree (or foreign): store its value
        return freeze(value, self._where(key)), None

    def _attach(self, child: Draft, key: Any) -> None:
        child._parent = self
        child._key = key
        self._children[key] = child
        if self._last:
            self._last.pop(key, None)
        self._session._barrier = len(self._session._ops)

    def _detach(self, child: Draft) -> None:
        child._parent = None
        child._key = None
        self._session._barrier = len(self._session._ops)

    def _store(self, key: Any, value: Any, moved: Draft | None, op: str) -> None:
        copy = self._writable()
        old = self._children.pop(key, None)
        if old is not None:
            self._detach(old)
        self._setter(copy, key, value)
        if moved is not None and moved._parent is None:
            self._attach(moved, key)
        self._log(key, op, value)

    def _popped(self, key: Any, v: Any) -> Any:
        """What ``pop`` returns: the slot's draft, detached (made now for a container)."""
        child = self._children.pop(key, None)
        if child is not None:
            self._detach(child)
            return child
        if _is_container(v):
            return (DictDraft if isinstance(v, dict) else ListDraft)(self._session, None, None, v)
        return v

    # -- recording -------------------------------------------------------------

    def _log(self, key: Any, op: str, value: Any = _NO_DEFAULT, token: Any = None) -> None:
        """Record ``op`` at ``key``, folding it into the slot's previous op when that is safe.

        Folding is safe when no op since then shifted paths (the barrier) and
        nothing was written below the slot (handing out a child draft forgets
        the slot). For lists a ``remove`` folds only into the very last op,
        because later ops may depend on the index it frees.
        """
        s = self._session
        ops: list[Any] = s._ops
        last = self._last
        if last is not None:
            j = last.get(key, -1)
            if j >= s._barrier:
                prev = ops[j]
                if op != "remove":
                    if prev["op"] == "remove":
                        prev["op"] = "replace"
                    prev["value"] = value
                    return
                if type(self) is DictDraft or j == len(ops) - 1:
                    del last[key]
                    if prev["op"] == "add":
                        ops[j] = None
                    else:
                        ops[j] = {"op": "remove", "path": prev["path"]}
                        last[key] = j
                    return
        path = _pointer(self, key if token is None else token)
        if path is None:
            return
        ops.append({"op": op, "path": path} if value is _NO_DEFAULT else
                   {"op": op, "path": path, "value": value})
        if last is None:
            last = self._last = {}
        last[key] = len(ops) - 1

    def _log_whole(self, value: Any) -> None:
        """Record a ``replace`` of this whole container (clear, sort, reverse)."""
        s = self._session
        tokens, attached = self._tokens()
        if attached:
            path = "".join("/" + escape_token(t) for t in reversed(tokens))
            s._ops.append({"op": "replace", "path": path, "value": value})
        s._barrier = len(s._ops)

    def _replace_whole(self, new: Any, children: dict[Any, Draft]) -> None:
        self._writable()
        self._copy = new
        self._shared = True
        self._children = children
        self._log_whole(new)


class DictDraft(Draft):
    """Draft of a JSON object; behaves like the ``dict`` it stands for."""

    __slots__ = ()
    _new = FrozenDict
    _setter = staticmethod(dict.__setitem__)

    def __getitem__(self, key: str) -> Any:
        if not self._session._live:
            raise RuntimeError(_REVOKED)
        c = self._copy
        v = (self._base if c is None else c)[key]
        t = type(v)
        if t is FrozenDict or t is FrozenList or (t not in _SCALARS and isinstance(v, dict | list)):
            child = self._children.get(key)
            return child if child is not None else self._wrap(key, v)
        return v

    def __setitem__(self, key: str, value: Any) -> None:
        cur = self._cur()
        if type(key) is not str:
            raise TypeError(
                f"not a JSON value at {self._where('?')}: object key must be str, "
                f"not {type(key).__name__} {key!r}"
            )
        t = type(value)
        if t is bool or t is str or t is int or value is None:
            moved = None
        else:
            if self._children.get(key, _NO_DEFAULT) is value:  # d["a"] = d["a"]
                return
            value, moved = self._prepare(value, key)
        if key in cur:
            if moved is None and key not in self._children and _same(cur[key], value):
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
            self._detach(child)
        dict.__delitem__(self._writable(), key)
        self._log(key, "remove")

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
        return self._cur().keys()  # type: ignore[no-any-return]

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
            if k in cur:
                if moved is None and k not in self._children and _same(cur[k], v):
                    continue
                self._store(k, v, moved, "replace")
            else:
                self._store(k, v, moved, "add")
            cur = self._copy

    def pop(self, key: str, default: Any = _NO_DEFAULT) -> Any:
        cur = self._cur()
        if key not in cur:
            if default is _NO_DEFAULT:
                raise KeyError(key)
            return default
        result = self._popped(key, cur[key])
        dict.__delitem__(self._writable(), key)
        self._log(key, "remove")
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
        for child in self._children.values():
            self._detach(child)
        self._replace_whole(FrozenDict(), {})


class ListDraft(Draft):
    """Draft of a JSON array; behaves like the ``list`` it stands for."""

    __slots__ = ()
    _new = FrozenList
    _setter = staticmethod(list.__setitem__)

    def _index(self, i: SupportsIndex, n: int, what: str) -> int:
        i = i if type(i) is int else operator.index(i)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"list {what}index out of range")
        return i

    def __getitem__(self, i: SupportsIndex | slice) -> Any:
        cur = self._cur()
        if type(i) is slice:
            return [self._wrap(k, cur[k]) for k in range(*i.indices(len(cur)))]
        n = len(cur)
        k = i if type(i) is int and 0 <= i < n else self._index(i, n, "")  # type: ignore[arg-type]
        v = cur[k]
        t = type(v)
        if t is FrozenDict or t is FrozenList or (t not in _SCALARS and isinstance(v, dict | list)):
            child = self._children.get(k)
            return child if child is not None else self._wrap(k, v)
        return v

    def __setitem__(self, i: SupportsIndex | slice, value: Any) -> None:
        cur = self._cur()
        if type(i) is slice:
            self._set_slice(i, value)
            return
        k = self._index(i, len(cur), "assignment ")  # type: ignore[arg-type]
        if self._children.get(k, _NO_DEFAULT) is value:
            return
        v, moved = self._prepare(value, k)
        self._set_at(k, v, moved)

    def __delitem__(self, i: SupportsIndex | slice) -> None:
        cur = self._cur()
        if type(i) is slice:
            for k in sorted(range(*i.indices(len(cur))), reverse=True):
                self._delete_at(k)
            return
        self._delete_at(self._index(i, len(cur), "assignment "))  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[Any]:
        i = 0
        while i < len(self._cur()):  # like list's iterator: sees changes made meanwhile
            yield self[i]
            i += 1

    def __contains__(self, value: object) -> bool:
        return _plain(value) in self._hotstate_current_()

    def __iadd__(self, other: Iterable[Any]) -> ListDraft:
        self.extend(other)
        return self

    def __imul__(self, n: SupportsIndex) -> ListDraft:
        n = operator.index(n)
        if n <= 0:
            self.clear()
        elif n > 1:
            values = list(self._hotstate_current_())
            for _ in range(n - 1):
                self.extend(values)
        return self

    def index(self, value: Any, start: SupportsIndex = 0, stop: SupportsIndex = sys.maxsize) -> int:
        return self._hotstate_current_().index(_plain(value), start, stop)  # type: ignore[no-any-return]

    def count(self, value: Any) -> int:
        return self._hotstate_current_().count(_plain(value))  # type: ignore[no-any-return]

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
        for child in self._children.values():
            self._detach(child)
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
            child._key = where[old]
            children[where[old]] = child
        self._replace_whole(FrozenList(map(values.__getitem__, order)), children)

    def _shift(self, start: int, delta: int) -> None:
        """Move the drafts at indices >= ``start`` by ``delta``."""
        ch = self._children
        moving = [(k, c) for k, c in ch.items() if k >= start]
        for k, _ in moving:
            del ch[k]
        for k, c in moving:
            c._key = k + delta
            ch[k + delta] = c

    def _set_at(self, k: int, v: Any, moved: Draft | None) -> None:
        if moved is None:
            old = self._children.get(k)
            now = self._cur()[k] if old is None else old._snapshot()
            if _same(now, v):
                return
        self._store(k, v, moved, "replace")

    def _insert_at(self, k: int, v: Any, moved: Draft | None) -> None:
        copy = self._writable()
        if k >= len(copy):  # append: no index shifts, so later writes may fold into it
            list.append(copy, v)
            if moved is not None and moved._parent is None:
                self._attach(moved, k)
            self._log(k, "add", v, "-")
            return
        list.insert(copy, k, v)
        if self._children:
            self._shift(k, 1)
        if moved is not None and moved._parent is None:
            self._attach(moved, k)
        s = self._session
        s._barrier = len(s._ops)  # indices shift: nothing before may fold, this neither
        self._log(k, "add", v)
        s._barrier = len(s._ops)

    def _delete_at(self, k: int) -> None:
        copy = self._writable()
        child = self._children.pop(k, None)
        if child is not None:
            self._detach(child)
        list.__delitem__(copy, k)
        if self._children:
            self._shift(k + 1, -1)
        self._log(k, "remove")
        self._session._barrier = len(self._session._ops)

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
        while head < min(len(old), m) and staged[head][1] is None and _same(
            old[head], staged[head][0]
        ):
            head += 1
        tail = 0
        while (
            tail < min(len(old), m) - head
            and staged[m - 1 - tail][1] is None
            and _same(old[-1 - tail], staged[m - 1 - tail][0])
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


_ENDED = DraftSession(None)  # revoked drafts point here, so nothing keeps the session alive
_ENDED.discard()
_NO_CHILDREN: dict[Any, Draft] = {}


def _pointer(draft: Draft, token: Any) -> str | None:
    """JSON Pointer of ``token`` inside ``draft``, or None when the draft is detached."""
    path = "/" + (token if type(token) is str and "~" not in token and "/" not in token
                  else escape_token(token))
    d = draft
    parent = d._parent
    while parent is not None:
        t = d._key
        path = "/" + (t if type(t) is str and "~" not in t and "/" not in t
                      else escape_token(t)) + path
        d = parent
        parent = d._parent
    return path if d is draft._session._root else None


def _plain(value: Any) -> Any:
    return value._hotstate_current_() if isinstance(value, Draft) else value


__all__ = [
    "DictDraft",
    "Draft",
    "DraftSession",
    "ListDraft",
    "apply_patches",
    "current",
    "produce",
]
