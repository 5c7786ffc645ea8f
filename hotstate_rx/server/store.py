"""Store definitions, instances and their lifecycle (pure: no asyncio, no I/O).

A :class:`StoreRegistry` owns every store of one server and the one
``threading.RLock`` that guards them, so mutations are safe from any thread.
Committed changes are announced as :class:`Change` / :class:`Removed` values
through an ordered queue (:mod:`hotstate_rx.server.notify`): whoever consumes them
(the server's fan-out, ``observe()``, the Rx layer) sees them in mutation
order. Lifecycle of one instance (as in the original's diagram)::

    first use (subscribe, update/mutate/set, init) -> on_create -> initialized
    reset()  -> on_terminate -> raw defaults, uninitialized -> next use: on_create again
    delete() -> on_terminate -> gone (watchers get Removed) -> next use: created again

States are deep-frozen (:mod:`hotstate_rx.frozen`), so the defaults are shared
by every instance without a copy and ``get()`` can be handed out safely.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, TypeVar

from ..draft import DraftSession, produce
from ..frozen import FrozenDict, freeze
from ..patch import PatchOp
from .notify import ALL, Notifier, Watch, WatchKey, guarded

if TYPE_CHECKING:
    import reactivex

__all__ = [
    "ALL",
    "Change",
    "Removed",
    "StoreEvent",
    "StoreHandle",
    "StoreRegistry",
    "parse_store_name",
]

Hook = Callable[[str | None], Any]
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Change:
    """One committed change of one instance.

    ``patches`` holds the RFC 6902 operations from the previous version, or is
    ``None`` for a snapshot (``set``, ``reset``, (re)creation)."""

    store: str
    key: str | None
    version: int
    state: Any
    patches: list[PatchOp] | None


@dataclass(frozen=True, slots=True)
class Removed:
    """The instance was deleted; a later use creates it again from scratch."""

    store: str
    key: str | None


StoreEvent = Change | Removed
Listener = Callable[[StoreEvent], None]


def parse_store_name(name: object) -> str | None:
    """Validate a registration name; return the prefix of a dynamic store
    (``"Room"`` for ``"Room:*"``) or ``None`` for a static one.

    Names are non-empty strings without whitespace or control characters; a
    ``*`` may only appear as the whole key of ``Prefix:*`` and the prefix of a
    dynamic store holds no ``:`` (so ``"Room:a:b"`` is key ``"a:b"``)."""
    if not isinstance(name, str):
        raise TypeError(f"a store name must be a str, not {type(name).__name__}")
    if not name or any(ch.isspace() or not ch.isprintable() for ch in name):
        raise ValueError(f"malformed store name {name!r}: empty, whitespace or control characters")
    if "*" not in name:
        return None
    prefix, sep, star = name.partition(":")
    if not sep or star != "*" or not prefix or "*" in prefix:
        raise ValueError(f"malformed store name {name!r}: a dynamic store is named 'Prefix:*'")
    return prefix


@dataclass(slots=True)
class _Definition:
    name: str
    prefix: str | None
    defaults: Any
    on_create: Hook | None = None
    on_terminate: Hook | None = None
    on_idle: Hook | None = None


@dataclass(slots=True, eq=False)
class _Instance:
    definition: _Definition
    name: str
    key: str | None
    state: Any
    version: int = 0
    initialized: bool = False
    creating: bool = False
    subscribers: int = 0


class StoreRegistry:
    """Every store of one server, their instances, and the change queue.

    :meth:`set_deliver` decides where queued notifications run: by default at
    once in the mutating thread; a server marshals them onto its loop."""

    def __init__(self) -> None:
        self.lock: Final = threading.RLock()
        self._notifier = Notifier(self.lock)
        self._handles: dict[str, StoreHandle] = {}
        self._static: dict[str, _Definition] = {}
        self._dynamic: dict[str, _Definition] = {}
        self._instances: dict[str, _Instance] = {}
        self._closers: list[Callable[[], None]] = []
        self.on_created: Callable[[str, str | None], None] | None = None
        self.on_deleted: Callable[[str], None] | None = None
        self.on_error: Callable[[Exception], None] | None = None

    # -- registration -----------------------------------------------------

    def create_store(self, name: str, data: Any) -> StoreHandle:
        """Register a store; see :meth:`hotstate_rx.Server.create_store`."""
        prefix = parse_store_name(name)
        defaults = freeze(data)
        with self.lock:
            if name in self._handles:
                raise ValueError(f"store {name!r} is already registered")
            if prefix is None:
                head = name.partition(":")[0]
                if ":" in name and head in self._dynamic:
                    raise ValueError(f"static store {name!r} clashes with dynamic {head + ':*'!r}")
            elif any(s.partition(":")[0] == prefix for s in self._static if ":" in s):
                raise ValueError(f"dynamic store {name!r} clashes with a static store")
            definition = _Definition(name, prefix, defaults)
            handle = StoreHandle(self, definition)
            self._handles[name] = handle
            if prefix is None:
                self._static[name] = definition
                self._announce(self._create(definition, None))
            else:
                self._dynamic[prefix] = definition
        self._notifier.deliver()
        return handle

    @property
    def handles(self) -> Mapping[str, StoreHandle]:
        return self._handles

    def resolve(self, full_name: str) -> tuple[StoreHandle, str | None] | None:
        """The handle and key serving an instance name, or None if no store does."""
        definition = self._static.get(full_name)
        if definition is not None:
            return self._handles[definition.name], None
        prefix, sep, key = full_name.partition(":")
        definition = self._dynamic.get(prefix) if sep and key else None
        if definition is None:
            return None
        return self._handles[definition.name], key

    def names(self) -> list[str]:
        """Full names of the instances that exist now."""
        with self.lock:
            return list(self._instances)

    def has(self, full_name: str) -> bool:
        """The instance ``full_name`` exists now."""
        return full_name in self._instances

    # -- notifications ----------------------------------------------------

    def set_deliver(self, deliver: Callable[[Callable[[], None]], None] | None) -> None:
        """Route queued notifications through ``deliver(flush)`` (None: run inline)."""
        self._notifier.set_deliver(deliver)

    def flush(self) -> None:
        """Run every queued notification now, in order, in this thread."""
        self._notifier.flush()

    def watch(
        self, listener: Listener, definition: str | None = None, key: WatchKey = ALL
    ) -> Callable[[], None]:
        """Call ``listener`` with every later change of the matching instances."""
        return self._notifier.add(Watch(_callable(listener, "listener"), definition, key))

    def schedule(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` where and when notifications run, after those queued now."""
        with self.lock:
            self._notifier.enqueue_call(fn, *args)
        self._notifier.deliver()

    def report(self, exc: Exception) -> None:
        """Hand an error from a background source (an Rx feed, say) to the owner's
        ``"error"`` event, ordered with the notifications."""
        if self.on_error is not None:
            self.schedule(self.on_error, exc)

    def on_close(self, fn: Callable[[], None]) -> Callable[[], None]:
        """Call ``fn`` once when the owner closes (feeds and streams end there);
        returns the function that cancels it."""
        with self.lock:
            self._closers.append(fn)

        def off() -> None:
            with self.lock:
                if fn in self._closers:
                    self._closers.remove(fn)

        return off

    def close(self) -> None:
        """The owner closed: deliver what is queued, then run the ``on_close`` callbacks."""
        self.flush()
        with self.lock:
            closers, self._closers = self._closers, []
        for fn in closers:
            guarded(fn)

    # -- subscribers (counted by the server) --------------------------------

    def acquire(self, handle: StoreHandle, key: str | None) -> _Instance:
        """A client subscribes: use the instance (creating it) and count it."""
        with self.lock:
            inst = self._use(handle.definition, key)
            inst.subscribers += 1
        self._notifier.deliver()
        return inst

    def release(self, full_name: str) -> Callable[[], None] | None:
        """A client left; return the ``on_idle`` call to make if it was the last."""
        with self.lock:
            inst = self._instances.get(full_name)
            if inst is None or inst.subscribers == 0:
                return None
            inst.subscribers -= 1
            hook = inst.definition.on_idle
            if inst.subscribers or hook is None:
                return None
            key = inst.key
            return lambda: hook(key)

    # -- the lifecycle (callers hold the lock) -------------------------------

    def _full_name(self, definition: _Definition, key: str | None) -> str:
        return definition.name if key is None else f"{definition.prefix}:{key}"

    def _create(self, definition: _Definition, key: str | None) -> _Instance:
        """Add the instance with its raw defaults, uninitialised; the caller
        announces it (:meth:`_announce`) once it is there to stay."""
        name = self._full_name(definition, key)
        inst = self._instances[name] = _Instance(definition, name, key, definition.defaults)
        return inst

    def _announce(self, inst: _Instance) -> None:
        if self.on_created is not None:
            self._notifier.enqueue_call(self.on_created, inst.name, inst.key)

    def _use(self, definition: _Definition, key: str | None) -> _Instance:
        """The instance, created and initialised (``on_create``) if needed."""
        name = self._full_name(definition, key)
        inst = self._instances.get(name)
        fresh = inst is None
        if inst is None:
            # Visible while on_create runs: get() gives the raw defaults there.
            inst = self._create(definition, key)
        elif inst.creating:
            raise RuntimeError(
                f"store {name!r} was used from its own on_create hook; "
                "return the initial data from on_create instead"
            )
        elif inst.initialized:
            return inst
        inst.creating = True
        try:
            hook = definition.on_create
            state = definition.defaults if hook is None else _merge(definition, hook(key))
        except BaseException:
            if fresh and self._instances.get(name) is inst:
                del self._instances[name]
            raise
        finally:
            inst.creating = False
        if fresh:
            self._announce(inst)
        inst.initialized = True
        self._commit(inst, inst.version, state, None)
        return inst

    def _commit(
        self, inst: _Instance, base: int, state: Any, patches: list[PatchOp] | None
    ) -> None:
        if inst.version != base or self._instances.get(inst.name) is not inst:
            raise RuntimeError(
                f"store {inst.name!r} changed while this change was being made "
                "(a nested mutation of the same instance, or an await inside mutate()); "
                "nothing was applied"
            )
        inst.state = state
        inst.version += 1
        event = Change(inst.name, inst.key, inst.version, state, patches)
        self._notifier.enqueue(event, inst.definition.name)

    def _terminate(self, inst: _Instance) -> None:
        hook = inst.definition.on_terminate
        if inst.initialized and hook is not None:
            hook(inst.key)

    def _reset(self, inst: _Instance) -> None:
        if not inst.initialized:
            return
        self._terminate(inst)
        inst.initialized = False
        self._commit(inst, inst.version, inst.definition.defaults, None)

    def _delete(self, inst: _Instance) -> None:
        self._terminate(inst)
        if self._instances.get(inst.name) is not inst:
            return  # on_terminate deleted it already
        del self._instances[inst.name]
        self._notifier.enqueue(Removed(inst.name, inst.key), inst.definition.name)
        if self.on_deleted is not None:
            self._notifier.enqueue_call(self.on_deleted, inst.name)

    def delete(self, full_name: str) -> None:
        """Delete an instance by full name; unknown stores raise KeyError."""
        resolved = self.resolve(full_name)
        if resolved is None:
            raise KeyError(f"no store serves {full_name!r}")
        with self.lock:
            inst = self._instances.get(full_name)
            if inst is not None:
                self._delete(inst)
        self._notifier.deliver()


