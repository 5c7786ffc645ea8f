"""``Client`` (``Hotstate`` in the original's API): the face over the core and its driver.

The façade turns user calls into core inputs and carries out the core's
actions: frames to the driver's socket, states to handles, results to call
futures, payloads to event streams. Actions are dispatched in order through
one queue, so a callback that calls back into the client (an ``on_change``
that makes a call) never sees or causes out-of-order delivery.

Everything runs on the event loop that was running at ``connect()``;
callbacks and observers are invoked there, synchronously, in the order the
server sent the changes.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from ssl import SSLContext
from types import TracebackType
from typing import Any

from reactivex import Observable, abc
from reactivex import create as create_observable
from reactivex.disposable import CompositeDisposable, Disposable

from ..channels import check_channel
from ..errors import Disconnected, HotstateError, RpcTimeout
from ..rx import operators
from .actions import (
    Action,
    CloseSocket,
    Deliver,
    Emit,
    EndStore,
    Settle,
    StatusChanged,
    StoresChanged,
    Transmit,
)
from .connection import ClientDriver
from .core import ClientCore, Optimistic
from .handle import SubscriptionHandle
from .options import ClientOptions, Token, check_seconds, check_urls
from .status import ConnectionStatus
from .streams import EventChannels, StatusStream, StoresStream

_Step = Action | Callable[[], None]
"""What the dispatch queue holds: the core's actions, and the client's own
steps that must run after the actions queued before them."""


class Client:
    """A hotstate client. ``Client(url)`` connects at once; ``Client()``
    waits for :meth:`connect`. Options are keyword-only (see
    :class:`~hotstate_rx.client.options.ClientOptions`).

    ``Client(urls=[...])`` fails over between servers (the nodes of a
    cluster): it connects to the first; when an attempt fails or the
    connection drops, the next attempt goes to the next URL at once
    (wrapping around), and the reconnect backoff grows per round of failed
    URLs. The session is resumed on whichever node answers, when it can be
    (§8 of the contract); :attr:`url` and the ``"connected"`` event's ``url``
    say which node that is.

    For a server with ``authenticate``: ``token="..."`` (sent in ``hello``) or
    ``token=fn`` (plain or async, asked again before every reconnect, for
    expiring tokens), and/or ``headers={...}`` on the upgrade request. A
    refusal raises ``AuthError`` from ``ready()``, pending calls and
    subscriptions' ``ready()``, and is reported on ``"error"``; the client
    does not retry credentials the server refused.

    ``wss://`` URLs verify the server's certificate; ``ssl=`` an
    ``ssl.SSLContext`` for a private CA or a client certificate. A refused
    certificate is a ``CertificateError`` naming the host, raised and reported
    like a refusal: the client stops until ``connect()`` is called again."""

    def __init__(
        self,
        url: str | None = None,
        *,
        urls: Sequence[str] | None = None,
        reconnect: bool = True,
        reconnect_delay: float = 1.0,
        reconnect_max: float = 10.0,
        rpc_timeout: float = 10.0,
        open_timeout: float = 10.0,
        close_timeout: float = 2.0,
        max_message_size: int | None = 2**24,
        compression: str | None = None,
        token: Token | None = None,
        headers: Mapping[str, str] | None = None,
        ssl: SSLContext | None = None,
    ) -> None:
        self._options = ClientOptions(
            reconnect=reconnect,
            reconnect_delay=reconnect_delay,
            reconnect_max=reconnect_max,
            rpc_timeout=rpc_timeout,
            open_timeout=open_timeout,
            close_timeout=close_timeout,
            max_message_size=max_message_size,
            compression=compression,
            token=token,
            headers=headers,
            ssl=ssl,
        )
        self._core = ClientCore(
            reconnect=reconnect,
            reconnect_delay=reconnect_delay,
            reconnect_max=reconnect_max,
            renewable_token=callable(token),
        )
        self._status = StatusStream()
        self._events = EventChannels()
        self._stores: StoresStream | None = None  # made on first use: following costs
        self._handles: dict[str, list[SubscriptionHandle]] = {}
        self._calls: dict[int, _Waiting] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        """The loop of the last :meth:`connect`, where everything runs."""
        self._sweep: asyncio.TimerHandle | None = None
        """One timer for every pending call's timeout, at the earliest deadline."""
        self._ready_waiters: list[asyncio.Future[None]] = []
        self._driver: ClientDriver | None = None
        self._retired: list[ClientDriver] = []  # stopped, maybe still closing their socket
        self._pending: deque[_Step] = deque()
        self._dispatching = False
        self._reported: HotstateError | None = None  # told to a ready(): not logged again
        if url is not None or urls is not None:
            self.connect(url, urls=urls)

    def __repr__(self) -> str:
        return f"<hotstate_rx.client.Client {self.url or '(not connected)'} {self.status.value}>"

    # ---------------------------------------------------------------- connection

    @property
    def url(self) -> str | None:
        """The server URL the client is connected to; while it is not, the
        one its next attempt goes to (of :attr:`urls`); None before the first
        :meth:`connect`."""
        return self._core.url if self._core.urls else None

    @property
    def urls(self) -> tuple[str, ...]:
        """Every server URL of the last :meth:`connect`, in the order they are
        tried (one for ``connect(url)``; empty before the first)."""
        return self._core.urls

    @property
    def status(self) -> StatusStream:
        """Observable of ``"connecting" | "connected" | "reconnecting" |
        "disconnected"``, current value first; ``client.status.value`` now."""
        return self._status

    @property
    def client_id(self) -> str | None:
        """The id the server gave this client in its last hello."""
        return self._core.client_id

    @property
    def recovered(self) -> bool | None:
        """Whether the last connection resumed the session after a drop (same
        client id, nothing missed, calls run once); None before the first."""
        return self._core.recovered

    def connect(self, url: str | None = None, *, urls: Sequence[str] | None = None) -> None:
        """Start connecting to ``url``, or to the first of ``urls`` with
        failover to the others, and return at once; needs a running event
        loop. Each URL is ``ws://`` or ``wss://`` (``ssl=`` applies to every
        ``wss://`` one); exactly one of ``url`` and ``urls`` is given, and a
        URL is listed once. Subscriptions made before are sent as soon as the
        socket opens."""
        targets = check_urls(url, urls, self._options.ssl)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError(
                "connect() needs a running asyncio event loop: call it from async code"
            ) from None
        self._dispatch(self._core.connect(targets))
        self._loop = loop
        if self._driver is not None:  # gave up earlier; its socket may still be closing
            self._driver.stop()
            self._retired.append(self._driver)
        self._driver = ClientDriver(self._options, self._core, self._dispatch)
        self._driver.start()

    async def ready(self) -> None:
        """Return once the socket is open and the server said hello (no store
        data implied). Raises ``AuthError`` when the server refused the
        credentials, ``CertificateError`` when the client refused the server's
        TLS certificate, ``ProtocolError`` when it is incompatible and
        ``Disconnected`` when the client stopped trying."""
        status = self._core.status
        if status is ConnectionStatus.CONNECTED:
            return
        if self._core.destroyed:
            raise self._disconnected()
        if status is ConnectionStatus.DISCONNECTED and self._driver is not None:
            raise self._core.failure or self._disconnected()
        waiter = asyncio.get_running_loop().create_future()
        self._ready_waiters.append(waiter)
        try:
            await waiter
        finally:
            self._ready_waiters.remove(waiter)

    def destroy(self) -> None:
        """Disconnect and stop reconnecting, now: pending calls raise
        ``Disconnected``; handles, ``status`` and event streams complete.
        Idempotent; ``await close()`` also waits for the socket to close."""
        if self._core.destroyed:
            return
        if self._driver is not None:
            self._driver.stop()
        # Queued behind the shutdown's actions: observers see "disconnected"
        # and the failed calls before their streams complete, even when
        # destroy() is called from a callback in the middle of a dispatch.
        self._dispatch([*self._core.shutdown(), self._end_streams])

    def _end_streams(self) -> None:
        if self._sweep is not None:  # every call has failed: no deadline is left
            self._sweep.cancel()
            self._sweep = None
        handles = [h for hs in self._handles.values() for h in hs]
        self._handles.clear()
        closed = self._disconnected()
        for handle in handles:
            handle._end(closed)
        self._status.on_completed()
        if self._stores is not None:
            self._stores.on_completed()
        self._events.complete()

    async def close(self) -> None:
        """``destroy()``, then wait until the driver's task has finished."""
        self.destroy()
        for driver in [*self._retired, self._driver]:
            if driver is not None:
                await driver.wait_stopped()
        self._retired.clear()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -------------------------------------------------------------------- stores

    def subscribe(
        self, name: str, on_change: Callable[[Any], Any] | None = None
    ) -> SubscriptionHandle:
        """A new handle on store ``name`` (e.g. ``"Todos"``, ``"Room:general"``).
        ``on_change(state)`` fires on every change, the first snapshot (or the
        current state, if another handle already has it) included."""
        if on_change is not None and not callable(on_change):
            raise TypeError(f"on_change must be callable, got {on_change!r}")
        actions = self._core.subscribe(name)
        handle = SubscriptionHandle(name, self._release, on_change)
        self._handles.setdefault(name, []).append(handle)
        if self._core.has_data(name):
            handle._deliver(self._core.view(name), self._core.server_state(name))
        self._dispatch(actions)
        return handle

    def select(self, name: str, selector: Callable[[Any], Any]) -> Observable[Any]:
        """Observable of ``selector(state)`` of store ``name``, emitted only
        when that slice changes (see :func:`hotstate_rx.rx.operators.select`).
        Each subscription holds its own handle, released on dispose."""
        if not callable(selector):
            raise TypeError(f"selector must be callable, got {selector!r}")

        def subscribe(
            observer: abc.ObserverBase[Any], scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            handle = self.subscribe(name)
            inner = handle.pipe(operators.select(selector)).subscribe(observer, scheduler=scheduler)
            return CompositeDisposable(inner, Disposable(handle.release))

        return create_observable(subscribe)

    @property
    def stores(self) -> StoresStream:
        """Observable of a ``FrozenDict`` ``{full store name: state}`` of every
        store this client subscribes to (at least one live handle) that has
        data, current mapping first; ``client.stores.value`` now.

        A new mapping is emitted whenever a subscribed store's visible state
        changes (optimistic view included, as ``get_state()`` shows it) and
        when a store with data is unsubscribed or deleted; a store appears with
        its first snapshot. Unchanged entries are the very same objects from
        one mapping to the next. It emits an empty mapping, then completes,
        when the client is destroyed. The bindings' ``stores`` follow it (the
        original's ``client.bindZustand``). Nothing is spent on it until it is
        first used; from then on, one shallow copy per change.
        """
        if self._stores is None:
            self._stores = StoresStream(self._core.follow_stores())
            if self._core.destroyed:
                self._stores.on_completed()
        return self._stores

    def subscriptions(self) -> list[str]:
        """The names of the stores this client subscribes to (at least one live
        handle), with data or not yet."""
        return list(self._core.subscriptions())

    def _release(self, handle: SubscriptionHandle) -> None:
        handles = self._handles.get(handle.name, [])
        if handle in handles:
            handles.remove(handle)
            if not handles:
                del self._handles[handle.name]
        self._dispatch(self._core.release(handle.name))

    # ----------------------------------------------------------------- functions

    async def call(
        self,
        name: str,
        args: Any = None,
        *,
        store: str | None = None,
        optimistic: Optimistic | None = None,
        timeout: float | None = None,
    ) -> Any:
        """Call server function ``name`` with ``args`` and return its result.

        Raises ``RpcError`` (the server's message), ``RpcTimeout`` after
        ``timeout`` (default ``rpc_timeout``) seconds, or ``Disconnected``. A
        call made before the connection is ready waits for it, within the
        same timeout. With ``store`` and ``optimistic(state) -> state``, every
        handle on ``store`` shows the optimistic view until the answer; it is
        rolled back on failure and replaced by the server's state on success.
        """
        limit = self._options.rpc_timeout if timeout is None else check_seconds(timeout, "timeout")
        try:
            call_id, actions = self._core.call(name, args, store=store, optimistic=optimistic)
        except Disconnected:
            raise self._disconnected() from None
        loop = self._loop or asyncio.get_running_loop()  # before connect(): the caller's
        future: asyncio.Future[Any] = loop.create_future()
        deadline = loop.time() + limit
        self._calls[call_id] = _Waiting(future, name, limit, deadline)
        # One timer for all calls rather than one each (or asyncio.timeout()):
        # deadlines mostly come in order, so it is rarely re-armed.
        sweep = self._sweep
        if sweep is None or deadline < sweep.when():
            if sweep is not None:
                sweep.cancel()
            self._sweep = loop.call_at(deadline, self._expire, deadline)
        try:
            self._dispatch(actions)
            return await future
        finally:
            del self._calls[call_id]
            rollback = self._core.forget_call(call_id)
            if rollback:  # an optimistic view to take back
                self._dispatch(rollback)

    # -------------------------------------------------------------------- events

    def on(self, channel: str, handler: Callable[..., Any]) -> Callable[[], None]:
        """Call ``handler(payload)`` for each event on ``channel``; returns the
        function that removes it. A zero-argument handler is called without
        the payload.

        ``channel`` is a lifecycle channel, which the client fires itself:
        ``"connected"`` (a :class:`~hotstate_rx.client.Connected`: ``client_id``,
        ``recovered`` and the server's ``url``), ``"disconnected"`` (None),
        ``"reconnecting"`` ({"attempt", "delay", "reason", "url"}: the retry's
        number, the seconds until it, why the last attempt failed, in words,
        and the URL the retry goes to),
        ``"error"`` (the exception),
        ``"store_deleted"`` (full store name); or any other name, a channel the
        server emits on. A lifecycle name spelt another way (``"storeDeleted"``,
        ``"Connected"``, ``"store-deleted"``) raises ``ValueError`` listing the
        lifecycle channels (the rule: :mod:`hotstate_rx.channels`)."""
        check_channel(channel)
        if not callable(handler):
            raise TypeError(f"handler must be callable, got {handler!r}")
        return self._events.on(channel, handler)

    def events(self, channel: str) -> Observable[Any]:
        """Observable of the payloads of ``channel`` (lifecycle channels too;
        names are checked as by :meth:`on`)."""
        check_channel(channel)
        return self._events.stream(channel)

    # ------------------------------------------------------------------ dispatch

    def _dispatch(self, steps: Iterable[_Step]) -> None:
        self._pending.extend(steps)
        if self._dispatching:  # re-entered from a callback: the outer loop runs them
            return
        self._dispatching = True
        try:
            while self._pending:
                self._perform(self._pending.popleft())
        finally:
            self._dispatching = False

    def _perform(self, action: _Step) -> None:
        match action:
            case Transmit(message):
                if self._driver is not None:
                    self._driver.send(message)
            case Settle(call_id, value, error):
                waiting = self._calls.get(call_id)
                future = None if waiting is None else waiting.future
                if future is not None and not future.done():
                    if isinstance(error, Disconnected):
                        future.set_exception(self._disconnected())
                    elif error is not None:
                        future.set_exception(error)
                    else:
                        future.set_result(value)
            case Deliver(name, state, server_state):
                for handle in list(self._handles.get(name, ())):
                    handle._deliver(state, server_state)
            case Emit(channel, payload):
                reported, self._reported = payload is self._reported, None
                self._events.emit(channel, payload, reported=reported)
            case EndStore(name, error):
                told = False
                for handle in self._handles.pop(name, []):
                    told = handle._end(error, fail_stream=error is not None) or told
                if told:
                    self._reported = error
            case StoresChanged(stores):
                if self._stores is not None:
                    self._stores.on_next(stores)
            case StatusChanged(status):
                self._status.on_next(status)
                if status is ConnectionStatus.CONNECTED:
                    self._wake_waiters(None)
                elif status is ConnectionStatus.DISCONNECTED:
                    failure = self._core.failure
                    if self._wake_waiters(failure or self._disconnected()) and failure:
                        self._reported = failure
            case CloseSocket(code, reason):
                if self._driver is not None:
                    self._driver.close_socket(code, reason)
            case _:  # a step of the client's own, queued behind actions
                action()

    def _wake_waiters(self, error: Exception | None) -> bool:
        """Settle every waiting ``ready()``; whether there was one."""
        woken = False
        for waiter in self._ready_waiters:
            if not waiter.done():
                woken = True
                if error is None:
                    waiter.set_result(None)
                else:
                    waiter.set_exception(error)
        return woken

    # ------------------------------------------------------------------ messages

    def _disconnected(self) -> Disconnected:
        """``Disconnected``, saying from what and why (the original's message first)."""
        return Disconnected(f"Disconnected: {self._connection_problem()}")

    def _connection_problem(self) -> str:
        servers = ", ".join(self._core.urls)
        if self._core.destroyed:
            return f"the client was closed ({servers or 'never connected'})"
        if self._core.failure is not None:
            return f"gave up on {servers}: {self._core.failure}"
        if self._driver is None:
            return "connect() was never called"
        if self._driver.failure is not None:
            return self._driver.failure
        return f"still connecting to {self.url}"

    def _expire(self, due: float) -> None:
        """The timer's deadline came: fail the calls whose own has (with
        ``RpcTimeout``), then wait for the earliest of the others."""
        self._sweep = None
        loop = asyncio.get_running_loop()
        now = max(due, loop.time())
        soonest: float | None = None
        for waiting in list(self._calls.values()):
            if waiting.future.done():
                continue
            if waiting.deadline <= now:
                waiting.future.set_exception(self._timeout(waiting.name, waiting.limit))
            elif soonest is None or waiting.deadline < soonest:
                soonest = waiting.deadline
        if soonest is not None:
            self._sweep = loop.call_at(soonest, self._expire, soonest)

    def _timeout(self, name: str, limit: float) -> RpcTimeout:
        message = f"RPC timeout: no answer to {name!r} within {limit:g} s"
        if self._core.status is ConnectionStatus.CONNECTED:
            message += f" from {self.url}"
        else:
            message += f"; {self._connection_problem()}"
        return RpcTimeout(message, function=name)


@dataclass(slots=True)
class _Waiting:
    """A call whose caller waits: for its answer, or until ``deadline`` (loop time)."""

    future: asyncio.Future[Any]
    name: str
    limit: float
    deadline: float


Hotstate = Client
"""The name of the client class in the original library's API."""

__all__ = ["Client", "Hotstate"]
