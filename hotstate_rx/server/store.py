"""Store definitions, instances and their lifecycle (pure: no asyncio, no I/O).

A :class:`StoreRegistry` owns every store of one server and the one
``threading.RLock`` that guards them, so mutations are safe from any thread.
Committed changes are announced as :class:`Change` / :class:`Removed` values
through an ordered queue (:mod:`hotstate_rx.server.notify`): whoever consumes them
(the server's fan-out, ``observe()``, the Rx layer) sees them in mutation
order. With storage, every commit is also recorded in a
:class:`~hotstate_rx.server.storage.journal.Journal` under the same lock, so
storage sees the same order. The lifecycle of one instance::

    absent ──first use: on_create──────────────▶ resident ──delete(): on_terminate──▶ absent
      │                                            │   ▲                           (Removed)
      └──first use of a saved instance─────────────┤   │ next use: loaded,
         (after a restart): loaded, no on_create   │   │ no on_create
                                   no subscriber,  ▼   │
                                   unused for      hibernated ──delete(): loaded,
                                   hibernate_after (storage only)  on_terminate──▶ absent

    reset() of a resident instance: on_terminate, raw defaults, uninitialised;
    its next use runs on_create again.

- *resident*: in memory. A static instance is resident from ``create_store``
  (loaded if it was saved) until ``delete()``.
- *hibernated* (storage only): a dynamic instance without subscribers and
  unused for ``hibernate_after`` seconds leaves memory; its last state is in
  the journal or in storage already, so nothing is written then. It still
  exists (``has``, ``list_stores``), and any use (a subscription, a mutation,
  ``get``) loads it back with its state and version.
- A deleted instance is removed from storage too; its next use creates it
  again, from version 1, with ``on_create``.

A dynamic instance that a subscription created and that nothing but
subscriptions used since is *transient*: when its last subscriber leaves,
after ``on_idle``, :meth:`StoreRegistry.reclaim` deletes it (from storage
too: it does not wait to hibernate), so what clients made the server allocate
does not outlive their need for it.

With a :class:`~.replication.Replication` (``Server(cluster=...)``) the
instances are *replicas* of a shared log: each commit is first a
compare-and-set in the log (a :class:`~hotstate_rx.errors.ClusterConflict`
when another node wrote first, after this replica caught up), changes heard
from other nodes come in through :meth:`StoreRegistry.apply_remote` and
:meth:`StoreRegistry.remove_remote`, and ``on_create``/``on_terminate`` run
only where the log's claim or deletion succeeded (``docs/CLUSTER.md``).

States are deep-frozen (:mod:`hotstate_rx.frozen`), so the defaults are shared
by every instance without a copy and ``get()`` can be handed out safely.
"""

from __future__ import annotations

import contextlib
import itertools
import secrets
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from ..errors import ClusterConflict, ClusterError, PatchError, StorageError
from ..frozen import FrozenDict, freeze
from ..patch import PatchOp, apply_patches
from ..protocol import Cause
from .notify import ALL, Notifier, Watch, WatchKey, guarded
from .replication import Conflict, Entry, Loaded, Replication
from .storage.base import Saved
from .storage.journal import Journal

__all__ = [
    "ALL",
    "CAUSE",
    "Change",
    "Definition",
    "InstanceRecord",
    "Removed",
    "StoreEvent",
    "StoreRegistry",
    "parse_store_name",
]

Hook = Callable[[str | None], Any]

CAUSE: ContextVar[Cause | None] = ContextVar("hotstate_rx_cause", default=None)
"""The call whose handler is running here, as ``(session tag, call id)``: set
by the server around each handler (tasks and ``asyncio.to_thread`` inherit
it), read by :meth:`StoreRegistry.commit`, so a client can tell which change
settles its optimistic update."""
_T = TypeVar("_T")

_ONCE: Final = (0,)
CONFLICT_RETRIES: Final = 20
"""How many times ``update()``/``set()`` re-run after a cluster conflict
before giving up with :class:`~hotstate_rx.errors.ClusterError`."""


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
    epoch: str = ""
    """The instance's history: versions compare only within one epoch."""
    cause: Cause | None = None
    """The call whose handler made this change (see :data:`CAUSE`), if one did."""


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
class Definition:
    """A registered store: its name, defaults and hooks (one per ``create_store``)."""

    name: str
    prefix: str | None
    defaults: Any
    on_create: Hook | None = None
    on_terminate: Hook | None = None
    on_idle: Hook | None = None
    local: bool = False
    """Its instances are this server's own (the inspector's): never replicated
    to a cluster."""