def _merge(definition: _Definition, extra: object) -> Any:
    if extra is None:
        return definition.defaults
    if not isinstance(extra, dict):
        raise TypeError(
            f"on_create of {definition.name!r} must return a dict or None, "
            f"not {type(extra).__name__}"
        )
    if not isinstance(definition.defaults, dict):
        raise TypeError(
            f"on_create of {definition.name!r} returned a dict but the defaults are not one"
        )
    merged = freeze(extra)
    return FrozenDict({**definition.defaults, **merged})


class StoreHandle:
    """The handle :meth:`Server.create_store` returns.

    A static store's methods take no key (``h.update(fn)``); a dynamic
    store's take the key first (``h.update("general", fn)``). Hooks are
    chainable and receive the key (``None`` for static stores)."""

    __slots__ = ("_registry", "definition")

    def __init__(self, registry: StoreRegistry, definition: _Definition) -> None:
        self._registry = registry
        self.definition = definition

    def __repr__(self) -> str:
        return f"<StoreHandle {self.name!r}>"

    @property
    def name(self) -> str:
        """The registered name: ``"Todos"`` or ``"Room:*"``."""
        return self.definition.name

    @property
    def dynamic(self) -> bool:
        return self.definition.prefix is not None

    def full_name(self, key: str | None = None) -> str:
        """The instance name for ``key``: ``"Room:general"`` (``"Todos"`` for static)."""
        return self._registry._full_name(self.definition, self._check_key(key, "full_name"))

    # -- hooks ----------------------------------------------------------------

    def on_create(self, fn: Callable[[str | None], dict[str, Any] | None]) -> StoreHandle:
        """Run on first use; the returned dict is merged (shallowly) over the defaults."""
        self.definition.on_create = _callable(fn, "on_create")
        return self

    def on_terminate(self, fn: Callable[[str | None], Any]) -> StoreHandle:
        """Run before ``reset()``/``delete()`` of an initialised instance (state still readable)."""
        self.definition.on_terminate = _callable(fn, "on_terminate")
        return self

    def on_idle(self, fn: Callable[[str | None], Any]) -> StoreHandle:
        """Run when the last client subscription of an instance ends."""
        self.definition.on_idle = _callable(fn, "on_idle")
        return self

    # -- mutations --------------------------------------------------------------

    def update(self, *args: Any) -> None:
        """``update([key,] recipe)``: mutate a draft; subscribers get a JSON Patch."""
        key, (recipe,) = self._split(args, 1, "update", "recipe")
        reg = self._registry
        with reg.lock:
            inst = reg._use(self.definition, key)
            base = inst.version
            state, patches = produce(inst.state, recipe)
            if patches:
                reg._commit(inst, base, state, patches)
        reg._notifier.deliver()

    @contextmanager
    def mutate(self, *args: Any) -> Iterator[Any]:
        """``with h.mutate([key]) as draft:``; an exception inside discards the change.

        The registry lock is held for the block, so keep it short and never
        ``await`` inside it."""
        key, () = self._split(args, 0, "mutate", "")
        reg = self._registry
        with reg.lock:
            inst = reg._use(self.definition, key)
            base = inst.version
            session = DraftSession(inst.state)
            try:
                yield session.draft
            except BaseException:
                session.discard()
                raise
            state, patches = session.finish()
            if patches:
                reg._commit(inst, base, state, patches)
        reg._notifier.deliver()

    def set(self, *args: Any) -> None:
        """``set([key,] data)``: replace the whole state; subscribers get a snapshot."""
        key, (data,) = self._split(args, 1, "set", "data")
        state = freeze(data)
        reg = self._registry
        with reg.lock:
            inst = reg._use(self.definition, key)
            reg._commit(inst, inst.version, state, None)
        reg._notifier.deliver()

    def init(self, *args: Any) -> None:
        """``init([key])``: create eagerly, running ``on_create`` if not done yet."""
        key, () = self._split(args, 0, "init", "")
        reg = self._registry
        with reg.lock:
            reg._use(self.definition, key)
        reg._notifier.deliver()

    def reset(self, *args: Any) -> None:
        """``reset([key])``: on_terminate, then raw defaults, uninitialised."""
        key, () = self._split(args, 0, "reset", "")
        reg = self._registry
        with reg.lock:
            inst = self._instance(key)
            if inst is not None:
                reg._reset(inst)
        reg._notifier.deliver()

    def delete(self, *args: Any) -> None:
        """``delete([key])``: on_terminate, remove, tell subscribers (``del``)."""
        key, () = self._split(args, 0, "delete", "")
        self._registry.delete(self._registry._full_name(self.definition, key))

    # -- reads --------------------------------------------------------------------

    def get(self, *args: Any) -> Any:
        """``get([key])``: the current frozen state, raw defaults if uninitialised,
        ``None`` if the instance does not exist. Never triggers ``on_create``."""
        inst = self._lookup(args, "get")
        return None if inst is None else inst.state

    def has(self, *args: Any) -> bool:
        """``has([key])``: the instance exists."""
        return self._lookup(args, "has") is not None

    def is_initialized(self, *args: Any) -> bool:
        """``is_initialized([key])``: on_create has run since the last reset."""
        inst = self._lookup(args, "is_initialized")
        return inst is not None and inst.initialized

    def subscriber_count(self, *args: Any) -> int:
        """``subscriber_count([key])``: connected client subscriptions."""
        inst = self._lookup(args, "subscriber_count")
        return 0 if inst is None else inst.subscribers

    def version(self, *args: Any) -> int | None:
        """``version([key])``: the instance's version (None if it does not exist)."""
        inst = self._lookup(args, "version")
        return None if inst is None else inst.version

    # -- streams ------------------------------------------------------------------

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

    def observe(self, *args: Any) -> reactivex.Observable[Any]:
        """``observe([key])``: an Observable of the state; see :mod:`hotstate_rx.rx.observe`."""
        from ..rx.observe import observe

        key, () = self._split(args, 0, "observe", "")
        return observe(self, key)

    def snapshot(self, key: str | None) -> tuple[Any, int] | None:
        """``(state, version)`` of an instance read atomically, or None if it is absent."""
        with self._registry.lock:
            inst = self._instance(key)
            return None if inst is None else (inst.state, inst.version)

    # -- argument checks ------------------------------------------------------------

    def _instance(self, key: str | None) -> _Instance | None:
        reg = self._registry
        return reg._instances.get(reg._full_name(self.definition, key))

    def _lookup(self, args: tuple[Any, ...], method: str) -> _Instance | None:
        key, () = self._split(args, 0, method, "")
        return self._instance(key)

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
        self, args: tuple[Any, ...], n: int, method: str, what: str
    ) -> tuple[str | None, tuple[Any, ...]]:
        want = n + (1 if self.dynamic else 0)
        if len(args) != want:
            shape = ", ".join(filter(None, ["key" if self.dynamic else "", what]))
            kind = "dynamic" if self.dynamic else "static"
            raise TypeError(
                f"{self.name!r} is a {kind} store: call {method}({shape}), "
                f"got {len(args)} argument(s)"
            )
        if not self.dynamic:
            return None, args
        return self._check_key(args[0], method), args[1:]


def _callable(fn: _T, what: str) -> _T:
    """``fn`` itself, once checked: user callbacks fail at registration, not later."""
    if not callable(fn):
        raise TypeError(f"{what} must be callable, not {type(fn).__name__}")
    return fn
