"""Draft and patch costs against a hand-written copy-on-write and the naive approach.

Run: ``.venv/bin/python -m tests.benchmarks.bench_draft`` (about 20 s). For
states ``{"items": [{"id", "text", "done"}, ...]}`` of 10, 1,000 and 100,000
items, and the operations "toggle one field" and "append one item", prints a
Markdown table of µs per op for ``produce``, ``apply_patches``, a hand-written
copy-on-write of the same path that gives what ``produce`` gives (frozen
containers and the patch: the pure-Python floor for this job), the same copy
with bare ``dict``/``list`` and no patch (for reference), and
``copy.deepcopy`` + ``jsonpatch.make_patch`` / ``jsonpatch.apply_patch``.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import Any

import jsonpatch

from hotstate_rx.draft import apply_patches, produce
from hotstate_rx.frozen import FrozenDict, FrozenList, freeze

SIZES = (10, 1_000, 100_000)
BUDGET = 0.4  # seconds per measurement


def per_op(fn: Callable[[], object], budget: float = BUDGET) -> float:
    """Best-of-batches µs per call, running batches for about ``budget`` seconds."""
    fn()
    n, best, spent = 1, float("inf"), 0.0
    while spent < budget:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        dt = time.perf_counter() - t0
        spent += dt
        best = min(best, dt / n)
        if dt < 0.02:
            n *= 4
    return best * 1e6


def toggle(n: int) -> Callable[[Any], None]:
    def recipe(d: Any) -> None:
        item = d["items"][n // 2]
        item["done"] = not item["done"]

    return recipe


def toggle_by_hand(state: Any, n: int) -> Any:
    i = n // 2
    items = FrozenList(state["items"])
    item = FrozenDict(items[i])
    done = not item["done"]
    dict.__setitem__(item, "done", done)
    list.__setitem__(items, i, item)
    root = FrozenDict(state)
    dict.__setitem__(root, "items", items)
    return root, [{"op": "replace", "path": f"/items/{i}/done", "value": done}]


def toggle_bare(state: Any, n: int) -> Any:
    items = list(state["items"])
    item = dict(items[n // 2])
    item["done"] = not item["done"]
    items[n // 2] = item
    root = dict(state)
    root["items"] = items
    return root


NEW = {"id": -1, "text": "a new item", "done": False}


def append(d: Any) -> None:
    d["items"].append(NEW)


def append_by_hand(state: Any, n: int) -> Any:
    items = FrozenList(state["items"])
    new = freeze(NEW)
    list.append(items, new)
    root = FrozenDict(state)
    dict.__setitem__(root, "items", items)
    return root, [{"op": "add", "path": "/items/-", "value": new}]


def append_bare(state: Any, n: int) -> Any:
    items = list(state["items"])
    items.append(dict(NEW))
    root = dict(state)
    root["items"] = items
    return root


Maker = Callable[[int], Callable[[Any], None]]
ByHand = Callable[[Any, int], Any]
OPS: dict[str, tuple[Maker, ByHand, ByHand]] = {
    "toggle one field": (toggle, toggle_by_hand, toggle_bare),
    "append one item": (lambda n: append, append_by_hand, append_bare),
}


def measure(n: int, name: str) -> dict[str, float]:
    make_recipe, by_hand, bare = OPS[name]
    state = freeze({"items": [{"id": i, "text": f"item {i}", "done": False} for i in range(n)]})
    plain = copy.deepcopy(state)
    recipe = make_recipe(n)
    new, patches = produce(state, recipe)
    assert apply_patches(state, patches) == new == bare(state, n)
    assert (new, patches) == by_hand(state, n)
    naive_budget = BUDGET if n < 100_000 else 0.05  # one naive op takes ~0.5 s there

    def naive_produce() -> object:
        draft = copy.deepcopy(plain)
        recipe(draft)
        return jsonpatch.make_patch(plain, draft)

    return {
        "produce": per_op(lambda: produce(state, recipe)),
        "apply": per_op(lambda: apply_patches(state, patches)),
        "hand": per_op(lambda: by_hand(state, n)),
        "bare": per_op(lambda: bare(state, n)),
        "naive_produce": per_op(naive_produce, naive_budget),
        "naive_apply": per_op(lambda: jsonpatch.apply_patch(plain, patches), naive_budget),
    }


def main() -> None:
    print(
        "| items | operation | produce µs | apply µs | hand-written µs | bare copy µs "
        "| produce / hand "
        "| apply / hand | naive produce µs | naive apply µs | naive / produce "
        "| naive / apply |"
    )
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for n in SIZES:
        for name in OPS:
            r = measure(n, name)
            print(
                f"| {n:,} | {name} | {r['produce']:.2f} | {r['apply']:.2f} | {r['hand']:.2f} "
                f"| {r['bare']:.2f} "
                f"| {r['produce'] / r['hand']:.1f}x | {r['apply'] / r['hand']:.1f}x "
                f"| {r['naive_produce']:,.0f} | {r['naive_apply']:,.0f} "
                f"| {r['naive_produce'] / r['produce']:,.0f}x "
                f"| {r['naive_apply'] / r['apply']:,.0f}x |",
                flush=True,
            )


if __name__ == "__main__":
    main()
