"""Rx operators for hotstate states, shared by the server and the client.

States are immutable snapshots that share every unchanged subtree with the
previous state (see :mod:`hotstate_rx.draft`), so "did this slice change?" is
an identity test in the common case and an equality test only as a fallback.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from reactivex import Observable, compose
from reactivex import operators as ops

_S = TypeVar("_S")
_R = TypeVar("_R")


def same(a: Any, b: Any) -> bool:
    """Whether two slices are the same: identity first (O(1) for shared
    subtrees), then ``==`` for values rebuilt equal (e.g. after a snapshot)."""
    return a is b or a == b


def select(selector: Callable[[_S], _R]) -> Callable[[Observable[_S]], Observable[_R]]:
    """Map each state to ``selector(state)`` and emit it only when it changed.

    The first slice is always emitted; a later one only when it is neither the
    very same object nor equal to the previous one, so a UI bound to
    ``state["todos"]`` does not re-render when ``state["config"]`` changes.
    An exception raised by ``selector`` is sent to ``on_error``.

    .. code-block:: text

        state:            --a-----b-----c-----d--|
                            |     |     |     |
        selector(state):    1     1     2     2'     (2' == 2, another object)
        select(selector): --1-----------2--------|

    """
    return compose(ops.map(selector), ops.distinct_until_changed(comparer=same))


__all__ = ["same", "select"]
