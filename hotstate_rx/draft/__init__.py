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
* **A recipe may return the new state**, as in Immer: ``None`` or the draft
  itself means "use the draft"; any other value is validated and frozen
  (``TypeError`` naming what is not JSON) and replaces the state, with the
  patch ``[{"op": "replace", "path": "", "value": new}]`` (``[]`` if it is the
  state itself). This is how a scalar root changes:
  ``produce(5, lambda n: n + 1) == (6, [{"op": "replace", "path": "", "value": 6}])``
  (a recipe gets a ``str``/number/``None`` root as itself). Changing the
  draft (even if undone later) *and* returning a value raises ``ValueError``
  and changes nothing.
  Mind the lambdas: ``lambda d: d["items"].pop()`` returns what it popped.

Layout: :mod:`hotstate_rx.draft.node` is the engine's core (copy-on-write,
places, recording ops) and states the internal interface the other modules
share; :mod:`hotstate_rx.draft.dict_draft` and :mod:`hotstate_rx.draft.list_draft`
are the ``dict`` and ``list`` surfaces; :mod:`hotstate_rx.draft.session` runs one
recipe (the op log, ``finish``/``discard``). This module wires them: the
:func:`~hotstate_rx.draft.node.register` calls below say which draft class
stands for which value type. The README's "Drafts and patches" section shows
the whole round trip.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hotstate_rx.draft.dict_draft import DictDraft
from hotstate_rx.draft.list_draft import ListDraft
from hotstate_rx.draft.node import Draft, plain, register
from hotstate_rx.draft.session import DraftSession
from hotstate_rx.frozen import FrozenDict, FrozenList, freeze
from hotstate_rx.patch import PatchOp, apply_patches

register(DictDraft, FrozenDict, dict)
register(ListDraft, FrozenList, list)


def produce(state: Any, recipe: Callable[[Any], object]) -> tuple[Any, list[PatchOp]]:
    """Run ``recipe(draft)`` and return ``(new_state, patches)``.

    ``state`` is never mutated. If the recipe raises, nothing changes and the
    exception propagates. If it returns something other than ``None`` or the
    draft, that is the new state (see "A recipe may return the new state" above).
    """
    session = DraftSession(state)
    try:
        returned = recipe(session.draft)
    except BaseException:
        session.discard()
        raise
    return session.finish(returned)


def current(value: Any) -> Any:
    """The current value of a draft as frozen data (other values are frozen as they are)."""
    return freeze(plain(value))


__all__ = [
    "DictDraft",
    "Draft",
    "DraftSession",
    "ListDraft",
    "PatchOp",
    "apply_patches",
    "current",
    "produce",
]
