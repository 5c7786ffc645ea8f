"""Random mutation scripts run on plain Python data and on drafts must agree.

Each example draws a JSON state and a script of operations (dict and list
methods, slices, sorts, moves between containers, a container stored at a
second place while still attached and changed afterwards, mutations of
detached drafts). The same script runs on a deep copy with plain ``dict``/
``list`` and inside ``produce``; the plain side is the reference, Python's own
semantics: a container stored at a second place is one object in both places.
Then: same values; the patches rebuild the new state from the old one with our
``apply_patches`` and with ``jsonpatch``; the input was not mutated; every
original container under which the script changed nothing is, by identity, in
the new state; and a container that is in several places is one object there.
A store that would put a container inside itself raises ``ValueError`` and
changes nothing (the plain side skips it).
"""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonpatch
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from hotstate_rx.draft import apply_patches, current, produce
from hotstate_rx.frozen import freeze, thaw

KEYS = st.sampled_from(["a", "b", "c", "a/b", "m~n", "", "0", "1"])
SCALARS = st.none() | st.booleans() | st.integers(-3, 3) | st.floats(-2, 2) | st.text(max_size=2)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=12,
)
ROOTS = st.lists(JSON, max_size=5) | st.dictionaries(KEYS, JSON, max_size=5)


def canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