@dataclass(slots=True, eq=False)
class InstanceRecord:
    """One live instance as the registry keeps it; read and changed under the lock,
    through the registry's methods only."""

    definition: Definition
    name: str
    key: str | None
    state: Any
    version: int = 0
    epoch: str = ""
    """``"<storage epoch>.<lifetime>"``: what a client's copy is compared by."""
    initialized: bool = False
    creating: bool = False
    subscribers: int = 0
    transient: bool = False
    """Created by a subscription, used by nothing else since (:meth:`StoreRegistry.reclaim`)."""
    lifetime: str = ""
    """Random per creation, saved with the instance: a deleted and re-created
    instance starts a new history, a hibernated or restarted one goes on."""


class StoreRegistry:
    """Every store of one server, their instances, and the change queue.

    :meth:`set_deliver` decides where queued notifications run: by default at
    once in the mutating thread; a server marshals them onto its loop.

    With a ``journal``, instances are saved and loaded through it; with a
    ``replication`` (a cluster), they are replicas of its log (see the module
    docstring); with either and ``hibernate_after`` too, idle dynamic
    instances leave memory once :meth:`hibernate` finds them due (``clock``
    gives the time, in seconds)."""

    def __init__(
        self,
        journal: Journal | None = None,
        *,
        hibernate_after: float | None = None,
        clock: Callable[[], float] | None = None,
        replication: Replication | None = None,
    ) -> None:
        if journal is not None and replication is not None:
            raise ValueError("a registry keeps a journal or a replication, not both")
        backed = journal is not None or replication is not None
        if hibernate_after is not None and (not backed or clock is None):
            raise ValueError("hibernation needs storage (or a cluster) and a clock")
        self.lock: Final = threading.RLock()
        self._notifier = Notifier(self.lock)
        self._static: dict[str, Definition] = {}
        self._dynamic: dict[str, Definition] = {}
        self._instances: dict[str, InstanceRecord] = {}
        self._counts: dict[str, int] = {}
        """Definition name -> how many of its instances are in memory."""
        self._closers: list[Callable[[], None]] = []
        self._journal = journal
        self._replication = replication
        self._backed = backed
        """Instances outlive memory (storage or cluster): absent here may exist there."""
        self._hibernate_after = hibernate_after
        self._clock = clock
        self._idle: dict[str, float] = {}
        """With hibernation: dynamic instances without subscribers -> when they were
        last used; re-inserted on each use, so the oldest comes first."""
        self.on_created: Callable[[str, str | None], None] | None = None
        self.on_deleted: Callable[[str], None] | None = None
        self.on_hibernated: Callable[[str], None] | None = None
        self.on_error: Callable[[Exception], None] | None = None
        self.subscribers_elsewhere: Callable[[str], int] | None = None
        """In a cluster: the subscribers of an instance on the other nodes."""
        self.on_idle_start: Callable[[], None] | None = None
        """Called (under the lock) when an instance becomes idle while none was:
        time to arm the timer that calls :meth:`hibernate`."""
        self._epoch = secrets.token_hex(8)
        if journal is not None:
            self._epoch = journal.epoch
        elif replication is not None:
            self._epoch = replication.epoch

    # -- registration -----------------------------------------------------

    def define(self, name: str, data: Any, *, local: bool = False) -> Definition:
        """Register a store; see :meth:`hotstate_rx.Server.create_store`.
        ``local``: kept out of the cluster (what only this server knows)."""
        prefix = parse_store_name(name)
        defaults = freeze(data)
        with self.transaction():
            if name in self._static or (prefix is not None and prefix in self._dynamic):
                raise ValueError(f"store {name!r} is already registered")
            if prefix is None:
                head = name.partition(":")[0]
                if ":" in name and head in self._dynamic:
                    raise ValueError(f"static store {name!r} clashes with dynamic {head + ':*'!r}")
            elif any(s.partition(":")[0] == prefix for s in self._static if ":" in s):
                raise ValueError(f"dynamic store {name!r} clashes with a static store")
            definition = Definition(name, prefix, defaults, local=local)
            if prefix is None:
                inst = self._revive(definition, None) or self._create(definition, None)[0]
                self._static[name] = definition
                self._announce(inst)
            else:
                self._dynamic[prefix] = definition
        return definition

    def resolve(self, full_name: str) -> tuple[Definition, str | None] | None:
        """The store and key serving an instance name, or None if no store does."""
        definition = self._static.get(full_name)
        if definition is not None:
            return definition, None
        prefix, sep, key = full_name.partition(":")
        definition = self._dynamic.get(prefix) if sep and key else None
        if definition is None:
            return None
        return definition, key

    def names(self) -> list[str]:
        """Full names of the instances that exist now, hibernated ones included."""
        with self.lock:
            names = list(self._instances)
        saved = None
        if self._journal is not None:
            saved = self._journal.names()
        elif self._replication is not None:
            saved = self._replication.names()
        if saved is not None:
            resident = set(names)
            names += [n for n in saved if n not in resident and self.resolve(n) is not None]
        return names

    def resident(self) -> list[InstanceRecord]:
        """The instances in memory now (for the inspector: read only)."""
        with self.lock:
            return list(self._instances.values())

    def has(self, full_name: str) -> bool:
        """The instance ``full_name`` exists now (loading it if it hibernates)."""
        if full_name in self._instances:
            return True
        resolved = self.resolve(full_name) if self._backed else None
        return resolved is not None and self.find(*resolved) is not None

    def in_memory(self, definition: Definition, key: str | None) -> bool:
        """The instance is in memory now (never loads it)."""
        return self.full_name(definition, key) in self._instances

    def instance_count(self, definition: Definition) -> int:
        """How many instances of ``definition`` are in memory now (hibernated
        ones are not: they cost storage, not memory)."""
        return self._counts.get(definition.name, 0)

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
        return self._notifier.add(Watch(checked_callable(listener, "listener"), definition, key))

    def schedule(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` where and when notifications run, after those queued now."""
        with self.transaction():
            self._notifier.enqueue_call(fn, *args)

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

    def acquire(self, definition: Definition, key: str | None) -> InstanceRecord:
        """A client subscribes: use the instance (creating it, transient if
        dynamic) and count it."""
        with self.transaction():
            fresh = key is not None and self.find(definition, key) is None
            inst = self._use(definition, key)
            inst.subscribers += 1
            self._idle.pop(inst.name, None)
            if fresh:
                inst.transient = True
        return inst

    def release(self, full_name: str) -> Callable[[], None] | None:
        """A client left; return the ``on_idle`` call to make if it was the last."""
        with self.lock:
            inst = self._instances.get(full_name)
            if inst is None or inst.subscribers == 0:
                return None
            inst.subscribers -= 1
            self._touch(inst)
            hook = inst.definition.on_idle
            if inst.subscribers or hook is None:
                return None
            key = inst.key
            return lambda: hook(key)

    def idle_call(self, full_name: str) -> Callable[[], None] | None:
        """The ``on_idle`` call of an instance whose last subscriber in the
        cluster left (resident here or not), or None without a hook."""
        resolved = self.resolve(full_name)
        hook = None if resolved is None else resolved[0].on_idle
        if hook is None or resolved is None:
            return None
        key = resolved[1]
        return lambda: hook(key)

    def reclaim(self, full_name: str) -> bool:
        """Delete the instance if it is transient and has no subscriber left
        (the hub calls this after ``on_idle``); True if it did."""
        with self.transaction():
            inst = self._instances.get(full_name)
            if inst is None or not inst.transient or inst.subscribers:
                return False
            self._delete(inst)
            return True

    # -- transactions ---------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One atomic step: the lock is held for the block, and what the block
        queued is delivered once it is released (even if the block raised)."""
        try:
            with self.lock:
                yield
        finally:
            self._notifier.deliver()

    @contextmanager
    def using(self, definition: Definition, key: str | None) -> Iterator[InstanceRecord]:
        """A :meth:`transaction` on one instance, created and initialised
        (``on_create``) first if needed: every *use* of an instance by server
        code goes here (which makes it no longer transient)."""
        with self.transaction():
            inst = self._use(definition, key)
            inst.transient = False
            yield inst

    def find(self, definition: Definition, key: str | None) -> InstanceRecord | None:
        """The instance if it exists (never creates it; loads it if it hibernates)."""
        name = self.full_name(definition, key)
        inst = self._instances.get(name)
        if inst is None and self._backed:
            with self.lock:
                inst = self._instances.get(name) or self._revive(definition, key)
        return inst

    # -- storage -----------------------------------------------------------------

    def commit_token(self) -> int | None:
        """What to wait for until every change made so far is durable (see
        :meth:`Journal.token`); None without storage or when nothing waits."""
        return None if self._journal is None else self._journal.token()

    def is_durable(self, token: int) -> bool:
        """Every change up to ``token`` is committed to storage."""
        return self._journal is None or self._journal.is_durable(token)

    def set_on_durable(self, fn: Callable[[], None] | None) -> None:
        """Have the storage's writer thread call ``fn`` after each commit."""
        if self._journal is not None:
            self._journal.on_durable = fn

    def hibernate(self) -> None:
        """Drop from memory the dynamic instances that have had no subscriber and
        no use for ``hibernate_after`` seconds (their last state is recorded)."""
        after, clock = self._hibernate_after, self._clock
        if after is None or clock is None:
            return
        with self.transaction():
            cutoff = clock() - after
            due = [n for n, t in itertools.takewhile(lambda i: i[1] <= cutoff, self._idle.items())]
            for name in due:
                del self._idle[name]
                inst = self._instances.get(name)
                if inst is not None:
                    self._remove(inst)
                    if self.on_hibernated is not None:
                        self._notifier.enqueue_call(self.on_hibernated, name)

    def hibernation_delay(self) -> float | None:
        """Seconds until the next idle instance is due to hibernate; None when none is idle."""
        after, clock = self._hibernate_after, self._clock
        with self.lock:
            oldest = next(iter(self._idle.values()), None)
        if oldest is None or after is None or clock is None:
            return None
        return max(0.0, oldest + after - clock())

    def snapshot(self, definition: Definition, key: str | None) -> tuple[Any, int] | None:
        """``(state, version)`` of an instance read atomically, or None if it is absent."""
        with self.lock:
            inst = self.find(definition, key)
            return None if inst is None else (inst.state, inst.version)

    # -- the lifecycle (callers hold the lock) -------------------------------

    def full_name(self, definition: Definition, key: str | None) -> str:
        """``"Room:general"`` for key ``"general"`` of ``"Room:*"``; the name itself if static."""
        return definition.name if key is None else f"{definition.prefix}:{key}"

    def _create(self, definition: Definition, key: str | None) -> tuple[InstanceRecord, bool]:
        """Add the instance with its raw defaults, uninitialised, and say whether
        this call created it; the caller announces it (:meth:`_announce`) once
        it is there to stay. In a cluster the log creates it, unless another
        node just did: then that node's instance is loaded."""
        name = self.full_name(definition, key)
        replication = self._log(definition)
        for _ in range(CONFLICT_RETRIES):
            lifetime = secrets.token_hex(4)  # each lifetime its own history (and epoch)
            if replication is None or replication.create(name, lifetime) == lifetime:
                made = Loaded(0, lifetime, False, definition.defaults)
                return self._adopt(definition, key, made), True
            loaded = replication.load(name, definition.defaults)
            if loaded is not None:
                return self._adopt(definition, key, loaded), False
        raise ClusterError(f"store {name!r} kept being created and deleted by other nodes")

    def _adopt(self, definition: Definition, key: str | None, loaded: Loaded) -> InstanceRecord:
        """Put an instance read from storage or the cluster (or made) in memory."""
        name = self.full_name(definition, key)
        inst = InstanceRecord(
            definition,
            name,
            key,
            loaded.state,
            version=loaded.version,
            initialized=loaded.initialized,
            lifetime=loaded.lifetime,
        )
        # The storage's epoch changes after a crash: what a client holds of a
        # history that may have lost its last changes must not pass for current.
        inst.epoch = f"{self._epoch}.{loaded.lifetime}"
        self._put(inst)
        self._touch(inst)
        return inst

    def _put(self, inst: InstanceRecord) -> None:
        """``inst`` is in memory now (created or revived); counted per store."""
        self._instances[inst.name] = inst
        self._counts[inst.definition.name] = self._counts.get(inst.definition.name, 0) + 1

    def _remove(self, inst: InstanceRecord) -> None:
        """``inst`` leaves memory (deleted, hibernated, or its creation failed)."""
        del self._instances[inst.name]
        self._counts[inst.definition.name] -= 1

    def _log(self, definition: Definition) -> Replication | None:
        """The replication that ``definition``'s instances go through, if any."""
        return None if definition.local else self._replication

    def _announce(self, inst: InstanceRecord) -> None:
        if self.on_created is not None:
            self._notifier.enqueue_call(self.on_created, inst.name, inst.key)

    def _revive(self, definition: Definition, key: str | None) -> InstanceRecord | None:
        """The instance as storage (or the cluster) holds it, back in memory
        without ``on_create``; None when there is no record of it."""
        name = self.full_name(definition, key)
        replication = self._log(definition)
        if replication is not None:
            loaded = replication.load(name, definition.defaults)
        elif self._journal is not None:
            loaded = self._load_saved(self._journal, name)
        else:
            return None
        return None if loaded is None else self._adopt(definition, key, loaded)

    @staticmethod
    def _load_saved(journal: Journal, name: str) -> Loaded | None:
        saved = journal.load(name)
        if saved is None:
            return None
        try:
            state = freeze(saved.state)
        except TypeError as exc:
            raise StorageError(
                f"{journal.storage!r}: the saved state of {name!r} is {exc}"
            ) from None
        lifetime = saved.lifetime or secrets.token_hex(4)
        return Loaded(saved.version, lifetime, saved.initialized, state)

    def _touch(self, inst: InstanceRecord) -> None:
        """A use of ``inst``: with hibernation, an idle dynamic instance's clock restarts."""
        clock = self._clock
        if self._hibernate_after is None or clock is None or inst.key is None or inst.subscribers:
            return
        idle = self._idle
        first = not idle
        idle.pop(inst.name, None)
        idle[inst.name] = clock()
        if first and self.on_idle_start is not None:
            self.on_idle_start()

    def _use(self, definition: Definition, key: str | None) -> InstanceRecord:
        """The instance, created and initialised (``on_create``) if needed; in a
        cluster only the node that wins the log's claim runs ``on_create``."""
        name = self.full_name(definition, key)
        inst = self._instances.get(name) or self._revive(definition, key)
        fresh = False
        if inst is None:
            # Visible while on_create runs: get() gives the raw defaults there.
            inst, fresh = self._create(definition, key)
        elif inst.creating:
            raise RuntimeError(
                f"store {name!r} was used from its own on_create hook; "
                "return the initial data from on_create instead"
            )
        if inst.initialized:
            self._touch(inst)
            return inst
        if self._log(definition) is not None and not self._claim(inst):
            return inst  # another node ran on_create; this replica caught up
        inst.creating = True
        try:
            hook = definition.on_create
            state = definition.defaults if hook is None else _merge(definition, hook(key))
        except BaseException:
            if fresh and self._instances.get(name) is inst:
                self._remove(inst)
            replication = self._log(definition)
            if replication is not None:  # the next use, on any node, tries again at once
                with contextlib.suppress(ClusterError):
                    replication.unclaim(name, inst.lifetime)
            raise
        finally:
            inst.creating = False
        if fresh:
            self._announce(inst)
        self.commit(inst, inst.version, state, None, initialized=True)
        return inst

    def _claim(self, inst: InstanceRecord) -> bool:
        """Win the cluster's claim to initialise ``inst``, or catch up with the
        node that did (False)."""
        assert self._replication is not None
        try:
            if self._replication.claim(inst.name, inst.lifetime):
                return True
        except Conflict:
            self._reload(inst)
            raise ClusterConflict(
                f"store {inst.name!r} was deleted by another node while it was being created",
                inst.name,
            ) from None
        self._catch_up(inst)
        if not inst.initialized:
            raise ClusterConflict(
                f"store {inst.name!r} changed in the cluster while it was being created",
                inst.name,
            )
        return False

    def commit(
        self,
        inst: InstanceRecord,
        base: int,
        state: Any,
        patches: list[PatchOp] | None,
        *,
        initialized: bool | None = None,
    ) -> None:
        """Make ``state`` (reached from version ``base`` by ``patches``, None for
        a snapshot) the next version of ``inst``; ``initialized`` changes its
        flag. In a cluster, a conflict raises :class:`ClusterConflict` after
        this replica caught up (nothing of this change applied)."""
        if inst.version != base or self._instances.get(inst.name) is not inst:
            raise RuntimeError(
                f"store {inst.name!r} changed while this change was being made "
                "(a nested mutation of the same instance, or an await inside mutate()); "
                "nothing was applied"
            )
        version = inst.version + 1
        init = inst.initialized if initialized is None else initialized
        cause = CAUSE.get()
        if self._journal is not None:  # first: a closed storage refuses the change
            self._journal.save(Saved(inst.name, version, state, init, inst.lifetime))
        elif self._replication is not None and not inst.definition.local:
            entry = Entry(version, init, patches, state if patches is None else None, cause)
            self._replicate(self._replication, inst, base, entry, state)
        inst.state = state
        inst.version = version
        inst.initialized = init
        if self._hibernate_after is not None:
            self._touch(inst)
        event = Change(inst.name, inst.key, version, state, patches, inst.epoch, cause)
        self._notifier.enqueue(event, inst.definition.name)

    def _replicate(
        self, replication: Replication, inst: InstanceRecord, base: int, entry: Entry, state: Any
    ) -> None:
        """Commit ``entry`` to the cluster's log, or catch up and raise ``ClusterConflict``."""
        try:
            replication.commit(inst.name, base, inst.lifetime, entry, state)
        except Conflict as conflict:
            self._caught_up(inst, conflict.entries)
            raise ClusterConflict(
                f"store {inst.name!r} was changed by another node since version {base}; "
                "nothing was applied (use update() to re-run the change on the new state)",
                inst.name,
            ) from None

    def attempts(self, name: str) -> Iterable[int]:
        """The tries of a change that may be re-run after a cluster conflict:
        once without a cluster; then :class:`ClusterError` when all failed."""
        return _ONCE if self._replication is None else self._retries(name)

    @staticmethod
    def _retries(name: str) -> Iterator[int]:
        yield from range(CONFLICT_RETRIES)
        raise ClusterError(
            f"store {name!r}: {CONFLICT_RETRIES} tries in a row lost to other nodes' changes"
        )

    def reset(self, inst: InstanceRecord) -> None:
        """on_terminate, then raw defaults, uninitialised (caller holds the lock).
        In a cluster the reset is committed first, and ``on_terminate`` runs on
        the node whose commit made it."""
        replicated = self._log(inst.definition) is not None
        if not inst.initialized and replicated:
            self._catch_up(inst)  # this copy may be behind an initialisation
        if not inst.initialized:
            return
        defaults = inst.definition.defaults
        if not replicated:
            self._terminate(inst)
            self.commit(inst, inst.version, defaults, None, initialized=False)
            return
        self.commit(inst, inst.version, defaults, None, initialized=False)
        hook = inst.definition.on_terminate
        if hook is not None:
            hook(inst.key)

    def _terminate(self, inst: InstanceRecord) -> None:
        hook = inst.definition.on_terminate
        if inst.initialized and hook is not None:
            hook(inst.key)

    def _delete(self, inst: InstanceRecord) -> None:
        replication = self._log(inst.definition)
        if replication is None:
            self._terminate(inst)
            if self._instances.get(inst.name) is not inst:
                return  # on_terminate deleted it already
            if self._journal is not None:
                self._journal.delete(inst.name)
            self._drop(inst)
            return
        self._catch_up(inst)  # the state on_terminate reads is the latest
        if self._instances.get(inst.name) is not inst:
            return  # deleted by another node meanwhile
        initialized = replication.delete(inst.name, inst.lifetime)
        if initialized is None:
            self._reload(inst)  # another node deleted it (or re-created it) first
            return
        hook = inst.definition.on_terminate
        try:  # the replica still holds the state the hook may read
            if initialized and hook is not None:
                hook(inst.key)
        finally:
            if self._instances.get(inst.name) is inst:
                self._drop(inst)

    def _drop(self, inst: InstanceRecord) -> None:
        """``inst`` is gone: out of memory, subscribers told."""
        self._remove(inst)
        self._idle.pop(inst.name, None)
        self._notifier.enqueue(Removed(inst.name, inst.key), inst.definition.name)
        if self.on_deleted is not None:
            self._notifier.enqueue_call(self.on_deleted, inst.name)

    def delete(self, full_name: str) -> None:
        """Delete an instance by full name; unknown stores raise KeyError."""
        resolved = self.resolve(full_name)
        if resolved is None:
            raise KeyError(f"no store serves {full_name!r}")
        with self.transaction():
            inst = self.find(*resolved)
            if inst is not None:
                self._delete(inst)

    # -- the cluster: replicas kept current (callers: the cluster node) -------------

    def apply_remote(self, name: str, lifetime: str, entry: Entry) -> bool:
        """A change committed in the cluster (heard on its bus): applied in
        version order (this node's own, and older ones, are ignored; a gap is
        filled from the log). False when the instance is not in memory here."""
        with self.transaction():
            inst = self._instances.get(name)
            if inst is None:
                return False
            if lifetime != inst.lifetime:
                self._reload(inst)
            elif entry.version == inst.version + 1:
                self._apply(inst, entry)
            elif entry.version > inst.version:
                self._catch_up(inst)
            return True

    def remove_remote(self, name: str, lifetime: str) -> None:
        """Another node deleted the instance (in ``lifetime``): drop the replica."""
        with self.transaction():
            inst = self._instances.get(name)
            if inst is not None and inst.lifetime == lifetime:
                self._drop(inst)

    def resync(self) -> None:
        """Check every replica against the log (after the log could not be heard
        from): catch up, reload, or drop the deleted. A replica *ahead* of the
        log (Redis lost acknowledged changes: restarted without fsync) is
        dropped too: its subscribers saw versions that no longer exist, and a
        lower version would not pass for the same history."""
        replication = self._replication
        if replication is None:
            return
        with self.transaction():
            replicas = [n for n, i in self._instances.items() if not i.definition.local]
            heads = replication.heads(replicas)
            for name, head in heads.items():
                inst = self._instances.get(name)
                if inst is None:
                    continue
                if head is not None and head[1] == inst.lifetime and head[0] < inst.version:
                    self._drop(inst)  # the next use loads what the log has
                elif head is None or head[1] != inst.lifetime:
                    self._reload(inst)
                elif head[0] > inst.version:
                    self._catch_up(inst)

    def rebase(self, epoch: str) -> None:
        """The cluster's history changed (Redis lost its data): every replica is
        gone (subscribers get ``del``); static stores are created again."""
        with self.transaction():
            if epoch == self._epoch:
                return
            self._epoch = epoch
            for inst in list(self._instances.values()):
                if not inst.definition.local:
                    self._drop(inst)
            for definition in list(self._static.values()):
                try:
                    self._use(definition, None)
                except Exception as exc:
                    self.report(exc)

    @property
    def epoch(self) -> str:
        """The history versions belong to (storage's, the cluster's, or this run's)."""
        return self._epoch

    def _catch_up(self, inst: InstanceRecord) -> None:
        assert self._replication is not None
        self._caught_up(inst, self._replication.since(inst.name, inst.lifetime, inst.version))

    def _caught_up(self, inst: InstanceRecord, entries: list[Entry] | None) -> None:
        """Apply the log's ``entries`` after ``inst``'s version (None: reload)."""
        for entry in entries or ():
            if entry.version <= inst.version:
                continue
            if entry.version != inst.version + 1:
                break
            try:
                self._apply(inst, entry)
            except PatchError:
                break  # a log this replica cannot follow: read it whole
        else:
            if entries is not None:
                return
        self._reload(inst)

    def _apply(self, inst: InstanceRecord, entry: Entry) -> None:
        """One entry of the log, the next version of ``inst``, to its replica."""
        patches = entry.patches
        state = freeze(entry.state) if patches is None else apply_patches(inst.state, patches)
        inst.state = state
        inst.version = entry.version
        inst.initialized = entry.initialized
        event = Change(inst.name, inst.key, entry.version, state, patches, inst.epoch, entry.cause)
        self._notifier.enqueue(event, inst.definition.name)

    def _reload(self, inst: InstanceRecord) -> None:
        """Read ``inst`` whole from the log: a snapshot for its subscribers, or,
        if it was deleted (or re-created) meanwhile, its removal."""
        assert self._replication is not None
        loaded = self._replication.load(inst.name, inst.definition.defaults)
        if loaded is None or loaded.lifetime != inst.lifetime:
            if self._instances.get(inst.name) is inst:
                self._drop(inst)
            return
        inst.state = loaded.state
        inst.version = loaded.version
        inst.initialized = loaded.initialized
        event = Change(inst.name, inst.key, loaded.version, loaded.state, None, inst.epoch)
        self._notifier.enqueue(event, inst.definition.name)


def _merge(definition: Definition, extra: object) -> Any:
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


def checked_callable(fn: _T, what: str) -> _T:
    """``fn`` itself, once checked: user callbacks fail at registration, not later."""
    if not callable(fn):
        raise TypeError(f"{what} must be callable, not {type(fn).__name__}")
    return fn
