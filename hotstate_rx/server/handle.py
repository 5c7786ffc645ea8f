"""Store handles: the user's API over the registry (pure: no asyncio, no I/O).

:class:`StoreHandle` is what ``create_store`` returns. Its methods keep the
original library's shape, with the key first for dynamic stores
(``h.update(fn)`` / ``h.update("general", fn)``), which no type checker can
follow. :class:`InstanceHandle` is the typed form of the same API, for one
instance and without a key (``h.instance()``, ``h.instance("general")`` or
``h["general"]``); the variadic methods are built on it, so both forms behave
identically. Every mutation is one registry transaction (lock held, created
and initialised on first use, notifications delivered after the lock is
released): see :meth:`StoreRegistry.using`.

In a cluster (``Server(cluster=...)``) another node may change an instance
between the read and the write of a mutation: ``update()``, ``set()``,
``assign()`` and ``reset()`` then run again on the new state (bounded:
:data:`~.store.CONFLICT_RETRIES`, then ``ClusterError``), while a
``mutate()`` block, which cannot run twice, raises ``ClusterConflict``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ..diff import diff
from ..draft import DraftSession, ListDraft, current, produce
from ..errors import ClusterConflict
from ..frozen import JSON, freeze
from ..patch import PatchOp
from ..pointer import parse_pointer
from .notify import ALL, WatchKey
from .store import Definition, InstanceRecord, Listener, StoreRegistry, checked_callable

if TYPE_CHECKING:
    import reactivex

__all__ = ["InstanceHandle", "Recipe", "StoreHandle"]

Recipe = Callable[[Any], object]
"""Mutates the draft it is given, or returns the new state (as in Immer)."""


class InstanceHandle:
    """One instance of a store (``"Todos"``, ``"Room:general"``), typed and key-less.

    A handle is a name, not a reference: it stays valid across ``delete()``
    (a later use creates the instance again, with ``on_create``)."""

    __slots__ = ("_definition", "_registry", "key", "name")

    def __init__(self, registry: StoreRegistry, definition: Definition, key: str | None) -> None:
        self._registry = registry
        self._definition = definition
        self.key = key
        """The key (``"general"``), None for a static store."""
        self.name = registry.full_name(definition, key)
        """The full instance name (``"Room:general"``)."""

    def __repr__(self) -> str:
        return f"<InstanceHandle {self.name!r}>"

    # -- mutations: each one transaction of the registry ----------------------

    def update(self, recipe: Recipe) -> None:
        """Mutate a draft of the state (or return a new state); subscribers get a JSON Patch.

        In a cluster the recipe may run more than once (another node changed
        the instance first): keep it free of side effects."""
        reg, definition = self._registry, self._definition
        for _ in reg.attempts(self.name):
            try:
                with reg.using(definition, self.key) as inst:
                    base = inst.version
                    state, patches = produce(inst.state, recipe)
                    if patches:
                        reg.commit(inst, base, state, patches)
            except ClusterConflict:
                continue
            return

    @contextmanager
    def mutate(self) -> Iterator[Any]:
        """``with h.mutate() as draft:``; an exception inside discards the change.

        The registry lock is held for the block, so keep it short and never
        ``await`` inside it. In a cluster, ``ClusterConflict`` when another
        node changed the instance meanwhile (nothing applied)."""
        reg = self._registry
        with reg.using(self._definition, self.key) as inst:
            base = inst.version
            session = DraftSession(inst.state)
            try:
                yield session.draft
            except BaseException:
                session.discard()
                raise
            state, patches = session.finish()
            if patches:
                reg.commit(inst, base, state, patches)

    def set(self, data: JSON) -> None:
        """Replace the whole state; subscribers get a snapshot."""
        state = freeze(data)
        reg, definition = self._registry, self._definition
        for _ in reg.attempts(self.name):
            try:
                with reg.using(definition, self.key) as inst:
                    reg.commit(inst, inst.version, state, None)
            except ClusterConflict:
                continue
            return

    def assign(self, data: JSON) -> None:
        """Make the state equal to ``data`` with the smallest patch (a snapshot
        when the root changes kind: a draft cannot replace its own root); for
        stores fed whole values."""
        value = freeze(data)
        root_changed = False

        def recipe(draft: Any) -> None:
            nonlocal root_changed
            _, patches = diff(current(draft), value)
            if patches and patches[0]["path"] == "":
                root_changed = True
            else:
                _apply_to_draft(draft, patches)

        self.update(recipe)
        if root_changed:
            self.set(value)

    def init(self) -> None:
        """Create eagerly, running ``on_create`` if not done yet."""
        with self._registry.using(self._definition, self.key):
            pass

    def reset(self) -> None:
        """``on_terminate``, then raw defaults, uninitialised (until the next use)."""
        reg = self._registry
        for _ in reg.attempts(self.name):
            try:
                with reg.transaction():
                    inst = self._find()
                    if inst is not None:
                        reg.reset(inst)
            except ClusterConflict:
                continue
            return

    def delete(self) -> None:
        """``on_terminate``, remove, tell subscribers (they get ``del``)."""
        self._registry.delete(self.name)

    # -- reads ------------------------------------------------------------------

    def get(self) -> JSON:
        """The current frozen state, raw defaults if uninitialised, None if the
        instance does not exist. Never runs ``on_create``."""
        inst = self._find()
        return None if inst is None else inst.state

    def has(self) -> bool:
        """The instance exists."""
        return self._find() is not None

    def is_initialized(self) -> bool:
        """``on_create`` has run since the last reset."""
        inst = self._find()
        return inst is not None and inst.initialized

    def subscriber_count(self) -> int:
        """Connected client subscriptions (in a cluster: on every live node)."""
        inst = self._find()
        here = 0 if inst is None else inst.subscribers
        elsewhere = self._registry.subscribers_elsewhere
        return here if elsewhere is None else here + elsewhere(self.name)

    def version(self) -> int | None:
        """The instance's version (None if it does not exist)."""
        inst = self._find()
        return None if inst is None else inst.version

    def snapshot(self) -> tuple[JSON, int] | None:
        """``(state, version)`` read atomically, or None if the instance is absent."""
        return self._registry.snapshot(self._definition, self.key)

    # -- streams ----------------------------------------------------------------

    def watch(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(Change | Removed)`` for every later change of this
        instance; see :meth:`StoreHandle.watch`."""
        return self._registry.watch(listener, self._definition.name, self.key)

    def observe(self) -> reactivex.Observable[Any]:
        """An Observable of the state; see :mod:`hotstate_rx.rx.observe`."""
        from ..rx.observe import observe

        return observe(self)

    def _find(self) -> InstanceRecord | None:
        return self._registry.find(self._definition, self.key)


class StoreHandle:
    """The handle :meth:`Server.create_store` returns.

    A static store's methods take no key (``h.update(fn)``); a dynamic
    store's take the key first (``h.update("general", fn)``). Each method is
    the :class:`InstanceHandle` method of the same name (``h.instance(key)``
    for the typed form). Hooks are chainable and receive the key (``None``
    for static stores)."""

    __slots__ = ("_registry", "_static", "definition")

    def __init__(self, registry: StoreRegistry, definition: Definition) -> None:
        self._registry = registry
        self.definition = definition
        self._static = None if self.dynamic else InstanceHandle(registry, definition, None)

    def __repr__(self) -> str:
        return f"<StoreHandle {self.name!r}>"

    @property
    def name(self) -> str:
        """The registered name: ``"Todos"`` or ``"Room:*"``."""
        return self.definition.name

    @property
    def dynamic(self) -> bool:
        """Whether instances are named by key (``"Room:*"``)."""
        return self.definition.prefix is not None

    def full_name(self, key: str | None = None) -> str:
        """The instance name for ``key``: ``"Room:general"`` (``"Todos"`` for static)."""
        return self._registry.full_name(self.definition, self._check_key(key, "full_name"))

    def instance(self, key: str | None = None) -> InstanceHandle:
        """The typed, key-less handle of one instance: ``h.instance()`` for a static
        store, ``h.instance("general")`` (or ``h["general"]``) for a dynamic one."""
        if self._static is not None:
            self._check_key(key, "instance")
            return self._static
        return InstanceHandle(self._registry, self.definition, self._check_key(key, "instance"))

    def __getitem__(self, key: str) -> InstanceHandle:
        if not self.dynamic:
            raise TypeError(f"{self.name!r} is a static store: use {self.name}.instance()")
        return self.instance(key)

    # -- hooks ----------------------------------------------------------------

    def on_create(self, fn: Callable[[str | None], dict[str, Any] | None]) -> StoreHandle:
        """Run on first use; the returned dict is merged (shallowly) over the defaults."""
        self.definition.on_create = checked_callable(fn, "on_create")
        return self

    def on_terminate(self, fn: Callable[[str | None], Any]) -> StoreHandle:
        """Run before ``reset()``/``delete()`` of an initialised instance (state still readable)."""
        self.definition.on_terminate = checked_callable(fn, "on_terminate")
        return self

    def on_idle(self, fn: Callable[[str | None], Any]) -> StoreHandle:
        """Run when the last client subscription of an instance ends."""
        self.definition.on_idle = checked_callable(fn, "on_idle")
        return self

    # -- the original's variadic API, over InstanceHandle ----------------------

    def update(self, *args: Any) -> None:
        """``update([key,] recipe)``: mutate a draft; subscribers get a JSON Patch."""
        instance, (recipe,) = self._split(args, 1, "update", "recipe")
        instance.update(recipe)

    @contextmanager
    def mutate(self, *args: Any) -> Iterator[Any]:
        """``with h.mutate([key]) as draft:``; an exception inside discards the change."""
        instance, () = self._split(args, 0, "mutate")
        with instance.mutate() as draft:
            yield draft

    def set(self, *args: Any) -> None:
        """``set([key,] data)``: replace the whole state; subscribers get a snapshot."""
        instance, (data,) = self._split(args, 1, "set", "data")
        instance.set(data)

    def init(self, *args: Any) -> None:
        """``init([key])``: create eagerly, running ``on_create`` if not done yet."""
        self._split(args, 0, "init")[0].init()

    def reset(self, *args: Any) -> None:
        """``reset([key])``: on_terminate, then raw defaults, uninitialised."""
        self._split(args, 0, "reset")[0].reset()

    def delete(self, *args: Any) -> None:
        """``delete([key])``: on_terminate, remove, tell subscribers (``del``)."""
        self._split(args, 0, "delete")[0].delete()

    def get(self, *args: Any) -> JSON:
        """``get([key])``: the current frozen state, raw defaults if uninitialised,
        ``None`` if the instance does not exist. Never triggers ``on_create``."""
        return self._split(args, 0, "get")[0].get()

    def has(self, *args: Any) -> bool:
        """``has([key])``: the instance exists."""
        return self._split(args, 0, "has")[0].has()

    def is_initialized(self, *args: Any) -> bool:
        """``is_initialized([key])``: on_create has run since the last reset."""
        return self._split(args, 0, "is_initialized")[0].is_initialized()

    def subscriber_count(self, *args: Any) -> int:
        """``subscriber_count([key])``: connected client subscriptions."""
        return self._split(args, 0, "subscriber_count")[0].subscriber_count()

    def version(self, *args: Any) -> int | None:
        """``version([key])``: the instance's version (None if it does not exist)."""
        return self._split(args, 0, "version")[0].version()

    def observe(self, *args: Any) -> reactivex.Observable[Any]:
        """``observe([key])``: an Observable of the state; see :mod:`hotstate_rx.rx.observe`."""
        return self._split(args, 0, "observe")[0].observe()

    def watch(self, listener: Listener, key: WatchKey = ALL) -> Callable[[], None]:
        """Call ``listener(Change | Removed)`` for every later change of this store's
        instances (``key=ALL``) or of one instance; returns the function that stops it.

        Listeners run in mutation order: on the server's event loop once it runs
        one (marshalled from other threads), else synchronously in the mutating
        thread. A listener may mutate stores; its changes are delivered after
        the current one. Exceptions are logged and swallowed."""
        if key is not ALL:
            key = self._check_key(key, "watch")
        return self._registry.watch(listener, self.name, key)

    # -- argument checks ------------------------------------------------------------

    def _check_key(self, key: object, method: str) -> str | None:
        if not self.dynamic:
            if key is not None:
                raise TypeError(f"{self.name!r} is a static store: call {method}() without a key")
            return None
        if not isinstance(key, str) or not key:
            raise TypeError(
                f"{self.name!r} is a dynamic store: {method}() needs a non-empty str key first, "
                f"got {key!r}"
            )
        return key

    def _split(
        self, args: tuple[Any, ...], n: int, method: str, what: str = ""
    ) -> tuple[InstanceHandle, tuple[Any, ...]]:
        """``(instance, rest)`` from ``([key,] *rest)``, checking the count and the key."""
        if self._static is not None and len(args) == n:
            return self._static, args
        if self.dynamic and len(args) == n + 1:
            key = self._check_key(args[0], method)
            return InstanceHandle(self._registry, self.definition, key), args[1:]
        shape = ", ".join(filter(None, ["key" if self.dynamic else "", what]))
        kind = "dynamic" if self.dynamic else "static"
        raise TypeError(
            f"{self.name!r} is a {kind} store: call {method}({shape}), got {len(args)} argument(s)"
        )


def _apply_to_draft(draft: Any, patches: list[PatchOp]) -> None:
    """Replay ``add``/``remove``/``replace`` operations on a draft, so that the
    store's own draft machinery records them and shares what they leave alone."""
    for op in patches:
        *parents, last = parse_pointer(op["path"])
        target = draft
        for token in parents:
            target = target[_slot(target, token)]
        slot = _slot(target, last)
        if op["op"] == "remove":
            del target[slot]
        elif op["op"] == "add" and isinstance(target, ListDraft):
            target.insert(slot, op["value"])
        else:
            target[slot] = op["value"]


def _slot(container: Any, token: str) -> Any:
    return int(token) if isinstance(container, ListDraft) else token