class Script:
    """Runs drawn operations on the plain copy and the draft side by side."""

    def __init__(self, data: st.DataObject, plain: Any, origin: dict[int, Any]) -> None:
        self.data = data
        self.plain = plain
        self.origin = origin  # id(plain container) -> the original container it copies
        self.dirty: set[int] = set()  # plain containers the script changed (not their parents)
        self.alive: list[Any] = []  # keep plain objects alive so ids stay unique

    def draw(self, strategy: st.SearchStrategy[Any]) -> Any:
        return self.data.draw(strategy)

    def pick(self, root_draft: Any) -> tuple[list[Any], Any, Any]:
        """A random container: its plain chain (root first), plain node and draft."""
        chain, node, draft = [self.plain], self.plain, root_draft
        self.keys: list[Any] = []
        while self.draw(st.booleans()):
            slots = list(node.items()) if isinstance(node, dict) else list(enumerate(node))
            slots = [(k, v) for k, v in slots if isinstance(v, dict | list)]
            if not slots:
                break
            k, node = self.draw(st.sampled_from(slots))
            draft = draft[k]
            chain.append(node)
            self.keys.append(k)
        return chain, node, draft

    def touch(self, chain: list[Any]) -> None:
        self.dirty.update(id(c) for c in chain)
        self.alive.extend(chain)

    def step(self, root: Any) -> None:
        chain, p, d = self.pick(root)
        kind = self.draw(st.sampled_from(["own", "own", "own", "move", "alias", "alias", "detach"]))
        if kind == "move" and len(p):
            self.move(root, chain, p, d)
        elif kind == "alias":
            slots = list(p.items()) if isinstance(p, dict) else list(enumerate(p))
            slots = [(k, v) for k, v in slots if isinstance(v, dict | list)]
            if len(chain) == 1 and slots and self.draw(st.integers(0, 3)):  # mostly not the root
                k, p = self.draw(st.sampled_from(slots))
                d = d[k]
            self.alias(root, p, d)
        elif kind == "detach" and len(chain) > 1:
            self.detach(root, chain, self.keys)
        else:
            self.touch(chain)
            (self.dict_op if isinstance(p, dict) else self.list_op)(p, d)

    def value(self) -> Any:
        v = self.draw(JSON)
        return v, copy.deepcopy(v)

    def dict_op(self, p: dict[str, Any], d: Any) -> None:
        existing = st.sampled_from(sorted(p)) if p else KEYS
        op = self.draw(
            st.sampled_from(
                [
                    "set",
                    "set",
                    "del",
                    "pop",
                    "setdefault",
                    "update",
                    "clear",
                    "popitem",
                    "iter",
                    "ior",
                ]
            )
        )
        if op == "set":
            k = self.draw(existing | KEYS)
            v, w = self.value()
            p[k], d[k] = v, w
        elif op == "del" and p:
            k = self.draw(existing)
            del p[k], d[k]
        elif op == "pop":
            k = self.draw(existing | KEYS)
            assert canon(p.pop(k, "gone")) == canon(current(d.pop(k, "gone")))
        elif op == "setdefault":
            k = self.draw(KEYS)
            v, w = self.value()
            assert canon(p.setdefault(k, v)) == canon(current(d.setdefault(k, w)))
        elif op in ("update", "ior"):
            v = self.draw(st.dictionaries(KEYS, JSON, max_size=3))
            p.update(v)
            if op == "update":
                d.update(copy.deepcopy(v))
            else:
                d |= copy.deepcopy(v)
        elif op == "clear":
            p.clear()
            d.clear()
        elif op == "popitem" and p:
            dk, dv = d.popitem()
            assert canon(p.popitem()) == canon([dk, current(dv)])
        elif op == "iter":
            for (k, pv), (k2, dv) in zip(p.items(), d.items(), strict=True):
                assert k == k2
                if isinstance(pv, dict):
                    self.touch([pv])
                    pv["z"] = k
                    dv["z"] = k

    def list_op(self, p: list[Any], d: Any) -> None:
        n = len(p)
        op = self.draw(
            st.sampled_from(
                [
                    "set",
                    "del",
                    "append",
                    "insert",
                    "pop",
                    "remove",
                    "extend",
                    "iadd",
                    "imul",
                    "clear",
                    "reverse",
                    "sort",
                    "slice",
                    "delslice",
                    "iter",
                ]
            )
        )
        index = st.integers(-n, n - 1)
        if op == "set" and n:
            i = self.draw(index)
            v, w = self.value()
            p[i], d[i] = v, w
        elif op == "del" and n:
            i = self.draw(index)
            del p[i], d[i]
        elif op == "append":
            v, w = self.value()
            p.append(v)
            d.append(w)
        elif op == "insert":
            i = self.draw(st.integers(-n - 2, n + 2))
            v, w = self.value()
            p.insert(i, v)
            d.insert(i, w)
        elif op == "pop" and n:
            i = self.draw(index)
            assert canon(p.pop(i)) == canon(current(d.pop(i)))
        elif op == "remove" and n:
            v = copy.deepcopy(self.draw(st.sampled_from(p)))
            p.remove(v)
            d.remove(v)
        elif op in ("extend", "iadd"):
            v = self.draw(st.lists(JSON, max_size=3))
            if op == "extend":
                p.extend(v)
                d.extend(copy.deepcopy(v))
            else:
                p += v
                d += copy.deepcopy(v)
        elif op == "imul":  # repeats references: the containers in p are aliased
            times = self.draw(st.integers(0, 2))
            p *= times
            d *= times
        elif op == "clear":
            p.clear()
            d.clear()
        elif op == "reverse":
            p.reverse()
            d.reverse()
        elif op == "sort":
            rev = self.draw(st.booleans())
            p.sort(key=canon, reverse=rev)
            d.sort(key=canon, reverse=rev)
        elif op in ("slice", "delslice"):
            bound = st.none() | st.integers(-n - 1, n + 1)
            s = slice(
                self.draw(bound),
                self.draw(bound),
                self.draw(st.none() | st.sampled_from([1, 2, -1, -2])),
            )
            if op == "delslice":
                del p[s], d[s]
                return
            size = len(range(*s.indices(n)))
            if s.step not in (None, 1):
                v = self.draw(st.lists(JSON, min_size=size, max_size=size))
            elif self.draw(st.booleans()):  # a filter: keep some elements, as drafts
                keep = [self.draw(st.booleans()) for _ in range(size)]
                sel = range(*s.indices(n))
                p[s] = [p[i] for i, k in zip(sel, keep, strict=True) if k]
                d[s] = [d[i] for i, k in zip(sel, keep, strict=True) if k]
                return
            else:
                v = self.draw(st.lists(JSON, max_size=4))
            p[s] = v
            d[s] = copy.deepcopy(v)
        elif op == "iter":
            for pv, dv in zip(p, d, strict=True):
                if isinstance(pv, list):
                    self.touch([pv])
                    pv.append(0)
                    dv.append(0)

    def store(self, tchain: list[Any], t: Any, dt: Any, x: Any, dx: Any) -> Any:
        """Store ``x`` in ``t`` (and ``dx`` in ``dt``); the draft now in that slot, or None.

        When ``t`` is ``x`` or inside it, plain Python would make a cycle: the
        draft refuses with ``ValueError`` and changes nothing, the plain side skips.
        """
        if isinstance(t, dict):
            k = self.draw(KEYS)
        else:
            n = len(t)
            k = self.draw(st.integers(-n - 1, n))
        if contains(x, t):
            event("store refused: a cycle")
            with pytest.raises(ValueError, match="cannot store a draft inside itself at /"):
                if isinstance(t, dict):
                    dt[k] = dx
                else:
                    dt.insert(k, dx)
            return None
        self.touch(tchain)
        if isinstance(t, dict):
            t[k] = x
            dt[k] = dx
            return dt[k]
        t.insert(k, x)
        dt.insert(k, dx)
        return dt[min(max(k + n if k < 0 else k, 0), n)]

    def move(self, root: Any, chain: list[Any], p: Any, d: Any) -> None:
        """Pop from one container, put it in another, then change it through the draft.

        The popped container may still be in another place (aliased before):
        then it stays live there too, as in Python.
        """
        self.touch(chain)
        if isinstance(p, dict):
            k = self.draw(st.sampled_from(sorted(p)))
            x, dx = p.pop(k), d.pop(k)
        else:
            i = self.draw(st.integers(0, len(p) - 1))
            x, dx = p.pop(i), d.pop(i)
        tchain, t, dt = self.pick(root)
        self.store(tchain, t, dt, x, dx)
        if isinstance(x, dict | list) and self.draw(st.booleans()):
            self.touch([x])
            if isinstance(x, dict):
                x["moved"] = True
                dx["moved"] = True
            else:
                x.append("moved")
                dx.append("moved")

    def alias(self, root: Any, p: Any, d: Any) -> None:
        """Store an attached container at a second place: one object in both places.

        Then change it through the old place, the new one, or a path found
        afresh from the root, or change something inside it (later steps may
        also reach it by either path, remove one place, or store it again).
        """
        tchain, t, dt = self.pick(root)
        there = self.store(tchain, t, dt, p, d)
        if there is None:
            return
        assert there is d, "the draft stored at a second place is not the same draft"
        how = self.draw(st.sampled_from(["none", "old", "new", "path", "inside"]))
        event("aliased")
        if how == "none":
            return
        target, dtarget = p, d
        if how == "new":
            dtarget = there
        elif how == "path":
            keys = self.find_keys(p)
            if keys is None:  # no longer in the state (overwritten by the store)
                return
            dtarget = root
            for k in keys:
                dtarget = dtarget[k]
            assert dtarget is d
        elif how == "inside":
            slots = list(p.items()) if isinstance(p, dict) else list(enumerate(p))
            slots = [(k, v) for k, v in slots if isinstance(v, dict | list)]
            if not slots:
                return
            k, target = self.draw(st.sampled_from(slots))
            dtarget = d[k]
        self.touch([target])
        if isinstance(target, dict):
            target["after"], dtarget["after"] = 1, 1
        else:
            target.append("after")
            dtarget.append("after")

    def find_keys(self, target: Any) -> list[Any] | None:
        """The keys of one place of ``target`` in the plain state, or None."""

        def walk(node: Any, keys: list[Any]) -> list[Any] | None:
            if node is target:
                return keys
            slots = node.items() if isinstance(node, dict) else enumerate(node)
            for k, c in slots:
                if isinstance(c, dict | list):
                    found = walk(c, [*keys, k])
                    if found is not None:
                        return found
            return None

        return walk(self.plain, [])

    def detach(self, root: Any, chain: list[Any], keys: list[Any]) -> None:
        """Overwrite a container's slot, then mutate its old draft.

        No effect on the state, unless the container is in another place too.
        """
        self.touch(chain)
        dparent = root
        for k in keys[:-1]:
            dparent = dparent[k]
        dnode = dparent[keys[-1]]
        node = chain[-1]
        chain[-2][keys[-1]] = "replaced"
        dparent[keys[-1]] = "replaced"
        if isinstance(node, dict):
            node["ghost"] = dnode["ghost"] = 1
        else:
            node.append("ghost")
            dnode.append("ghost")


