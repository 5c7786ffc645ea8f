"""Apply JSON Patch (RFC 6902) to immutable JSON values, copy-on-write.

Every client applies every patch, so this is a hot path: a call copies each
container on a touched path once (later ops of the same call write into that
copy in place) and shares every other subtree with the input, which is never
mutated. Inserted values are validated and frozen (:func:`freeze`).

Any op that does not apply raises :class:`~hotstate_rx.errors.PatchError`
naming the op's index and path; the input stays as it was.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

from hotstate_rx.errors import PatchError
from hotstate_rx.frozen import FrozenDict, FrozenList, freeze
from hotstate_rx.pointer import parse_pointer

PatchOp: TypeAlias = dict[str, Any]
"""One RFC 6902 operation, e.g. ``{"op": "replace", "path": "/a/0", "value": 1}``:
the one patch type of the library (drafts record them, diffs make them, the
wire carries them, :func:`apply_patches` applies them)."""

_MISSING: Any = object()


class _Fail(Exception):
    """Internal: why the current op failed; apply_patches adds the op's index and path."""


def apply_patches(state: Any, patches: Sequence[Mapping[str, Any]]) -> Any:
    """Return ``state`` with ``patches`` applied (RFC 6902: all six ops).

    An empty patch list returns ``state`` itself. Containers created here are
    frozen; untouched subtrees are the input's own objects.
    """
    if not patches:
        return state
    owned: dict[int, Any] = {}  # id -> container made by this call (kept alive: ids stay unique)
    doc = state
    for i, op in enumerate(patches):
        try:
            doc = _apply(doc, op, owned)
        except _Fail as err:
            path = op.get("path") if isinstance(op, Mapping) else None
            raise PatchError(f"patch op {i} ({_name(op)} {path!r}): {err}") from None
    return doc


def _name(op: Any) -> str:
    return str(op.get("op")) if isinstance(op, Mapping) else type(op).__name__


def _member(op: Mapping[str, Any], name: str) -> Any:
    if name not in op:
        raise _Fail(f"missing {name!r}")
    return op[name]


def _pointer(op: Mapping[str, Any], name: str) -> list[str]:
    try:
        return parse_pointer(_member(op, name))
    except ValueError as err:
        raise _Fail(str(err)) from None


def _value(op: Mapping[str, Any]) -> Any:
    try:
        return freeze(_member(op, "value"))
    except TypeError as err:
        raise _Fail(str(err)) from None


def _apply(doc: Any, op: Any, owned: dict[int, Any]) -> Any:
    if not isinstance(op, Mapping):
        raise _Fail("an operation must be an object")
    kind = op.get("op")
    if kind == "add":
        return _add(doc, _pointer(op, "path"), _value(op), owned)
    if kind == "remove":
        return _remove(doc, _pointer(op, "path"), owned)
    if kind == "replace":
        path, value = _pointer(op, "path"), _value(op)
        if not path:
            return value
        root, parent, key = _parent(doc, path, owned)
        _get(parent, key)
        _set(parent, key, value)
        return root
    if kind == "move":
        src, path = _pointer(op, "from"), _pointer(op, "path")
        if len(src) < len(path) and path[: len(src)] == src:
            raise _Fail("cannot move a value into one of its own children")
        value = _lookup(doc, src)
        if src == path:
            return doc
        return _add(_remove(doc, src, owned), path, value, owned)
    if kind == "copy":
        src, path = _pointer(op, "from"), _pointer(op, "path")
        return _add(doc, path, _lookup(doc, src), owned)
    if kind == "test":
        path, value = _pointer(op, "path"), _value(op)
        if not _json_equal(_lookup(doc, path), value):
            raise _Fail("test failed: values differ")
        return doc
    raise _Fail(f"unknown op {kind!r}")


def _index(node: list[Any], token: str, *, insert: bool = False) -> int:
    """An array index token (RFC 6901 §4: digits, no leading zeros), checked against ``node``."""
    n = len(node)
    if token == "-" and insert:
        return n
    if not token.isdigit() or not token.isascii() or (token[0] == "0" and len(token) > 1):
        raise _Fail(f"bad array index {token!r}")
    i = int(token)
    if i > n or (i == n and not insert):
        raise _Fail(f"array index {i} out of range (length {n})")
    return i


def _get(node: Any, token: str) -> Any:
    if isinstance(node, dict):
        if token not in node:
            raise _Fail(f"no member {token!r}")
        return node[token]
    if isinstance(node, list):
        return node[_index(node, token)]
    raise _Fail(f"cannot look up {token!r} in a {type(node).__name__}")


def _lookup(doc: Any, tokens: list[str]) -> Any:
    for token in tokens:
        doc = _get(doc, token)
    return doc


def _own(node: Any, owned: dict[int, Any]) -> Any:
    """``node`` itself if this call made it, else a fresh frozen copy that it now owns."""
    if id(node) in owned:
        return node
    t = type(node)
    if t is FrozenDict or (t is not FrozenList and isinstance(node, dict)):
        copy: Any = FrozenDict(node)
    elif isinstance(node, list):
        copy = FrozenList(node)
    else:
        raise _Fail(f"cannot change the inside of a {t.__name__}")
    owned[id(copy)] = copy
    return copy


def _parent(doc: Any, tokens: list[str], owned: dict[int, Any]) -> tuple[Any, Any, str]:
    """Own every container from the root to the parent of ``tokens``.

    Returns the (owned) root, the parent container and the last token.
    """
    root = node = _own(doc, owned)
    for token in tokens[:-1]:
        child = _get(node, token)
        mine = _own(child, owned)
        if mine is not child:
            _set(node, token, mine)
        node = mine
    return root, node, tokens[-1]


def _set(node: Any, token: str, value: Any) -> None:
    if isinstance(node, dict):
        dict.__setitem__(node, token, value)
    else:
        list.__setitem__(node, _index(node, token), value)


def _add(doc: Any, tokens: list[str], value: Any, owned: dict[int, Any]) -> Any:
    if not tokens:
        return value
    root, parent, key = _parent(doc, tokens, owned)
    if isinstance(parent, dict):
        dict.__setitem__(parent, key, value)
    else:
        list.insert(parent, _index(parent, key, insert=True), value)
    return root


def _remove(doc: Any, tokens: list[str], owned: dict[int, Any]) -> Any:
    if not tokens:
        raise _Fail("cannot remove the whole document")
    root, parent, key = _parent(doc, tokens, owned)
    if isinstance(parent, dict):
        if key not in parent:
            raise _Fail(f"no member {key!r}")
        dict.__delitem__(parent, key)
    else:
        list.__delitem__(parent, _index(parent, key))
    return root


def _json_equal(a: Any, b: Any) -> bool:
    """RFC 6902 §4.6 equality: like ``==`` but booleans are not numbers."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict):
        return (
            isinstance(b, dict)
            and a.keys() == b.keys()
            and all(_json_equal(v, b[k]) for k, v in a.items())
        )
    if isinstance(a, list):
        return (
            isinstance(b, list)
            and len(a) == len(b)
            and all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
        )
    if isinstance(b, dict | list):
        return False
    return bool(a == b)


__all__ = ["apply_patches"]
