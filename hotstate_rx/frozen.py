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
"""

from __future__ import annotations

import math
from typing import Any, NoReturn, TypeAlias

from hotstate_rx.pointer import escape_token

JSON: TypeAlias = Any
"""A JSON-like value: dict with str keys, list, str, int, float, bool, None
(frozen, once it is part of a state). An alias for readers: Python's type
system cannot express the recursion without making every caller cast."""

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


def _freeze(value: Any) -> Any:
    t = type(value)
    if t in _SCALARS or t is FrozenDict or t is FrozenList:
        return value
    if t is float:
        if math.isfinite(value):
            return value
        raise _NotJSON(f"float {value!r}")
    if isinstance(value, dict):
        out = FrozenDict()
        setitem = dict.__setitem__
        for k, v in value.items():
            if type(k) is not str:
                err = _NotJSON(f"object key must be str, not {type(k).__name__} {k!r}")
                raise err
            try:
                setitem(out, k, _freeze(v))
            except _NotJSON as err:
                err.tokens.append(k)
                raise
        return out
    if isinstance(value, list):
        out_list = FrozenList()
        append = list.append
        for i, v in enumerate(value):
            try:
                append(out_list, _freeze(v))
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
    of the first offending value, e.g. ``not a JSON value at /items/0/tags: set``.
    """
    try:
        return _freeze(value)
    except _NotJSON as err:
        where = path + "".join("/" + escape_token(t) for t in reversed(err.tokens))
        raise TypeError(f"not a JSON value at {where or 'the root'}: {err.what}") from None


def thaw(value: Any) -> Any:
    """Return a plain, mutable deep copy (``dict``/``list``) of a JSON value."""
    if isinstance(value, dict):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, list):
        return [thaw(v) for v in value]
    return value


def is_frozen(value: Any) -> bool:
    """True when ``value`` is a frozen container or an immutable JSON scalar."""
    t = type(value)
    return t is FrozenDict or t is FrozenList or t in _SCALARS or t is float


__all__ = ["FrozenDict", "FrozenList", "freeze", "is_frozen", "thaw"]