def contains(x: Any, t: Any) -> bool:
    """Whether ``t`` is ``x`` or somewhere inside it (by identity)."""
    if x is t:
        return True
    if isinstance(x, dict | list):
        return any(contains(c, t) for c in (x.values() if isinstance(x, dict) else x))
    return False


def plain_copy(value: Any, origin: dict[int, Any], alive: list[Any]) -> Any:
    if isinstance(value, dict):
        out: Any = {k: plain_copy(v, origin, alive) for k, v in value.items()}
    elif isinstance(value, list):
        out = [plain_copy(v, origin, alive) for v in value]
    else:
        return value
    origin[id(out)] = value
    alive.append(out)
    return out


def check_sharing(plain: Any, new: Any, script: Script, seen: dict[int, Any]) -> bool:
    """Check the sharing of the new state against the plain one; whether ``plain`` changed.

    An original container under which nothing changed (in any of its places)
    must be in the new state as itself; a plain container that is in several
    places must be one object in all of them.
    """
    if not isinstance(plain, dict | list):
        return False
    if id(plain) in seen:
        assert new is seen[id(plain)][0], f"one object in several places, not shared: {plain!r}"
        return bool(seen[id(plain)][1])
    pairs = (
        zip(plain.values(), new.values(), strict=True)
        if isinstance(plain, dict)
        else zip(plain, new, strict=True)
    )
    changed = id(plain) in script.dirty
    for p, n in pairs:
        changed = check_sharing(p, n, script, seen) or changed
    seen[id(plain)] = (new, changed)
    if id(plain) in script.origin and not changed:
        assert new is script.origin[id(plain)], f"unchanged subtree was copied: {plain!r}"
    return changed


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), ROOTS, st.booleans(), st.integers(1, 10))
def test_random_scripts_match_plain_python(
    data: st.DataObject, initial: Any, frozen: bool, steps: int
) -> None:
    state = freeze(initial) if frozen else initial
    before = canon(state)
    origin: dict[int, Any] = {}
    alive: list[Any] = []
    script = Script(data, plain_copy(state, origin, alive), origin)
    script.alive.extend(alive)

    def recipe(d: Any) -> None:
        for _ in range(steps):
            script.step(d)

    new, patches = produce(state, recipe)
    event(f"patches: {min(len(patches), 4)}{'+' if len(patches) >= 4 else ''}")
    assert canon(state) == before, "produce mutated its input"
    assert canon(new) == canon(script.plain)
    if not patches:
        assert new is state
    assert canon(apply_patches(state, patches)) == canon(new)
    assert canon(jsonpatch.apply_patch(thaw(state), patches)) == canon(new)
    assert canon(patches) == canon(json.loads(json.dumps(patches)))
    check_sharing(script.plain, new, script, {})
    assert canon(state) == before, "apply_patches mutated its input"


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(0, 3)), max_size=12))
def test_repeated_writes_fold_into_one_op_per_key(writes: list[Any]) -> None:
    state = freeze({"a": 0, "x": {"y": 1}})

    def recipe(d: Any) -> None:
        for k, v in writes:
            d[k] = v
            d["x"]["y"] += 1

    new, patches = produce(state, recipe)
    assert len(patches) <= len({k for k, _ in writes}) + 1
    assert canon(apply_patches(state, patches)) == canon(new)
