"""A draft session: the root draft, and the log of ops recorded as drafts change.

Ops are recorded as they happen, with the JSON Pointer of that moment
(RFC 6901), so a list ``pop(0)`` is one ``remove`` op, not a rewrite of every
shifted index; repeated writes to one place are folded into one op. A change
to a draft that is in several places (stored at a second place while still
attached) is recorded once per place: JSON cannot alias, so the patch repeats it.
"""

from __future__ import annotations

from typing import Any

from hotstate_rx.draft.dict_draft import DictDraft  # noqa: F401  (defining it fills KIND)
from hotstate_rx.draft.list_draft import ListDraft  # noqa: F401  (defining it fills KIND)
from hotstate_rx.draft.node import KIND, NO_VALUE, Draft, kind_of
from hotstate_rx.patch import PatchOp
from hotstate_rx.pointer import escape_token


class DraftSession:
    """One recipe's worth of drafting: ``draft`` to mutate, then ``finish()`` or ``discard()``.

    ``with store.mutate() as d:`` is built on this; :func:`~hotstate_rx.draft.produce`
    is its one-call form.
    """

    __slots__ = ("_barrier", "_base", "_live", "_ops", "_root", "_shared", "draft")

    def __init__(self, state: Any) -> None:
        self._base = state
        self._live = True
        # Ops as recorded; folded-away ops become None (indices must stay stable).
        self._ops: list[PatchOp | None] = []
        # Ops before this index may no longer be folded into: paths shifted since.
        self._barrier = 0
        # Some draft has had several places: walk every attachment, not just _parent.
        self._shared = False
        kind = KIND[type(state)] if type(state) in KIND else kind_of(state)
        root: Draft | None = None if kind is None else kind(self, None, None, state)
        self._root = root
        self.draft: Any = state if root is None else root

    def finish(self) -> tuple[Any, list[PatchOp]]:
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

    # -- recording -------------------------------------------------------------

    def _record(
        self, draft: Draft, key: Any, op: str, value: Any = NO_VALUE, token: Any = None
    ) -> None:
        """Record ``op`` at ``key``, folding it into the slot's previous op when that is safe.

        Folding is safe when no op since then shifted paths (the barrier) and
        nothing was written below the slot (handing out a child draft forgets
        the slot). For lists a ``remove`` folds only into the very last op,
        because later ops may depend on the index it frees. A slot is
        remembered for folding only when its op went to one place; attaching
        and detaching set the barrier, so the places have not changed since.
        """
        ops: list[Any] = self._ops
        last = draft._last
        if last is not None:
            j = last.get(key, -1)
            if j >= self._barrier:
                prev = ops[j]
                if op != "remove":
                    if prev["op"] == "remove":
                        prev["op"] = "replace"
                    prev["value"] = value
                    return
                if draft._stable_slots or j == len(ops) - 1:
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
        if self._shared:
            self._record_everywhere(draft, key, op, value, path)
            return
        d = draft
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
        if d is not self._root:
            return
        ops.append(
            {"op": op, "path": path}
            if value is NO_VALUE
            else {"op": op, "path": path, "value": value}
        )
        if last is None:
            draft._last = {key: len(ops) - 1}
        else:
            last[key] = len(ops) - 1

    def _record_everywhere(self, draft: Draft, key: Any, op: str, value: Any, tail: str) -> None:
        """``_record``'s second half when drafts may be in several places: an op per place."""
        ops: list[Any] = self._ops
        paths = draft._paths()
        for path in paths:
            ops.append(
                {"op": op, "path": path + tail}
                if value is NO_VALUE
                else {"op": op, "path": path + tail, "value": value}
            )
        last = draft._last
        if len(paths) == 1:
            if last is None:
                draft._last = {key: len(ops) - 1}
            else:
                last[key] = len(ops) - 1
        elif last:
            last.pop(key, None)

    def _record_whole(self, draft: Draft, value: Any) -> None:
        """Record a ``replace`` of ``draft``'s whole container (clear, sort, reverse)."""
        for path in draft._paths():
            self._ops.append({"op": "replace", "path": path, "value": value})
        self._barrier = len(self._ops)
