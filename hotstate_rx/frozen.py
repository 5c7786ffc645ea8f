"""Immutable JSON containers, and the one check that a value is JSON.

State that hotstate hands out is shared: between observers, with the patches
sent to clients, and between old and new states (structural sharing). A caller
who mutated it by accident would silently diverge from every client, so all
containers in a state are :class:`FrozenDict` / :class:`FrozenList`, whose
mutating methods raise ``TypeError``. They are real ``dict``/``list``
subclasses, so ``==`` with plain data, ``json.dumps`` and ``msgpack.packb``
work unchanged, and copying one is the fast C copy of the base type.

The library's own code fills a *freshly made* frozen container through the
base class (``dict.__setitem__(fresh, k, v)``); nothing else should. Build
frozen values with :func:`freeze`, not with the constructors, which do not
validate.

Accepted values: ``dict`` (and subclasses) with ``str`` keys, ``list`` (and
subclasses), and values whose type is exactly ``str``, ``int``, ``float``
(finite) or ``bool``, or ``None``. Subclasses of ``str``/``int``/``float``
(enums, numpy scalars) are refused: they would not come back as themselves
from the wire, so the server's and the clients' states would differ in type.
Containers nest at most :data:`MAX_DEPTH` levels: both walks here recurse, and
a value from the network must get a clear error, never a ``RecursionError``.
"""

from __future__ import annotations

import math
from typing import Any, NoReturn, TypeAlias

from hotstate_rx.pointer import escape_token

JSON: TypeAlias = Any
"""A JSON-like value: dict with str keys, list, str, int, float, bool, None
(frozen, once it is part of a state). An alias for readers: Python's type
system cannot express the recursion without making every caller cast."""

MAX_DEPTH = 256
"""How deeply containers may nest in a value :func:`freeze` accepts and
:func:`thaw` copies (a scalar or ``[]`` is depth 0, ``[[]]`` depth 1). Far
beyond real states, and far below Python's recursion limit (one frame per
level), so that a hostile frame of nested arrays is refused, not a crash."""

_HINT = "change it with store.update(...) / store.mutate() or produce(state, recipe)"


def _immutable(self: object, *args: object, **kwargs: object) -> NoReturn:
    raise TypeError(f"hotstate state is immutable: cannot modify a {type(self).__name__}; {_HINT}")


class FrozenDict(dict[str, Any]):
    """A ``dict`` whose mutating methods raise ``TypeError``."""

    __slots__ = ()

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _immutable
    __ior__ = _immutable

    def __copy__(self) -> dict[str, Any]:
        return thaw(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[str, Any]:
        return thaw(self)

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenDict, (dict(self),))


class FrozenList(list[Any]):
    """A ``list`` whose mutating methods raise ``TypeError``."""

    __slots__ = ()

    __setitem__ = __delitem__ = append = extend = insert = pop = remove = _immutable
    clear = sort = reverse = _immutable
    __iadd__ = __imul__ = _immutable

    def __copy__(self) -> list[Any]:
        return thaw(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> list[Any]:
        return thaw(self)

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenList, (list(self),))


_SCALARS = frozenset({str, int, bool, type(None)})


