"""A draft session: one recipe's drafting, from the root draft to the new state and its patches.

The session owns what its drafts share: whether the recipe is still running
(``live``), the root draft, and the op log (``ops``, ``barrier``, ``shared``)
that the drafts append to by the rules of :meth:`Draft._record
<hotstate_rx.draft.node.Draft._record>`. A change to a draft that is in several
places (stored at a second place while still attached) is recorded once per
place: JSON cannot alias, so the patch repeats it.

``finish`` also takes what the recipe returned, as Immer does: ``None`` or the
draft itself means "the draft is the new state"; any other value *is* the new
state, and the patch is one ``replace`` of the root (path ``""``, RFC 6901).
"""

from __future__ import annotations

from typing import Any

from hotstate_rx.draft.node import KIND, Draft, kind_of, unchanged
from hotstate_rx.frozen import freeze
from hotstate_rx.patch import PatchOp


class DraftSession:
    """One recipe's worth of drafting: ``draft`` to mutate, then ``finish()`` or ``discard()``.

    ``with store.mutate() as d:`` is built on this; :func:`~hotstate_rx.draft.produce`
    is its one-call form, ``finish(recipe(draft))``. Those three are for users;
    ``live``, ``root``, ``ops``, ``barrier`` and ``shared`` are the state its
    drafts share (the engine's internal interface, in :mod:`hotstate_rx.draft.node`).
    """

    __slots__ = ("_base", "barrier", "draft", "live", "ops", "root", "shared")

    def __init__(self, state: Any) -> None:
        self._base = state
        self.live = True
        # Ops as recorded; folded-away ops become None (indices must stay stable).
        self.ops: list[PatchOp | None] = []
        # Ops before this index may no longer be folded into: paths shifted since.
        self.barrier = 0
        # Some draft has had several places: walk every attachment, not just _parent.
        self.shared = False
        kind = KIND[type(state)] if type(state) in KIND else kind_of(state)
        root: Draft | None = None if kind is None else kind(self, None, None, state)
        self.root = root
        self.draft: Any = state if root is None else root

    def finish(self, returned: Any = None) -> tuple[Any, list[PatchOp]]:
        """End the session: the new state and its patches (the same state and ``[]`` if unchanged).

        ``returned`` is what the recipe returned. ``None`` or the draft itself
        means the draft's changes. Any other value replaces the state: it is
        validated and frozen (``TypeError`` naming what is not JSON), and the
        patch is ``[{"op": "replace", "path": "", "value": new}]``, or ``[]``
        when it is the state itself. A recipe that changed its draft *and*
        returned a value raises ``ValueError`` (which one was meant?), even if
        the change was undone later. On either error the session is discarded
        and the state stays as it was.
        """
        if not self.live:
            raise RuntimeError("draft session already ended")
        if returned is not None and returned is not self.draft:
            return self._replace_root(returned)
        self.live = False
        root = self.root
        if root is None:
            return self._base, []
        new = root._finalize()
        ops = self.ops
        if None in ops:
            ops = [op for op in ops if op is not None]
        if not ops:
            return self._base, []
        return new, ops  # type: ignore[return-value]

    def discard(self) -> None:
        """End the session without a result; the drafts are revoked. Idempotent."""
        if self.live:
            self.live = False
            if self.root is not None:
                self.root._finalize()

    def _replace_root(self, returned: Any) -> tuple[Any, list[PatchOp]]:
        """``finish`` for a recipe that returned a new state."""
        try:
            if self.ops:
                raise ValueError(
                    "the recipe changed its draft and also returned a new state (of type "
                    f"{type(returned).__name__}): do one or the other; mind that a lambda "
                    "returns its expression's value"
                )
            new = freeze(returned)  # while live: a draft in it stands for its current value
        finally:
            self.discard()
        if unchanged(self._base, new):
            return self._base, []
        return new, [{"op": "replace", "path": "", "value": new}]


__all__ = ["DraftSession"]
