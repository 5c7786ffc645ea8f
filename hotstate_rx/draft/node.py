"""The draft engine's core: the draft tree, copy-on-write, places, and how changes are recorded.

A draft stands for one container of the state. It reads from ``_base`` (the
container as it was, or as last handed out) until the first write below it;
that write copies it and every ancestor not yet copied (``_writable``), so
untouched subtrees stay shared with the old state. Child drafts are made on first
access and kept in ``_children`` by slot; their new values are written into
the parent's copy lazily, when a snapshot or the final state is taken.

Where a draft is: its *attachments*, the ``(parent draft, slot)`` pairs whose
``_children`` hold it. The first is ``_parent``/``_key`` (the only one, unless
the recipe stored the draft at a second place); further ones are in ``_more``,
and the session's ``shared`` flag turns on the code paths that look there.
Invariants: a draft with no ``_parent`` has no ``_more`` (except the root,
which keeps ``_parent`` None so that paths stop there); every attachment
mirrors a ``_children`` entry; the attachments never form a cycle
(``_check_cycle``); and every ancestor, on every path, of a draft with a
``_copy`` has one too.

Every change is recorded as it happens (``_record``), as an RFC 6902 op with
the JSON Pointer (RFC 6901) of that moment, into the session's ``ops``. A
later write to the same slot folds into that slot's op (``_last`` remembers
where it is) unless paths have shifted since (the session's ``barrier``).

The engine's internal interface
-------------------------------
The package is one engine in five modules; these are the only members that
cross a module boundary, and nothing outside the package uses them. A draft's
own names keep their underscore, because a draft's public namespace is the
``dict``/``list`` surface it imitates:

* Draft state the surfaces (:mod:`~hotstate_rx.draft.dict_draft`,
  :mod:`~hotstate_rx.draft.list_draft`) read: ``_session``, ``_base``/``_copy``
  (the value) and ``_children``; each surface class sets ``_new`` (its frozen
  type), ``_setter`` and ``_stable_slots`` for this module. The attachments
  (``_parent``, ``_key``, ``_more``) and ``_last`` stay inside this module.
* Draft operations the surfaces build on: ``_cur``, ``_wrap``, ``_child``,
  ``_snapshot``, ``_hotstate_current_`` (also how :func:`~hotstate_rx.frozen.freeze`
  reads a draft met inside plain data), ``_where``, ``_writable``,
  ``_prepare``, ``_store``, ``_popped``, ``_attach``, ``_detach``, ``_rekey``,
  ``_replace_whole`` and ``_record``.
* What the session (:mod:`~hotstate_rx.draft.session`) calls on its root:
  ``_finalize``.
* The session's side, plain names on :class:`~hotstate_rx.draft.session.DraftSession`:
  ``live`` (False once the recipe ended: every draft operation checks it),
  ``root``, ``shared``, ``ops`` (``None`` where an op was folded away) and
  ``barrier`` (ops before this index may not be folded into).
* The value-type table :data:`KIND`, filled by the :func:`register` calls in
  :mod:`hotstate_rx.draft` (``__init__``); the surfaces read it to wrap a
  container they hand out. :func:`specialise`, applied to each draft class
  where it is defined.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from types import FunctionType
from typing import TYPE_CHECKING, Any, TypeVar

from hotstate_rx.frozen import FrozenDict, FrozenList, freeze
from hotstate_rx.pointer import escape_token

if TYPE_CHECKING:
    from hotstate_rx.draft.session import DraftSession

REVOKED = "draft used after its recipe ended"
SCALARS: frozenset[type] = frozenset({str, int, float, bool, type(None)})
NO_VALUE: Any = object()
"""Marks a missing argument (no default, no ``value`` in an op)."""

KIND: dict[type, Any] = dict.fromkeys(SCALARS)
"""Type of a stored value -> the draft class for it (None for scalars).

