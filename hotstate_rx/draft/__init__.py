"""Drafts: mutate a stand-in for an immutable state, get the new state and its JSON PatchOp.

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
* **A draft is one object, as in Python.** Storing a draft that is still in
  the tree at a second place (``d["b"] = d["a"]``, ``d["l"].append(d["a"])``)
  puts that same draft there: for the rest of the recipe a change through
  either reference shows at both places, the patches repeat it at every place
  (each op at the path of that moment, since JSON cannot alias), and the new
  state holds one frozen object at both places. Removing one place (``del``,
  ``pop``, overwrite, ``remove``, slices, ``clear``) leaves the others live;
  ``pop``/``popitem`` return the draft itself.
* **A removed draft moves.** Storing a draft that is in no place any more
  (``done.append(items.pop(0))``) moves it there, and later mutations through
  it land at its new place.
* **Detached drafts are scratch values.** A draft whose every place was
  overwritten or deleted keeps working, but its mutations touch neither the
  state nor the patches unless it is stored again (then it moves, as above).
* **No cycles.** Storing a draft inside itself or one of its own descendants
  (``d["a"]["self"] = d["a"]``, ``d["a"]["kids"].append(d)``) raises
  ``ValueError`` naming the path, and the state is left unchanged.
* **Revocation.** Once the recipe has ended, any use of its drafts raises
  ``RuntimeError("draft used after its recipe ended")``.
* **Reads give current values.** ``==``, ``in``, ``index``, ``sort`` keys and
  ``repr`` see the current frozen values; ``sort`` and ``reverse`` emit one
  ``replace`` of the list. ``keys()`` is a view of the keys at call time;
  ``values()``/``items()`` are lists (of drafts, for containers).
* **Scalar roots.** A recipe gets a ``str``/number/``None`` root as itself and
  cannot change it; ``produce`` returns it unchanged with ``[]``.

Layout: the session and its op log in :mod:`hotstate_rx.draft.session`, the
shared copy-on-write machinery in :mod:`hotstate_rx.draft.node`, the dict and
list surfaces in :mod:`hotstate_rx.draft.dict_draft` and :mod:`hotstate_rx.draft.list_draft`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hotstate_rx.draft.dict_draft import DictDraft
from hotstate_rx.draft.list_draft import ListDraft
from hotstate_rx.draft.node import Draft
from hotstate_rx.draft.session import DraftSession, PatchOp
from hotstate_rx.frozen import freeze
from hotstate_rx.patch import apply_patches


def produce(state: Any, recipe: Callable[[Any], object]) -> tuple[Any, list[PatchOp]]:
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


__all__ = [
    "DictDraft",
    "Draft",
    "DraftSession",
    "ListDraft",
    "apply_patches",
    "current",
    "produce",
]
