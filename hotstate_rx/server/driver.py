"""The hub on asyncio: the thin driver of :class:`~hotstate_rx.server.hub.HubCore`.

It binds the event loop, accepts peers from the transports (it is their
:class:`~hotstate_rx.server.transports.Acceptor`), arms one timer per
connection at the hub's deadline, runs functions and ``authenticate``
(async ones in tasks it owns: one per running call, cancelled when the hub
says so; a connection's pending ``authenticate`` is cancelled when it goes),
tells each transport how long to stop reading (the hub's rate limit), and
performs the hub's actions. Every rule is in the hub.

Threads: store mutations may come from any thread. Their notifications go
through the registry's one ordered queue, which the driver drains on its
loop (``call_soon_threadsafe`` from other threads, at once on the loop
thread), so every client sees changes in mutation order. The loop is the one
``listen()`` runs on, or, with ``attach``/``asgi``, the one of the first
connection; before that, notifications run synchronously in the mutating
thread (there is no connection to send them to yet).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import secrets
import threading
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, Protocol

from ..frozen import FrozenDict, FrozenList
from .access import ConnectInfo
from .hub import (
    Authenticate,
    Cancel,
    ClaimCall,
    ClusterAction,
    CountSubscriber,
    Disconnect,
    DropSession,
    FetchSession,
    HubAction,
    HubCore,
    Invoke,
    RecordSession,
    SaveResult,
    ThrottleReads,
    Transmit,
)
from .session import CLOSE_GOING_AWAY
from .store import CAUSE, StoreRegistry
from .transports import Peer

__all__ = ["ClusterPort", "LoopDriver", "PeerLink", "new_id"]

log = logging.getLogger(__name__)


def new_id() -> str:
    """A fresh, unguessable id (client ids, session tokens and tags)."""
    return secrets.token_urlsafe(12)


class ClusterPort(Protocol):
    """Who performs a clustered hub's cluster actions against Redis
    (:class:`~.cluster.serving.ClusterServing`)."""

    def connect(
        self, report: Callable[[list[HubAction[Any]]], None], now: Callable[[], float]
    ) -> None:
        """Where the hub's answers to the outcomes go (the driver), and its clock."""

    def bind(self) -> None:
        """The driver bound its loop."""

    def perform(self, action: ClusterAction[Any]) -> None:
        """Perform one cluster action, asynchronously."""


class PeerLink:
    """One connection: the key the hub knows it by, and the
    :class:`~hotstate_rx.server.transports.Link` its transport reports to."""

    __slots__ = ("authenticating", "driver", "info", "pause", "peer", "timer")

    def __init__(self, driver: LoopDriver, peer: Peer, info: ConnectInfo | None = None) -> None:
        self.driver = driver
        self.peer = peer
        self.info = info
        """The upgrade request (the inspector shows its address)."""
        self.timer: asyncio.TimerHandle | None = None
        self.authenticating: asyncio.Future[Any] | None = None
        self.pause = 0.0
        """Seconds the transport waits before its next read (set per frame)."""

    def receive(self, frame: bytes | str) -> float:
        return self.driver.received(self, frame)

    def lost(self, code: int | None = None) -> None:
        self.driver.lost(self, code)