Filled by the :func:`register` calls in :mod:`hotstate_rx.draft` (its
``__init__``) for the frozen and the plain container types; subclasses of
``dict``/``list`` take :func:`kind_of`.
"""

DraftT = TypeVar("DraftT", bound="Draft")


def register(cls: type[Draft], *types: type) -> None:
    """Make ``cls`` the draft class for values whose type is exactly one of ``types``."""
    for t in types:
        KIND[t] = cls


def specialise(cls: type[DraftT]) -> type[DraftT]:
    """Give the draft class ``cls`` its own copy of every :class:`Draft` function it inherits.

    CPython (3.11+) specialises attribute access per code object and per
    type: one ``_finalize`` serving both dict and list drafts keeps missing
    and falls back to the generic lookup. A copy of the code per subclass
    sees one type of ``self`` and stays specialised. Measured on CPython
    3.11 (``tests/benchmarks/bench_draft.py`` sizes): without it a produce
    that toggles one field or appends one item takes 7-15% longer.
    """
    for name, f in vars(Draft).items():
        if type(f) is FunctionType and name not in vars(cls):
            copy = FunctionType(
                f.__code__.replace(), f.__globals__, name, f.__defaults__, f.__closure__
            )
            copy.__qualname__, copy.__doc__ = f.__qualname__, f.__doc__
            copy.__kwdefaults__ = f.__kwdefaults__
            setattr(cls, name, copy)
    return cls


def kind_of(v: Any) -> Any:
    """The draft class for ``v`` (a container), or None (a scalar)."""
    t = type(v)
    if t in KIND:
        return KIND[t]
    if isinstance(v, dict):
        return KIND[dict]
    if isinstance(v, list):
        return KIND[list]
    return None


def unchanged(old: Any, new: Any) -> bool:
    """Whether storing ``new`` over ``old`` changes nothing (containers: identity only, O(1)).

    Scalars compare by type and value, so ``1`` over ``1.0`` or ``True`` over
    ``1`` is a change, and so is ``-0.0`` over ``0.0``.
    """
    if old is new:
        return True
    t = type(old)
    if t is not type(new) or t not in SCALARS:
        return False
    if t is float:
        return bool(old == new and math.copysign(1.0, old) == math.copysign(1.0, new))
    return bool(old == new)


def plain(value: Any) -> Any:
    """A draft's current value; anything else as it is."""
    return value._hotstate_current_() if isinstance(value, Draft) else value


class _Ended:
    """What a finished draft points at instead of its session, so nothing keeps that alive."""

    __slots__ = ()
    live = False
    shared = False
    root = None


_ENDED: Any = _Ended()
_NO_CHILDREN: dict[Any, Draft] = {}
"""A draft's ``_children`` until it has some, shared, so it must stay empty: inserting
goes through :meth:`Draft._child` or :meth:`Draft._attach`, which swap in a dict of
the draft's own. Most drafts are leaves; this saves each of them a dict."""


