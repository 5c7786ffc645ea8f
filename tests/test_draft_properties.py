"""Random mutation scripts run on plain Python data and on drafts must agree.

Each example draws a JSON state and a script of operations (dict and list
methods, slices, sorts, moves between containers, value copies, mutations of
detached drafts). The same script runs on a deep copy with plain ``dict``/
``list`` and inside ``produce``. Then: same values; the patches rebuild the new
state from the old one with our ``apply_patches`` and with ``jsonpatch``; the
input was not mutated; and every original container the script did not touch
is, by identity, in the new state.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonpatch
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
        self.dirty: set[int] = set()  # plain containers the script changed
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
        kind = self.draw(st.sampled_from(["own", "own", "own", "move", "copy", "detach"]))
        if kind == "move" and len(p):
            self.move(root, chain, p, d)
        elif kind == "copy":
            self.copy(root, p, d)
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
        op = self.draw(st.sampled_from(
            ["set", "set", "del", "pop", "setdefault", "update", "clear", "popitem", "iter", "ior"]
        ))
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
        op = self.draw(st.sampled_from([
            "set", "del", "append", "insert", "pop", "remove", "extend", "iadd", "imul",
            "clear", "reverse", "sort", "slice", "delslice", "iter",
        ]))
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
        elif op == "imul":
            times = self.draw(st.integers(0, 2))
            extra = [copy.deepcopy(p) for _ in range(times - 1)]
            if times == 0:
                p.clear()
            for e in extra:
                p.extend(e)
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
            s = slice(self.draw(bound), self.draw(bound), self.draw(st.none() | st.sampled_from(
                [1, 2, -1, -2]
            )))
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

    def move(self, root: Any, chain: list[Any], p: Any, d: Any) -> None:
        """Pop from one container, put it in another, then change it through the draft."""
        self.touch(chain)
        if isinstance(p, dict):
            k = self.draw(st.sampled_from(sorted(p)))
            x, dx = p.pop(k), d.pop(k)
        else:
            i = self.draw(st.integers(0, len(p) - 1))
            x, dx = p.pop(i), d.pop(i)
        tchain, t, dt = self.pick(root)
        self.touch(tchain)
        if isinstance(t, dict):
            k = self.draw(KEYS)
            t[k] = x
            dt[k] = dx
        else:
            i = self.draw(st.integers(-1, len(t)))
            t.insert(i, x)
            dt.insert(i, dx)
        if isinstance(x, dict | list) and self.draw(st.booleans()):
            self.touch([x])
            if isinstance(x, dict):
                x["moved"] = True
                dx["moved"] = True
            else:
                x.append("moved")
                dx.append("moved")

    def copy(self, root: Any, p: Any, d: Any) -> None:
        """Store an attached draft elsewhere (value semantics), then change the original."""
        value = copy.deepcopy(p)
        tchain, t, dt = self.pick(root)
        self.touch(tchain)
        if isinstance(t, dict):
            k = self.draw(KEYS)
            t[k] = value
            dt[k] = d
        else:
            t.append(value)
            dt.append(d)
        if self.draw(st.booleans()):
            chain = self.find_chain(p)
            if chain is not None:
                self.touch(chain)
                if isinstance(p, dict):
                    p["after"], d["after"] = 1, 1
                else:
                    p.append("after")
                    d.append("after")

    def find_chain(self, target: Any) -> list[Any] | None:
        def walk(node: Any, chain: list[Any]) -> list[Any] | None:
            if node is target:
                return chain
            children = node.values() if isinstance(node, dict) else node
            for c in children:
                if isinstance(c, dict | list):
                    found = walk(c, [*chain, c])
                    if found is not None:
                        return found
            return None

        return walk(self.plain, [self.plain])

    def detach(self, root: Any, chain: list[Any], keys: list[Any]) -> None:
        """Overwrite a container's slot, then mutate its old draft: no effect on the state."""
        self.touch(chain[:-1])
        dparent = root
        for k in keys[:-1]:
            dparent = dparent[k]
        dnode = dparent[keys[-1]]
        chain[-2][keys[-1]] = "replaced"
        dparent[keys[-1]] = "replaced"
        if isinstance(chain[-1], dict):
            dnode["ghost"] = 1
        else:
            dnode.append("ghost")


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


def check_sharing(plain: Any, new: Any, script: Script) -> None:
    if not isinstance(plain, dict | list):
        return
    if id(plain) in script.origin and id(plain) not in script.dirty:
        assert new is script.origin[id(plain)], f"unchanged subtree was copied: {plain!r}"
        return
    pairs = zip(plain.values(), new.values(), strict=True) if isinstance(plain, dict) else zip(
        plain, new, strict=True
    )
    for p, n in pairs:
        check_sharing(p, n, script)


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
    check_sharing(script.plain, new, script)
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
