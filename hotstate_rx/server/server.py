"""The hub: stores, functions and events served to WebSocket clients on asyncio.

The rules of a connection live in :mod:`hotstate_rx.server.session`, stores in
:mod:`hotstate_rx.server.store`, sockets in :mod:`hotstate_rx.server.transports`; this module
wires them together on one event loop.

Threads and order: store mutations may come from any thread. Their
notifications go through the registry's one ordered queue, which the hub
drains on its loop (``call_soon_threadsafe`` from other threads, at once on
the loop thread), so every client sees changes in mutation order, and the
patches a function causes are sent before its result. The loop is the one
``listen()`` runs on, or, with ``attach``/``asgi``, the one of the first
connection; before that, notifications run synchronously in the mutating thread.

Fan-out: each change is encoded once and the same bytes go to every
subscriber; the encoded snapshot of an instance is cached per version, so a
thousand clients (re)subscribing cost one encode.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import secrets
import threading
from collections.abc import Awaitable, Callable, Iterable, Mapping
from functools import partial
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeVar, overload

from ..frozen import freeze
from ..protocol import (
    Call,
    Deleted,
    ErrorMessage,
    EventMessage,
    PatchMessage,
    Result,
    ServerMessage,
    Snapshot,
    encode,
)
from .functions import CallContext, FunctionTable
from .lifecycle import EventTable
from .session import (
    CLOSE_GOING_AWAY,
    Action,
    CallRequested,
    Close,
    Misbehaved,
    Opened,
    Reply,
    Session,
    SubscribeRequested,
    UnsubscribeRequested,
)
from .store import Change, Removed, StoreHandle, StoreRegistry
from .transports import Peer
from .transports.asgi import AsgiEndpoint

if TYPE_CHECKING:
    from websockets.asyncio.server import Server as WebSocketServer

__all__ = ["Hotstate", "Server"]

log = logging.getLogger("hotstate_rx")

F = TypeVar("F", bound=Callable[..., Any])


class _Connection:
    """One client as the hub tracks it; the :class:`~hotstate_rx.server.transports.Link`
    its transport reports to."""

    __slots__ = ("loop", "peer", "server", "session", "timer")

    def __init__(
        self, server: Server, loop: asyncio.AbstractEventLoop, peer: Peer, session: Session
    ) -> None:
        self.server = server
        self.loop = loop
        self.peer = peer
        self.session = session
        self.timer: asyncio.TimerHandle | None = None

    def receive(self, frame: bytes | str) -> None:
        self.server._receive(self, frame)

    def lost(self) -> None:
        self.server._lost(self)


class Server:
    """Stores, functions and events, served over WebSocket.

    Options (keyword-only):

    - ``max_message_size``: largest frame accepted from a client (1 MiB); a
      larger one closes the connection with 1009.
    - ``max_send_buffer``: bytes allowed to wait for one slow client (4 MiB);
      above it the client is closed with 1013 and the others carry on.
    - ``compression``: ``None`` (default) or ``"deflate"`` for per-message
      deflate on the standalone server. Off by default: one encoded frame is
      shared by all subscribers, while deflate compresses per connection, and
      small MessagePack patches gain little from it.
    """

    def __init__(
        self,
        *,
        max_message_size: int = 1 << 20,
        max_send_buffer: int = 4 << 20,
        compression: str | None = None,
    ) -> None:
        for option, value in (
            ("max_message_size", max_message_size),
            ("max_send_buffer", max_send_buffer),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{option} must be a positive int, got {value!r}")
        if compression not in (None, "deflate"):
            raise ValueError(f"compression must be None or 'deflate', got {compression!r}")
        self._max_message_size = max_message_size
        self._max_send_buffer = max_send_buffer
        self._compression = compression
        self._functions = FunctionTable()
        self._events = EventTable()
        self._registry = StoreRegistry()
        self._registry.on_created = partial(self._events.fire, "store_created")
        self._registry.on_deleted = partial(self._events.fire, "store_deleted")
        self._registry.on_error = lambda exc: self._events.fire("error", exc, None)
        self._registry.watch(self._fan_out)
        self._links: set[_Connection] = set()
        self._clients: dict[str, _Connection] = {}
        self._subscribers: dict[str, dict[_Connection, None]] = {}
        self._snapshots: dict[str, tuple[int, bytes]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._listener: WebSocketServer | None = None
        self._asgi: AsgiEndpoint | None = None
        self.port: int | None = None
        """The port ``listen()`` bound (useful with ``port=0``)."""

    # -- stores ----------------------------------------------------------------

    def create_store(self, name: str, data: Any) -> StoreHandle:
        """Register ``"Name"`` (static) or ``"Prefix:*"`` (dynamic) with default ``data``.

        Raises ValueError for a duplicate or malformed name, TypeError (naming
        the path) for data that is not JSON-like."""
        return self._registry.create_store(name, data)

    @property
    def stores(self) -> Mapping[str, StoreHandle]:
        """Handles by registered name (``"Todos"``, ``"Room:*"``), read-only."""
        return MappingProxyType(self._registry.handles)

    def has_store(self, full_name: str) -> bool:
        """The instance ``full_name`` (``"Room:general"``) exists now."""
        return self._registry.has(full_name)

    def delete_store(self, full_name: str) -> None:
        """Delete an instance by full name (KeyError if no store serves the name)."""
        self._registry.delete(full_name)

    def list_stores(self) -> list[str]:
        """Full names of the instances that exist now."""
        return self._registry.names()

    def watch_stores(self, listener: Callable[[Change | Removed], None]) -> Callable[[], None]:
        """Call ``listener`` with every later :class:`Change`/:class:`Removed` of every
        instance, in mutation order, on the server's loop (see
        :meth:`StoreHandle.watch`); returns the function that stops it."""
        return self._registry.watch(listener)

    # -- functions -------------------------------------------------------------

    @overload
    def handle(self, name: str) -> Callable[[F], F]: ...
    @overload
    def handle(self, name: str, fn: F) -> F: ...

    def handle(self, name: str, fn: F | None = None) -> F | Callable[[F], F]:
        """Register ``fn(args)`` or ``fn(args, ctx)`` (plain or async) under ``name``;
        without ``fn``, a decorator. Sync functions run on the loop: offload
        blocking work (``asyncio.to_thread``) in an async function."""
        if fn is not None:
            self._functions.register(name, fn)
            return fn

        def decorator(f: F) -> F:
            self._functions.register(name, f)
            return f

        return decorator

    # -- events ----------------------------------------------------------------

    def on(self, event: str, listener: Callable[..., Any]) -> Callable[[], None]:
        """Listen to a server event (``connection``, ``disconnect``, ``subscribe``,
        ``unsubscribe``, ``store_created``, ``store_deleted``, ``error``); returns
        the function that removes the listener. Unknown names raise ValueError."""
        return self._events.on(event, listener)

    def emit(self, channel: str, data: Any = None, client_id: str | None = None) -> None:
        """Send an event to every connected client, or to ``client_id`` only.

        ``data`` is checked here (TypeError naming the path). Safe from any
        thread; ordered with store changes. An unknown ``client_id`` (e.g. one
        that just left) is ignored and logged at debug level."""
        if not isinstance(channel, str) or not channel:
            raise TypeError(f"an event channel must be a non-empty str, got {channel!r}")
        frame = _encode_value(EventMessage(channel, freeze(data)), f"event {channel!r}")
        self._registry.schedule(self._send_event, frame, client_id)

    def _send_event(self, frame: bytes, client_id: str | None) -> None:
        if client_id is None:
            _send_all(self._clients.values(), frame)
            return
        conn = self._clients.get(client_id)
        if conn is None:
            log.debug("hotstate_rx: emit to unknown client %r ignored", client_id)
        else:
            conn.peer.send(frame)

    # -- serving ---------------------------------------------------------------

    async def listen(
        self,
        port: int = 4400,
        host: str = "localhost",
        path: str | None = None,
        heartbeat: float = 30.0,
    ) -> None:
        """Accept WebSocket connections; returns once listening (``self.port`` is set).

        ``path=None`` accepts every path; ``heartbeat=0`` disables keepalive."""
        from .transports import websocket

        if self._listener is not None:
            raise RuntimeError("this server is already listening; close() it first")
        _check_heartbeat(heartbeat)
        self._bind_loop()
        self._listener = await websocket.listen(
            self,
            host=host,
            port=port,
            path=path,
            heartbeat=heartbeat,
            max_message_size=self._max_message_size,
            max_send_buffer=self._max_send_buffer,
            compression=self._compression,
        )
        self.port = next(iter(self._listener.sockets)).getsockname()[1]
        log.info("hotstate_rx: listening on ws://%s:%s%s", host, self.port, path or "/")

    def run(
        self,
        port: int = 4400,
        host: str = "localhost",
        path: str | None = None,
        heartbeat: float = 30.0,
    ) -> None:
        """Listen until interrupted (Ctrl-C), then close cleanly. Blocks."""

        async def serve() -> None:
            await self.listen(port=port, host=host, path=path, heartbeat=heartbeat)
            try:
                await asyncio.Event().wait()
            finally:
                await self.close()

        try:
            asyncio.run(serve())
        except KeyboardInterrupt:
            log.info("hotstate_rx: interrupted, server closed")

    def attach(self, app: Any, path: str = "/ws", heartbeat: float = 30.0) -> None:
        """Serve on WebSocket route ``path`` of a Starlette-family ASGI app
        (Starlette, FastAPI, NiceGUI's ``app``), sharing its port."""
        from .transports.asgi import attach

        _check_heartbeat(heartbeat)
        attach(app, self._endpoint(heartbeat), path)

    @property
    def asgi(self) -> AsgiEndpoint:
        """A plain ASGI app (heartbeat 30 s) for any ASGI framework or server; it
        answers HTTP with 426 and closes the hub's connections at lifespan shutdown."""
        if self._asgi is None:
            self._asgi = self._endpoint(30.0)
        return self._asgi

    def _endpoint(self, heartbeat: float) -> AsgiEndpoint:
        return AsgiEndpoint(
            self,
            heartbeat=heartbeat,
            max_send_buffer=self._max_send_buffer,
            on_shutdown=self.close,
        )

    async def close(self) -> None:
        """Stop listening, close every connection (1001), cancel running calls.
        Idempotent; the stores keep their state."""
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        for conn in list(self._links):
            conn.peer.close(CLOSE_GOING_AWAY, "server closing")
        if listener is not None:
            await listener.wait_closed()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._registry.close()
        self._registry.set_deliver(None)
        self._loop = self._loop_thread = None

    # -- the loop --------------------------------------------------------------

    def _bind_loop(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._loop, self._loop_thread = loop, threading.get_ident()
            self._registry.set_deliver(self._deliver)
        return loop

    def _deliver(self, flush: Callable[[], None]) -> None:
        loop = self._loop
        if loop is None or threading.get_ident() == self._loop_thread:
            flush()
            return
        try:
            loop.call_soon_threadsafe(flush)
        except RuntimeError:  # the loop closed under us: deliver here rather than never
            flush()

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- connections (the Hub protocol of hotstate_rx.server.transports) ---------------

    def open(self, peer: Peer, heartbeat: float) -> _Connection:
        """A transport accepted ``peer``; return the link it reports frames to."""
        loop = self._bind_loop()
        session = Session(
            secrets.token_urlsafe(8),
            now=loop.time(),
            heartbeat=heartbeat,
            max_message_size=self._max_message_size,
        )
        conn = _Connection(self, loop, peer, session)
        self._links.add(conn)
        self._schedule_tick(conn)
        return conn

    def _receive(self, conn: _Connection, frame: bytes | str) -> None:
        self._perform(conn, conn.session.receive(frame, conn.loop.time()))

    def _lost(self, conn: _Connection) -> None:
        if conn not in self._links:
            return
        self._links.discard(conn)
        if conn.timer is not None:
            conn.timer.cancel()
        client_id = conn.session.client_id
        for store in conn.session.closed():
            self._drop_subscriber(conn, store)
        if self._clients.pop(client_id, None) is not None:
            self._events.fire("disconnect", client_id)

    def _schedule_tick(self, conn: _Connection) -> None:
        deadline = conn.session.next_deadline()
        if deadline is not None:
            conn.timer = conn.loop.call_at(deadline, self._tick, conn)

    def _tick(self, conn: _Connection) -> None:
        if conn in self._links:
            self._perform(conn, conn.session.tick(conn.loop.time()))
            self._schedule_tick(conn)

    def _perform(self, conn: _Connection, actions: list[Action]) -> None:
        for action in actions:
            try:
                self._act(conn, action)
            except Exception as exc:  # a bug must not take the loop or other clients down
                log.exception("hotstate_rx: internal error handling %r", action)
                self._events.fire("error", exc, conn.session.client_id)

    def _act(self, conn: _Connection, action: Action) -> None:
        match action:
            case Reply(message):
                self._send(conn, message)
            case Close(code, reason):
                log.info("hotstate_rx: closing %s: %s (%s)", conn.session.client_id, reason, code)
                conn.peer.close(code, reason)
            case Opened(client_id):
                self._clients[client_id] = conn
                self._events.fire("connection", client_id)
            case SubscribeRequested(store):
                self._subscribe(conn, store)
            case UnsubscribeRequested(store):
                self._drop_subscriber(conn, store)
            case CallRequested(call):
                self._call(conn, call)
            case Misbehaved(error):
                client_id = conn.session.client_id
                log.info("hotstate_rx: bad input from %s: %s", client_id, error)
                self._events.fire("error", error, client_id if client_id in self._clients else None)

    def _send(self, conn: _Connection, message: ServerMessage) -> None:
        conn.peer.send(encode(message))

    # -- subscriptions ---------------------------------------------------------

    def _subscribe(self, conn: _Connection, store: str) -> None:
        resolved = self._registry.resolve(store)
        if resolved is None:
            self._send(conn, ErrorMessage("subscribe", f"unknown store '{store}'", store))
            return
        handle, key = resolved
        session = conn.session
        with self._registry.lock:
            # Deliver what is queued first: then the snapshot below is exactly
            # the state after every change the client will not get as a patch.
            self._registry.flush()
            resync = store in session.subscriptions
            try:
                if resync:  # it exists: a deletion would have ended the subscription
                    current = handle.snapshot(key) or _vanished(store)
                else:
                    inst = self._registry.acquire(handle, key)
                    current = (inst.state, inst.version)
                frame = self._snapshot_frame(store, *current)
            except Exception as exc:
                log.exception("hotstate_rx: cannot serve %r to %s", store, session.client_id)
                self._events.fire("error", exc, session.client_id)
                self._send(conn, ErrorMessage("subscribe", f"cannot serve '{store}': {exc}", store))
                return
            session.subscribed(store, current[1])
            self._subscribers.setdefault(store, {})[conn] = None
            conn.peer.send(frame)
        if not resync:
            self._events.fire("subscribe", store, session.client_id)

    def _snapshot_frame(self, store: str, state: Any, version: int) -> bytes:
        cached = self._snapshots.get(store)
        if cached is not None and cached[0] == version:
            return cached[1]
        frame = _encode_value(Snapshot(store, version, state), f"store {store!r}")
        self._snapshots[store] = (version, frame)
        return frame

    def _drop_subscriber(self, conn: _Connection, store: str) -> None:
        subscribers = self._subscribers.get(store)
        if subscribers is None or conn not in subscribers:
            return
        del subscribers[conn]
        if not subscribers:
            del self._subscribers[store]
        self._events.fire("unsubscribe", store, conn.session.client_id)
        idle = self._registry.release(store)
        if idle is not None:
            try:
                idle()
            except Exception as exc:
                log.exception("hotstate_rx: on_idle of %r raised", store)
                self._events.fire("error", exc, None)

    def _fan_out(self, event: Change | Removed) -> None:
        """The hub's own ``watch_stores`` consumer: changes to subscribers."""
        store = event.store
        if isinstance(event, Removed):
            self._snapshots.pop(store, None)
            subscribers = self._subscribers.pop(store, {})
            targets = [c for c in subscribers if c.session.removed(store)]
            if targets:
                _send_all(targets, encode(Deleted(store)))
            return
        listening = self._subscribers.get(store)
        if listening is None:
            return
        targets = [c for c in listening if c.session.advance(store, event.version)]
        if not targets:
            return
        if event.patches is None:
            frame = self._snapshot_frame(store, event.state, event.version)
        else:
            frame = _encode_value(
                PatchMessage(store, event.version, event.patches), f"store {store!r}"
            )
        _send_all(targets, frame)

    # -- calls -----------------------------------------------------------------

    def _call(self, conn: _Connection, call: Call) -> None:
        function = self._functions.get(call.name)
        if function is None:
            self._reply(conn, Result(call.id, error=f"unknown function '{call.name}'"))
            return
        try:
            value = function(call.args, CallContext(conn.session.client_id, self))
        except Exception as exc:
            self._call_failed(conn, call, exc)
            return
        if inspect.isawaitable(value):
            self._spawn(self._finish_call(conn, call, value))
        else:
            self._call_done(conn, call, value)

    async def _finish_call(self, conn: _Connection, call: Call, pending: Awaitable[Any]) -> None:
        try:
            value = await pending
        except Exception as exc:
            self._call_failed(conn, call, exc)
        else:
            self._call_done(conn, call, value)

    def _call_done(self, conn: _Connection, call: Call, value: Any) -> None:
        try:
            result = Result(call.id, freeze(value))
            frame = _encode_value(result, f"the result of {call.name!r}")
        except TypeError as exc:
            problem = f"function '{call.name}' returned a value that is not JSON-like: {exc}"
            log.error("hotstate_rx: %s", problem)
            self._events.fire("error", TypeError(problem), conn.session.client_id)
            self._reply(conn, Result(call.id, error=problem))
            return
        self._registry.flush()  # the patches this call caused go first
        conn.peer.send(frame)

    def _call_failed(self, conn: _Connection, call: Call, exc: Exception) -> None:
        log.warning("hotstate_rx: function %r raised: %r", call.name, exc, exc_info=exc)
        self._events.fire("error", exc, conn.session.client_id)
        self._reply(conn, Result(call.id, error=str(exc) or type(exc).__name__))

    def _reply(self, conn: _Connection, result: Result) -> None:
        self._registry.flush()
        self._send(conn, result)


Hotstate = Server
"""The name of the server class in the original library's API."""


def _send_all(conns: Iterable[_Connection], frame: bytes) -> None:
    """Send the same bytes to many connections, batched per transport class."""
    groups: dict[type[Peer], list[Peer]] = {}
    for conn in conns:
        groups.setdefault(type(conn.peer), []).append(conn.peer)
    for kind, peers in groups.items():
        kind.send_many(peers, frame)


def _encode_value(message: ServerMessage, what: str) -> bytes:
    try:
        return encode(message)
    except (OverflowError, ValueError, TypeError) as exc:  # e.g. an int beyond 64 bits
        raise TypeError(f"{what} cannot be encoded: {exc}") from None


def _vanished(store: str) -> Any:
    raise LookupError(f"store {store!r} is gone")


def _check_heartbeat(heartbeat: float) -> None:
    if isinstance(heartbeat, bool) or not isinstance(heartbeat, int | float) or heartbeat < 0:
        raise ValueError(f"heartbeat must be a number of seconds >= 0, got {heartbeat!r}")