class Draft:
    """Common machinery of :class:`DictDraft` and :class:`ListDraft` (see :func:`specialise`)."""

    __slots__ = (
        "_base",
        "_children",
        "_copy",
        "_key",
        "_last",
        "_more",
        "_parent",
        "_session",
    )
    __hash__ = None  # type: ignore[assignment]
    _new: type  # the frozen type: FrozenDict / FrozenList
    _setter: Callable[[Any, Any, Any], None]  # dict.__setitem__ / list.__setitem__
    _stable_slots: bool  # removing a slot shifts no other slot (dicts, not lists)

    def __init__(self, session: DraftSession, parent: Draft | None, key: Any, base: Any) -> None:
        self._session = session
        self._parent = parent
        self._key = key
        self._base = base
        # Our own container once we changed, never seen outside this draft: when
        # it escapes as a value (a snapshot, a whole replace) it becomes _base,
        # so the next write copies again.
        self._copy: Any = None
        self._children = _NO_CHILDREN  # slot -> draft handed out for it
        self._last: dict[Any, int] | None = None  # slot -> index of its last op, to fold into
        # Attachments after the first, as [parent, slot] lists (slots shift in lists).
        self._more: list[list[Any]] | None = None

    # -- reading ---------------------------------------------------------------

    def _cur(self) -> Any:
        if not self._session.live:
            raise RuntimeError(REVOKED)
        c = self._copy
        return self._base if c is None else c

    def _wrap(self, key: Any, v: Any) -> Any:
        """The draft for a container slot (made on first access), or the scalar itself."""
        kind = KIND[type(v)] if type(v) in KIND else kind_of(v)
        if kind is None:
            return v
        child = self._children.get(key)
        return child if child is not None else self._child(kind, key, v)

    def _child(self, kind: Any, key: Any, v: Any) -> Draft:
        """Make and keep the draft of class ``kind`` for the container ``v`` at ``key``."""
        child = kind(self._session, self, key, v)
        children = self._children
        if children is _NO_CHILDREN:
            children = self._children = {}
        children[key] = child
        if self._last:  # ops below this slot follow now: never fold into its op
            self._last.pop(key, None)
        return child

    def _snapshot(self) -> Any:
        """Current value as frozen data; our copy becomes the base, so it is never changed again.

        A draft without a copy has no changed descendant (``_writable`` copies
        every ancestor), so its base is its current value.
        """
        copy = self._copy
        if copy is None:
            return self._base
        setter = self._setter
        for k, child in self._children.items():
            v = child._snapshot()
            if copy[k] is not v:
                setter(copy, k, v)
        self._base = copy
        self._copy = None
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
        self._more = None
        # A draft in several places is finalized once per place: the later calls
        # find no children and return the same value, so every place holds it.
        self._children = _NO_CHILDREN
        if copy is None:
            for child in children.values():
                child._finalize()
            return self._base
        setter = self._setter
        for k, child in children.items():
            v = child._finalize()
            if copy[k] is not v:
                setter(copy, k, v)
        return copy

    def _hotstate_current_(self) -> Any:
        if not self._session.live:
            raise RuntimeError(REVOKED)
        return self._snapshot()

    def __len__(self) -> int:
        return len(self._cur())

    def __eq__(self, other: object) -> bool:
        return bool(self._hotstate_current_() == plain(other))

    def __repr__(self) -> str:
        if not self._session.live:
            return f"<revoked {type(self).__name__}>"
        return f"{type(self).__name__}({self._snapshot()!r})"

    # -- where we are ----------------------------------------------------------

    def _paths(self) -> list[str]:
        """The JSON Pointer of every place this draft has in the state; [] when detached.

        One per path of attachments up to the root, the ``_parent`` chain first.
        """
        root = self._session.root
        out: list[str] = []
        todo: list[tuple[Draft, str]] = [(self, "")]
        while todo:
            d, path = todo.pop()
            if d is root:
                out.append(path)
                continue
            more = d._more
            if more:
                for p, k in reversed(more):
                    todo.append((p, "/" + escape_token(k) + path))
            if d._parent is not None:
                todo.append((d._parent, "/" + escape_token(d._key) + path))
        return out

    def _where(self, token: Any) -> str:
        paths = self._paths()
        if paths:
            return paths[0] + "/" + escape_token(token)
        tokens = []
        d = self
        while d._parent is not None:
            tokens.append(d._key)
            d = d._parent
        path = "".join("/" + escape_token(t) for t in reversed(tokens))
        return f"{path}/{escape_token(token)} (in a detached draft)"

    # -- writing ---------------------------------------------------------------

    def _writable(self) -> Any:
        """Our own container, copying it (and every ancestor not yet copied) on first write."""
        c = self._copy
        if c is None:
            c = self._copy = self._new(self._base)
            if self._session.shared:
                self._copy_up()
                return c
            p = self._parent
            while p is not None and p._copy is None:
                p._copy = p._new(p._base)
                p = p._parent
        return c

    def _copy_up(self) -> None:
        """``_writable``'s walk when drafts may be in several places: every path up."""
        todo = [self]
        while todo:
            d = todo.pop()
            parents = [d._parent] if d._more is None else [d._parent, *(a[0] for a in d._more)]
            for p in parents:
                if p is not None and p._copy is None:
                    p._copy = p._new(p._base)
                    todo.append(p)

    def _prepare(self, value: Any, key: Any) -> tuple[Any, Draft | None]:
        """Frozen value to store at ``key``, and the draft to put there, if any.

        A draft of this session goes there itself: moved if it is in no place,
        one more place if it is (after :meth:`_check_cycle`). Other drafts give
        their value.
        """
        t = type(value)
        if t is str or t is int or t is bool or value is None or t is FrozenDict or t is FrozenList:
            return value, None
        if isinstance(value, Draft):
            v = value._hotstate_current_()
            if value._session is self._session:
                # Detached, it moves here; attached, it is here too (one object, as in Python).
                self._check_cycle(value, key)
                return v, value
            return v, None  # a foreign draft: store its value
        try:
            return freeze(value), None
        except TypeError:  # again, to name the path; worked out only now, as it costs
            return freeze(value, self._where(key)), None

    def _check_cycle(self, value: Draft, key: Any) -> None:
        """Refuse to store ``value`` at ``key`` if it is this draft or one of its ancestors.

        Walks up every path from here: depth x attachments, never the subtree.
        """
        if value is not self:
            if not value._children:  # a leaf is nobody's ancestor
                return
            if self._session.shared:
                seen: set[int] = set()
                todo: list[Draft] = [self]
                while todo:
                    d = todo.pop()
                    if d is value:
                        break
                    for p in (d._parent, *(a[0] for a in d._more or ())):
                        if p is not None and id(p) not in seen:
                            seen.add(id(p))
                            todo.append(p)
                else:
                    return
            else:
                up = self._parent
                while up is not None and up is not value:
                    up = up._parent
                if up is None:
                    return
        raise ValueError(
            f"cannot store a draft inside itself at {self._where(key)}: JSON cannot hold a cycle"
        )

    def _attach(self, child: Draft, key: Any) -> None:
        """Put ``child`` at ``key``: a move if it is detached, one more place if not."""
        if child._parent is None and child is not self._session.root:
            child._parent = self
            child._key = key
        else:
            if child._more is None:
                child._more = [[self, key]]
            else:
                child._more.append([self, key])
            self._session.shared = True
        children = self._children
        if children is _NO_CHILDREN:
            children = self._children = {}
        children[key] = child
        if self._last:
            self._last.pop(key, None)
        s = self._session
        s.barrier = len(s.ops)  # paths changed: nothing before may fold

    def _detach(self, child: Draft, key: Any) -> None:
        """Take ``child`` out of ``key`` (its ``_children`` entry is gone already).

        Its other places, if any, keep it live; with none left it is a scratch value.
        """
        more = child._more
        if child._parent is self and child._key == key:
            if more:
                child._parent, child._key = more.pop()
            else:
                child._parent = None
                child._key = None
        elif more:
            for i, (p, k) in enumerate(more):
                if p is self and k == key:
                    del more[i]
                    break
        s = self._session
        s.barrier = len(s.ops)  # paths changed: nothing before may fold

    def _rekey(self, child: Draft, old: Any, new: Any) -> None:
        """Move ``child``'s attachment here from slot ``old`` to ``new`` (list shifts).

        A draft may sit at several slots of one list; which of its attachments
        here gets which slot does not matter, so a sequence of rekeys over a
        shift or a permutation needs no particular order.
        """
        if child._parent is self and child._key == old:
            child._key = new
            return
        for a in child._more or ():
            if a[0] is self and a[1] == old:
                a[1] = new
                return

    def _store(self, key: Any, value: Any, moved: Draft | None, op: str) -> None:
        copy = self._writable()
        old = self._children.pop(key, None)
        if old is not None:
            self._detach(old, key)
        self._setter(copy, key, value)
        if moved is not None:
            self._attach(moved, key)
        self._record(key, op, value)

    def _popped(self, key: Any, v: Any) -> Any:
        """What ``pop`` returns: the slot's draft, out of this slot (made now for a container).

        It stays live wherever else it is; with no other place it is detached.
        """
        child = self._children.pop(key, None)
        if child is not None:
            self._detach(child, key)
            return child
        kind = kind_of(v)
        return v if kind is None else kind(self._session, None, None, v)

    def _replace_whole(self, new: Any, children: dict[Any, Draft]) -> None:
        """Make ``new`` our value (clear, sort, reverse); it goes into the patch as it is."""
        self._writable()  # for our ancestors' copies
        self._base = new
        self._copy = None
        self._children = children
        self._record_whole(new)

    # -- recording -------------------------------------------------------------

    def _record(self, key: Any, op: str, value: Any = NO_VALUE, token: Any = None) -> None:
        """Record ``op`` at ``key``, folding it into the slot's previous op when that is safe.

        ``token`` is the last path token when it is not ``key`` (``"-"`` for an
        append). Folding is safe when no op since then shifted paths (the
        session's ``barrier``) and nothing was written below the slot (handing
        out a child draft forgets the slot). For lists a ``remove`` folds only
        into the very last op, because later ops may depend on the index it
        frees. A slot is remembered for folding only when its op went to one
        place; attaching and detaching set the barrier, so the places have not
        changed since.
        """
        s = self._session
        ops: list[Any] = s.ops
        last = self._last
        if last is not None:
            j = last.get(key, -1)
            if j >= s.barrier:
                prev = ops[j]
                if op != "remove":
                    if prev["op"] == "remove":
                        prev["op"] = "replace"
                    prev["value"] = value
                    return
                if self._stable_slots or j == len(ops) - 1:
                    del last[key]
                    if prev["op"] == "add":
                        ops[j] = None
                    else:
                        ops[j] = {"op": "remove", "path": prev["path"]}
                        last[key] = j
                    return
        # The JSON Pointer of the slot (inlined: this is every op's cost), or
        # nothing to record when the draft is detached.
        t = key if token is None else token
        path = "/" + (t if type(t) is str and "~" not in t and "/" not in t else escape_token(t))
        if s.shared:
            self._record_everywhere(key, op, value, path)
            return
        d = self
        parent = d._parent
        while parent is not None:
            t = d._key
            path = (
                "/"
                + (t if type(t) is str and "~" not in t and "/" not in t else escape_token(t))
                + path
            )
            d = parent
            parent = d._parent
        if d is not s.root:
            return
        ops.append(
            {"op": op, "path": path}
            if value is NO_VALUE
            else {"op": op, "path": path, "value": value}
        )
        if last is None:
            self._last = {key: len(ops) - 1}
        else:
            last[key] = len(ops) - 1

    def _record_everywhere(self, key: Any, op: str, value: Any, tail: str) -> None:
        """``_record``'s second half when drafts may be in several places: an op per place."""
        ops: list[Any] = self._session.ops
        paths = self._paths()
        for path in paths:
            ops.append(
                {"op": op, "path": path + tail}
                if value is NO_VALUE
                else {"op": op, "path": path + tail, "value": value}
            )
        last = self._last
        if len(paths) == 1:
            if last is None:
                self._last = {key: len(ops) - 1}
            else:
                last[key] = len(ops) - 1
        elif last:
            last.pop(key, None)

    def _record_whole(self, value: Any) -> None:
        """Record a ``replace`` of our whole container (clear, sort, reverse)."""
        s = self._session
        for path in self._paths():
            s.ops.append({"op": "replace", "path": path, "value": value})
        s.barrier = len(s.ops)
