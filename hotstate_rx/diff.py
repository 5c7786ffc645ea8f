"""Structural diff of two JSON values into RFC 6902 operations (pure, no I/O).

:func:`diff` is :func:`~hotstate_rx.draft.produce` driven by a target value
instead of a recipe: it returns the new state and the patch turning the old
state into it. It exists for stores fed with whole values (a sensor reading,
a state computed from other stores), where only the difference should travel.

Two promises (the first is the same as ``produce``'s):

- *Structural sharing.* Every subtree of the result that equals the old one
  *is* the old one, so selectors that compare by identity see no change
  there; when nothing changed, the old value itself comes back with ``[]``.
- *Bounded cost.* The walk stops at shared (identical) subtrees. Lists are
  matched by trimming their common prefix and suffix, then pairing what is
  left by index: that finds a single insertion or removal anywhere exactly,
  without the O(n·m) cost of a longest-common-subsequence search. A node is
  compared at most a few times per list that encloses it (while trimming,
  then again inside a changed element), so the cost is O(size of the new
  value times the depth of list nesting) at worst, never quadratic in a list's length.

Equality is JSON equality: ``1``, ``1.0`` and ``True`` differ, because they
do not come back as each other from the wire. Only ``add``, ``remove`` and
``replace`` are produced; paths are JSON Pointers (RFC 6901).
"""

from __future__ import annotations

from typing import Any

from .frozen import freeze
from .patch import PatchOp
from .pointer import escape_token


def diff(old: Any, new: Any) -> tuple[Any, list[PatchOp]]:
    """Return ``(state, patches)``: ``new`` frozen and sharing ``old``'s equal subtrees.

    ``old`` must be a valid state (frozen, as a store holds it); ``new`` is any
    JSON-like value, validated on the way. Applying ``patches`` to ``old``
    gives a value equal to ``state``. A root of another type (or a scalar
    change at the root) is one ``replace`` of path ``""``. Raises
    ``TypeError`` naming the pointer of the first part of ``new`` that is not
    JSON.
    """
    ops: list[PatchOp] = []
    return _diff(old, new, "", ops), ops


def json_equal(a: Any, b: Any) -> bool:
    """JSON equality: like ``==`` but ``1``, ``1.0`` and ``True`` differ; identity first."""
    if a is b:
        return True
    if isinstance(a, dict):
        return (
            isinstance(b, dict)
            and len(a) == len(b)
            and all(k in b and json_equal(v, b[k]) for k, v in a.items())
        )
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(json_equal, a, b))
    return type(a) is type(b) and a == b


def _diff(old: Any, new: Any, path: str, ops: list[PatchOp]) -> Any:
    if old is new:
        return old
    if isinstance(old, dict) and isinstance(new, dict):
        return _diff_dict(old, new, path, ops)
    if isinstance(old, list) and isinstance(new, list):
        return _diff_list(old, new, path, ops)
    # Scalars (or a change of kind). ``old`` is valid JSON, so an equal value
    # of the very same type is valid too and needs no check.
    if type(old) is type(new) and old == new:
        return old
    value = freeze(new, path)
    ops.append({"op": "replace", "path": path, "value": value})
    return value


def _diff_dict(old: dict[str, Any], new: dict[Any, Any], path: str, ops: list[PatchOp]) -> Any:
    changed = False
    for key in old:
        if key not in new:
            ops.append({"op": "remove", "path": f"{path}/{escape_token(key)}"})
            changed = True
    out: dict[str, Any] = {}
    for key, value in new.items():
        if type(key) is not str:
            raise TypeError(
                f"not a JSON value at {path or 'the root'}: "
                f"object key must be str, not {type(key).__name__} {key!r}"
            )
        child_path = f"{path}/{escape_token(key)}"
        if key in old:
            before = old[key]
            child = _diff(before, value, child_path, ops)
            changed = changed or child is not before
        else:
            child = freeze(value, child_path)
            ops.append({"op": "add", "path": child_path, "value": child})
            changed = True
        out[key] = child
    # Children are frozen already, so this freeze is one shallow copy.
    return freeze(out) if changed else old


def _diff_list(old: list[Any], new: list[Any], path: str, ops: list[PatchOp]) -> Any:
    n_old, n_new = len(old), len(new)
    shortest = min(n_old, n_new)
    start = 0
    while start < shortest and json_equal(old[start], new[start]):
        start += 1
    end_old, end_new = n_old, n_new
    while end_old > start and end_new > start and json_equal(old[end_old - 1], new[end_new - 1]):
        end_old -= 1
        end_new -= 1
    if start == end_old == end_new:
        return old  # equal lists (possibly of another list subclass)

    out = list(old[:start])
    paired = min(end_old, end_new)
    for i in range(start, paired):
        out.append(_diff(old[i], new[i], f"{path}/{i}", ops))
    # Remove from the highest index down so earlier indices stay valid.
    for i in range(end_old - 1, paired - 1, -1):
        ops.append({"op": "remove", "path": f"{path}/{i}"})
    for i in range(paired, end_new):
        value = freeze(new[i], f"{path}/{i}")
        ops.append({"op": "add", "path": f"{path}/{i}", "value": value})
        out.append(value)
    out.extend(old[end_old:])
    return freeze(out)


__all__ = ["diff", "json_equal"]