class LoopDriver:
    """Runs one :class:`HubCore` on the running asyncio loop."""

    def __init__(
        self, hub: HubCore[PeerLink], registry: StoreRegistry, cluster: ClusterPort | None = None
    ) -> None:
        self._hub = hub
        self._registry = registry
        self._cluster = cluster
        if cluster is not None:
            cluster.connect(self._perform, self._now)
        self._calls: dict[tuple[PeerLink, int], asyncio.Future[Any]] = {}
        """The running async calls, by connection and call id."""
        self._tasks: set[asyncio.Future[Any]] = set()
        """The running ``authenticate`` calls."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._hibernation: asyncio.TimerHandle | None = None
        self._expiry: asyncio.TimerHandle | None = None
        self.on_call: Callable[[str, float, bool], None] | None = None
        """Told each function's name, run time (s) and failure (the inspector)."""
        self.on_bind: Callable[[], object] | None = None
        """Called on the loop when one is bound (the cluster starts listening there)."""

    # -- the loop --------------------------------------------------------------

    def bind_loop(self) -> asyncio.AbstractEventLoop:
        """Serve on the running loop: store notifications are drained there from now on."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._loop, self._loop_thread = loop, threading.get_ident()
            self._registry.set_deliver(self._deliver)
            self._registry.set_on_durable(self._durable)
            self._registry.on_idle_start = self._idle_start
            self._arm_hibernation()
            if self.on_bind is not None:
                self.on_bind()
            if self._cluster is not None:
                self._cluster.bind()
        return loop

    def _deliver(self, flush: Callable[[], None]) -> None:
        """The registry asks for a flush; the hub's flush covers it (``flush`` is the
        registry's own, used only when the loop is gone)."""
        loop = self._loop
        if loop is None or threading.get_ident() == self._loop_thread:
            self._perform(self._hub.flush())
            return
        try:
            loop.call_soon_threadsafe(self._flush)
        except RuntimeError:  # the loop closed under us: deliver here rather than never
            flush()

    def _flush(self) -> None:
        self._perform(self._hub.flush())

    # -- storage -------------------------------------------------------------------

    def _durable(self) -> None:
        """The writer thread committed: release the results that waited, on the loop."""
        self._soon(self._committed)

    def _committed(self) -> None:
        self._perform(self._hub.committed())

    def _idle_start(self) -> None:
        """An instance became idle while none was (any thread): arm the timer."""
        self._soon(self._arm_hibernation)

    def _arm_hibernation(self) -> None:
        delay = self._registry.hibernation_delay()
        if self._hibernation is None and delay is not None and self._loop is not None:
            self._hibernation = self._loop.call_later(delay, self._hibernate)

    def _hibernate(self) -> None:
        self._hibernation = None
        self._registry.hibernate()
        self._arm_hibernation()

    def _soon(self, fn: Callable[[], None]) -> None:
        loop = self._loop
        if loop is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop closed: nobody is left to tell
            loop.call_soon_threadsafe(fn)

    # -- connections (the Acceptor protocol of the transports) -----------------

    def open(self, peer: Peer, heartbeat: float, info: ConnectInfo | None = None) -> PeerLink:
        """A transport accepted ``peer`` (upgrade request: ``info``); return the
        link it reports frames to."""
        loop = self.bind_loop()
        link = PeerLink(self, peer, info)
        self._hub.open(link, new_id(), now=loop.time(), heartbeat=heartbeat, info=info)
        self._arm(link)
        return link

    def received(self, link: PeerLink, frame: bytes | str) -> float:
        """A frame from ``link``; the seconds its transport must wait before reading on."""
        link.pause = 0.0
        self._perform(self._hub.receive(link, frame, self._now()))
        if link.timer is None:  # no heartbeat: a resumed session's calls may need one
            self._rearm(link)
        return link.pause

    def lost(self, link: PeerLink, code: int | None = None) -> None:
        if link.timer is not None:
            link.timer.cancel()
            link.timer = None
        if link.authenticating is not None:
            link.authenticating.cancel()
        self._perform(self._hub.lost(link, self._now(), code))
        self._arm_expiry()

    def _arm_expiry(self) -> None:
        """One timer for the hub's parked sessions, at the earliest expiry."""
        when = self._hub.next_expiry()
        timer = self._expiry
        if timer is not None and (when is None or timer.when() != when):
            timer.cancel()
            self._expiry = timer = None
        if when is not None and timer is None and self._loop is not None:
            self._expiry = self._loop.call_at(when, self._expire)

    def _expire(self) -> None:
        self._expiry = None
        self._perform(self._hub.expire(self._now()))
        self._arm_expiry()

    def _arm(self, link: PeerLink) -> None:
        deadline = self._hub.next_deadline(link)
        if deadline is not None and self._loop is not None:
            link.timer = self._loop.call_at(deadline, self._tick, link)

    def _rearm(self, link: PeerLink) -> None:
        """The hub's deadline for ``link`` may have come closer (a call started)."""
        deadline = self._hub.next_deadline(link)
        timer = link.timer
        if deadline is not None and (timer is None or deadline < timer.when()):
            if timer is not None:
                timer.cancel()
            link.timer = None
            self._arm(link)

    def _tick(self, link: PeerLink) -> None:
        link.timer = None
        self._perform(self._hub.tick(link, self._now()))
        self._arm(link)

    def _now(self) -> float:
        loop = self._loop  # bound on the first connection: everything after runs on it
        return (loop or asyncio.get_running_loop()).time()

    async def close(self, code: int = CLOSE_GOING_AWAY, reason: str = "server closing") -> None:
        """Close every connection (1001 unless told) and cancel the running calls."""
        for link in self._hub.connections:
            link.peer.close(code, reason)
        tasks = [*self._calls.values(), *self._tasks]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def unbind(self) -> None:
        """Send what is still queued and let the loop go: until the next
        ``bind_loop``, notifications run in the mutating thread."""
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        self._perform(self._hub.flush())
        self._registry.set_deliver(None)
        self._registry.set_on_durable(None)
        self._registry.on_idle_start = None
        if self._hibernation is not None:
            self._hibernation.cancel()
            self._hibernation = None
        self._loop = self._loop_thread = None

    # -- actions ----------------------------------------------------------------

    def _perform(self, actions: list[HubAction[PeerLink]]) -> None:
        for action in actions:
            match action:
                case Transmit(targets, frame):
                    _send_all(targets, frame)
                case Invoke():
                    self._invoke(action)
                case ThrottleReads(link, seconds):
                    link.pause = seconds
                case Cancel(link, call_id):
                    task = self._calls.pop((link, call_id), None)
                    if task is not None:
                        task.cancel()
                case Disconnect(link, code, reason):
                    link.peer.close(code, reason)
                case Authenticate():
                    self._authenticate(action)
                case (
                    ClaimCall()
                    | SaveResult()
                    | CountSubscriber()
                    | FetchSession()
                    | RecordSession()
                    | DropSession()
                ):
                    if self._cluster is not None:
                        self._cluster.perform(action)

    def _invoke(self, invoked: Invoke[PeerLink]) -> None:
        error: Exception | None = None
        cause = CAUSE.set(invoked.cause)  # the changes it makes name the call
        started = time.perf_counter()
        try:
            value = invoked.function(invoked.call.args, invoked.context)
            if type(value) not in _PLAIN and inspect.isawaitable(value):
                task = asyncio.ensure_future(value)  # the task inherits the cause
                link = invoked.conn
                self._calls[link, invoked.call.id] = task
                task.add_done_callback(partial(self._finished, invoked, started))
                self._rearm(link)  # its deadline may be the connection's next one
                return
        except Exception as exc:
            error = exc
        finally:
            CAUSE.reset(cause)
        self._timed(invoked, started, error)
        if error is None:
            self._perform(self._hub.returned(invoked, value))
        else:
            self._perform(self._hub.raised(invoked, error))

    def _finished(
        self, invoked: Invoke[PeerLink], started: float, task: asyncio.Future[Any]
    ) -> None:
        key = (invoked.conn, invoked.call.id)
        if self._calls.get(key) is task:
            del self._calls[key]
        if task.cancelled():
            return  # the hub cancelled it, and answered the caller if one waits
        exc = task.exception()
        if exc is None:
            self._timed(invoked, started, None)
            self._perform(self._hub.returned(invoked, task.result()))
        else:  # a BaseException (SystemExit...) also stops the loop: still answer the caller
            error = exc if isinstance(exc, Exception) else RuntimeError(repr(exc))
            self._timed(invoked, started, error)
            self._perform(self._hub.raised(invoked, error))

    def _timed(self, invoked: Invoke[PeerLink], started: float, error: Exception | None) -> None:
        if self.on_call is not None:
            self.on_call(invoked.call.name, time.perf_counter() - started, error is not None)

    def _authenticate(self, action: Authenticate[PeerLink]) -> None:
        link = action.conn
        try:
            verdict = action.authenticate(action.info)
        except Exception as exc:
            self._perform(self._hub.refused(link, exc))
            return
        if inspect.isawaitable(verdict):
            link.authenticating = self._spawn(self._judge(link, verdict))
        else:
            self._perform(self._hub.accepted(link, verdict, self._now()))

    async def _judge(self, link: PeerLink, pending: Awaitable[Any]) -> None:
        try:
            user = await pending
        except Exception as exc:
            self._perform(self._hub.refused(link, exc))
        else:
            self._perform(self._hub.accepted(link, user, self._now()))
        finally:
            link.authenticating = None

    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Future[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task


_PLAIN = frozenset({FrozenDict, FrozenList, dict, list, str, int, float, bool, type(None)})
"""What a handler returns that cannot be awaitable: the JSON types, checked
by type before ``inspect.isawaitable`` (an ABC check) is asked."""


def _send_all(links: tuple[PeerLink, ...], frame: bytes) -> None:
    """Send the same bytes to many connections, batched per transport class."""
    if len(links) == 1:
        links[0].peer.send(frame)
        return
    groups: dict[type[Peer], list[Peer]] = {}
    for link in links:
        groups.setdefault(type(link.peer), []).append(link.peer)
    for kind, peers in groups.items():
        kind.send_many(peers, frame)