class _NotJSON(Exception):
    """Internal: carries the reversed path tokens of an offending value up the recursion."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.tokens: list[str] = []


def _freeze(value: Any, depth: int) -> Any:
    t = type(value)
    if t in _SCALARS or t is FrozenDict or t is FrozenList:
        return value
    if t is float:
        if math.isfinite(value):
            return value
        raise _NotJSON(f"float {value!r}")
    if isinstance(value, dict | list) and depth >= MAX_DEPTH:
        raise _NotJSON(f"containers nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, dict):
        out = FrozenDict()
        setitem = dict.__setitem__
        for k, v in value.items():
            if type(k) is not str:
                err = _NotJSON(f"object key must be str, not {type(k).__name__} {k!r}")
                raise err
            if type(v) in _SCALARS:  # most leaves: no call
                setitem(out, k, v)
                continue
            try:
                setitem(out, k, _freeze(v, depth + 1))
            except _NotJSON as err:
                err.tokens.append(k)
                raise
        return out
    if isinstance(value, list):
        out_list = FrozenList()
        append = list.append
        for i, v in enumerate(value):
            if type(v) in _SCALARS:
                append(out_list, v)
                continue
            try:
                append(out_list, _freeze(v, depth + 1))
            except _NotJSON as err:
                err.tokens.append(str(i))
                raise
        return out_list
    current = getattr(t, "_hotstate_current_", None)
    if current is not None:  # a draft inside plain data stands for its current value
        return current(value)
    raise _NotJSON(t.__name__)


def freeze(value: Any, path: str = "") -> Any:
    """Validate a JSON-like value and return it with every container frozen.

    Already-frozen containers are returned as they are, without a walk: their
    contents were checked when they were made, and this is what keeps storing
    an unchanged subtree O(1). ``path`` is the JSON Pointer where the value is
    going, used in the error message. Raises ``TypeError`` naming the pointer
    of the first offending value, e.g. ``not a JSON value at /items/0/tags: set``,
    and refuses containers nested deeper than :data:`MAX_DEPTH` the same way.
    """
    try:
        return _freeze(value, 0)
    except _NotJSON as err:
        where = path + "".join("/" + escape_token(t) for t in reversed(err.tokens))
        raise TypeError(f"not a JSON value at {where or 'the root'}: {err.what}") from None


def thaw(value: Any) -> Any:
    """Return a plain, mutable deep copy (``dict``/``list``) of a JSON value.

    Raises ``ValueError`` for containers nested deeper than :data:`MAX_DEPTH`
    (only a value that never went through :func:`freeze` can be, such as one
    decoded from a hostile peer)."""
    return _thaw(value, 0)


def _thaw(value: Any, depth: int) -> Any:
    if isinstance(value, dict):
        if depth >= MAX_DEPTH:
            raise ValueError(f"containers nested deeper than {MAX_DEPTH} levels")
        out = {}
        for k, v in value.items():
            out[k] = _thaw(v, depth + 1)
        return out
    if isinstance(value, list):
        if depth >= MAX_DEPTH:
            raise ValueError(f"containers nested deeper than {MAX_DEPTH} levels")
        out_list = []
        for v in value:  # a loop, not a comprehension: one frame per level on 3.11
            out_list.append(_thaw(v, depth + 1))
        return out_list
    return value


def as_plain(value: Any) -> Any:
    """``value`` as plain data its receiver may keep and change: frozen
    containers are copied (:func:`thaw`); plain ones (a value decoded for one
    receiver alone) are returned as they are, once known to nest at most
    :data:`MAX_DEPTH` levels (``ValueError`` beyond, as :func:`thaw`). A plain
    container holding a frozen one is thawed whole."""
    t = type(value)
    if t is dict or t is list:
        return value if _plain_within(value, 0) else thaw(value)
    return thaw(value)


def _plain_within(value: Any, depth: int) -> bool:
    """``value`` (a plain container) holds no frozen one; ``ValueError`` when
    it nests deeper than :data:`MAX_DEPTH`."""
    if depth >= MAX_DEPTH:
        raise ValueError(f"containers nested deeper than {MAX_DEPTH} levels")
    for v in value.values() if type(value) is dict else value:
        t = type(v)
        if t is FrozenDict or t is FrozenList:
            return False
        if (t is dict or t is list) and not _plain_within(v, depth + 1):
            return False
    return True


def is_frozen(value: Any) -> bool:
    """True when ``value`` is a frozen container or an immutable JSON scalar."""
    t = type(value)
    return t is FrozenDict or t is FrozenList or t in _SCALARS or t is float


__all__ = ["MAX_DEPTH", "FrozenDict", "FrozenList", "as_plain", "freeze", "is_frozen", "thaw"]
