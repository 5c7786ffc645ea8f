"""``Server``: the user's façade over the store registry, the hub and the transports.

Stores live in :mod:`.store` (their handles in :mod:`.handle`), the rules of
serving them in the sans-I/O :mod:`.hub`, the event loop in :mod:`.driver`,
sockets in :mod:`.transports`. This module only wires them together and
checks the user's arguments.

Fan-out: each change is encoded once and the same bytes go to every
subscriber; the encoded snapshot of an instance is cached per version, so a
thousand clients (re)subscribing cost one encode.

Storage (:mod:`.storage`): the registry records every change in a journal,
one writer thread commits it in groups, the hub holds each call's result
until the changes before it are committed.

Cluster (:mod:`.cluster`, ``docs/CLUSTER.md``): the registry's instances are
replicas of logs in Redis, committed there before they change here; the
:class:`~.cluster.node.ClusterNode` listens to Redis once the loop is bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import math
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeVar, overload

from ..channels import LIFECYCLE_CHANNELS, is_reserved
from ..frozen import JSON
from .access import AccessRules, CallContext, ConnectInfo, FunctionRule, OriginPolicy, StoreRule
from .clients import Resume
from .driver import LoopDriver, PeerLink, new_id
from .functions import FunctionTable
from .handle import StoreHandle
from .history import History
from .hub import HubCore, pack_event_data
from .inspection import INSPECT_PREFIX, Inspection, InspectRule, check_inspect
from .lifecycle import LifecycleEvents
from .limits import Limits, RateLimit
from .loops import LoopChoice, loop_factory
from .presence import Presence, board_name, check_presence
from .session import CLOSE_RESTART, DEFAULT_LIMITS
from .storage.base import Storage, storage_from
from .storage.journal import Journal
from .storage.writer import GroupCommit
from .store import Change, Removed, StoreRegistry
from .tls import StrPath, server_context
from .transports.asgi import AsgiEndpoint

if TYPE_CHECKING:
    from ssl import SSLContext

    from websockets.asyncio.server import Server as WebSocketServer

    from .cluster.node import ClusterNode
    from .cluster.serving import ClusterServing

__all__ = ["Hotstate", "Server"]

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])


class Server:
    """Stores, functions and events, served over WebSocket.

    Options (keyword-only), each a bound on what one client may cost (the
    README's "How it behaves" lists what the client sees when it hits one):

    - ``max_message_size``: largest frame accepted from a client (1 MiB); a
      larger one closes the connection with 1009.
    - ``max_send_buffer``: bytes queued for one client, counting everything
      queued for it (4 MiB); above it the client is closed with 1013 and the
      others carry on.
    - ``close_timeout``: seconds a close may take (5); then the connection is
      dropped, so a client that never reads is released anyway.
    - ``max_subscriptions``: store subscriptions per connection (256).
    - ``max_pending_calls``: calls running for one session (64).
    - ``call_timeout``: seconds an async handler may run before it is
      cancelled and its caller gets ``RpcError("timeout")`` (30; None: no limit).
    - ``max_instances``: live instances per dynamic store that a subscription
      may add to (10,000).
    - ``max_name_length``: characters in an instance name a client sends (256).
    - ``rate_limit``: ``RateLimit(rate, burst)`` or ``(rate, burst)``: messages
      per second per connection (200, bursts of 500; a frame counts one per
      started 64 KiB). Over it, the server reads from that client more slowly.
      None: no limit.
    - ``compression``: ``None`` (default) or ``"deflate"`` for per-message
      deflate on the standalone server. Off by default: one encoded frame is
      shared by all subscribers, while deflate compresses per connection, and
      small MessagePack patches gain little from it.
    - ``storage``: ``None`` (default: in memory only), ``"sqlite:///abs/path.db"``,
      ``"sqlite:relative/path.db"`` or a :class:`~.storage.Storage`. Every
      instance's state and version is saved; a function's result is sent once
      the changes before it are committed, other changes are committed within
      50 ms (:data:`~.storage.writer.COMMIT_BOUND`); a restart finds every
      instance as it was, without ``on_create``. Opened here: a bad file raises
      :class:`~hotstate_rx.StorageError` naming it.
    - ``cluster``: ``"redis://host:6379/0"`` (or ``rediss://``, ``unix://``):
      share every store with the other servers on that Redis (API.md §10,
      ``docs/CLUSTER.md``); Redis is then the storage, so ``storage`` must be
      None. A change is committed in Redis before it is applied: a mutation
      made while Redis does not answer raises
      :class:`~hotstate_rx.ClusterUnavailable` within ``cluster_timeout``
      seconds (2). ``cluster_namespace`` prefixes every key ("hotstate").
    - ``hibernate_after``: with storage (or a cluster), seconds after which a dynamic
      instance without subscribers, unused, leaves memory (60); its next use
      loads it back without ``on_create``. ``None``: never.
    - ``history``: how much of each instance's recent history is kept, so a
      client that re-subscribes gets the changes it missed instead of a
      snapshot: a :class:`~hotstate_rx.server.history.History` (default: the
      last 1,000 changes within 256 KiB per instance, 64 MiB in all), or an
      int, the number of changes (0 keeps none).
    - ``resume_window``: seconds a dropped client's session is kept for it to
      resume (60): same client id, the events it missed, the answers to its
      calls, each call run once. 0 turns resuming off.

    Security (README "Security"):

    - ``authenticate``: ``fn(info: ConnectInfo) -> user`` (plain or async),
      asked once per connection before anything is served to it; returning
      None or raising ``Unauthorized`` refuses it (``err`` ``unauthorized``,
      close 4401). What it returns is ``ctx.user``. Without it every client
      that reaches the port is in, with ``ctx.user`` None.
    - ``allowed_origins``: browser origins allowed besides same-origin pages
      (``None``: none; ``["*"]``: all); others get HTTP 403 before the upgrade.
    - ``expose_errors``: send every exception's message to the caller
      (development only); by default only ``RpcError`` messages are sent, and
      anything else reads ``"internal error (ref …)"``.
    - ``inspect``: who may read the inspector's built-in ``"$inspect:…"``
      stores (:mod:`.inspection`, ``hotstate inspect``): ``None`` (default)
      nobody, ``True`` everyone (development), ``fn(ctx) -> bool`` per
      connection; refused: ``err`` ``subscribe`` ``"forbidden"``.

    Cluster (README "Cluster", docs/CLUSTER.md):

    - ``cluster``: a Redis URL (``"redis://host:6379/0"``) shared by every
      node of the cluster; None (default): this process alone.
    - ``cluster_namespace``: the prefix of every key in Redis ("hotstate").
    - ``cluster_timeout``: seconds a step may wait for Redis (2) before it
      fails with :class:`~hotstate_rx.ClusterUnavailable`; a node whose
      heartbeat is 3 x this late counts as dead.
    """

    def __init__(
        self,
        *,
        max_message_size: int = DEFAULT_LIMITS.max_message_size,
        max_send_buffer: int = DEFAULT_LIMITS.max_send_buffer,
        close_timeout: float = DEFAULT_LIMITS.close_timeout,
        max_subscriptions: int = DEFAULT_LIMITS.max_subscriptions,
        max_pending_calls: int = DEFAULT_LIMITS.max_pending_calls,
        call_timeout: float | None = DEFAULT_LIMITS.call_timeout,
        max_instances: int = DEFAULT_LIMITS.max_instances,
        max_name_length: int = DEFAULT_LIMITS.max_name_length,
        rate_limit: RateLimit | tuple[float, int] | None = DEFAULT_LIMITS.rate_limit,
        compression: str | None = None,
        storage: str | Storage | None = None,
        hibernate_after: float | None = 60.0,
        history: History | int = History(),  # noqa: B008 - frozen, shared safely
        resume_window: float = 60.0,
        authenticate: Callable[[ConnectInfo], Any] | None = None,
        allowed_origins: Sequence[str] | None = None,
        expose_errors: bool = False,
        inspect: bool | InspectRule | None = None,
        cluster: str | None = None,
        cluster_namespace: str = "hotstate",
        cluster_timeout: float = 2.0,
    ) -> None:
        if compression not in (None, "deflate"):
            raise ValueError(f"compression must be None or 'deflate', got {compression!r}")
        if hibernate_after is not None and not _positive_seconds(hibernate_after):
            raise ValueError(
                f"hibernate_after must be seconds > 0 or None, got {hibernate_after!r}"
            )
        if authenticate is not None and not callable(authenticate):
            raise TypeError(f"authenticate must be callable (info) -> user, got {authenticate!r}")
        if not isinstance(expose_errors, bool):
            raise TypeError(f"expose_errors must be a bool, got {expose_errors!r}")
        if isinstance(rate_limit, tuple):
            rate_limit = RateLimit(*rate_limit)
        self._limits = Limits(
            max_message_size=max_message_size,
            max_send_buffer=max_send_buffer,
            close_timeout=close_timeout,
            max_subscriptions=max_subscriptions,
            max_pending_calls=max_pending_calls,
            call_timeout=call_timeout,
            max_instances=max_instances,
            max_name_length=max_name_length,
            rate_limit=rate_limit,
        )
        self._origins = OriginPolicy(allowed_origins)
        self._access = AccessRules()
        self._compression = compression
        self._functions = FunctionTable()
        self._events = LifecycleEvents()
        if cluster is not None and storage is not None:
            raise ValueError(
                "cluster= keeps every store in Redis, which is the storage: "
                "drop storage= (or cluster= for a single server)"
            )
        history = _history(history)
        self._cluster: ClusterNode | None = None
        if cluster is not None:
            from .cluster.node import ClusterNode

            self._cluster = ClusterNode(
                cluster, namespace=cluster_namespace, timeout=cluster_timeout, keep=history.patches
            )
        journal = None
        if storage is not None:
            backend = storage_from(storage)
            journal = Journal(backend, backend.open())
        replication = None if self._cluster is None else self._cluster.replication
        self._registry = StoreRegistry(
            journal,
            hibernate_after=None if journal is None and replication is None else hibernate_after,
            clock=time.monotonic,
            replication=replication,
        )
        self._registry.on_created = partial(self._events.fire, "store_created")
        self._registry.on_deleted = partial(self._events.fire, "store_deleted")
        self._registry.on_hibernated = partial(self._events.fire, "store_hibernated")
        self._registry.on_error = lambda exc: self._events.fire("error", exc, None)
        self._writer = None if journal is None else GroupCommit(journal, self._registry.report)
        self._handles: dict[str, StoreHandle] = {}
        self._presence = Presence(
            self._registry, self.context, lambda exc, cid: self._events.fire("error", exc, cid)
        )
        self._events.on("subscribe", self._presence.joined)
        self._events.on("unsubscribe", self._presence.left)
        self._hub: HubCore[PeerLink] = HubCore(
            self._registry,
            self._functions,
            self._events,
            owner=self,
            new_id=new_id,
            limits=self._limits,
            history=history,
            resume=Resume(window=resume_window),
            authenticate=authenticate,
            access=self._access,
            expose_errors=expose_errors,
            clustered=cluster is not None,
        )
        self._serving: ClusterServing | None = None
        if self._cluster is not None:
            from .cluster.serving import ClusterServing

            self._serving = ClusterServing(
                self._cluster, self._hub, self._registry, self._presence, window=resume_window
            )
        self._driver = LoopDriver(self._hub, self._registry, self._serving)
        if self._cluster is not None:
            self._cluster.attach(self._registry)
            self._driver.on_bind = self._cluster.start
        rule = check_inspect(inspect)
        self._inspection = Inspection(self._registry, self._hub, self._access, rule)
        if inspect:  # timings and errors are kept only where someone may read them
            self._driver.on_call = self._inspection.called
            self._events.on("error", self._inspection.error)
        self._listener: WebSocketServer | None = None
        self._asgi: AsgiEndpoint | None = None
        self.port: int | None = None
        """The port ``listen()`` bound (useful with ``port=0``)."""

    # -- stores ----------------------------------------------------------------

    def create_store(
        self,
        name: str,
        data: Any,
        *,
        access: StoreRule | None = None,
        presence: bool | Callable[[CallContext], JSON] = False,
    ) -> StoreHandle:
        """Register ``"Name"`` (static) or ``"Prefix:*"`` (dynamic) with default ``data``.

        ``access(ctx, key) -> bool`` decides each client subscription (``key``
        is None for a static store); it runs before the instance is used, so a
        refused subscription creates nothing. Refused: ``err`` ``subscribe``
        ``"forbidden"``. Without it every accepted client may subscribe.

        ``presence=True`` (or ``fn(ctx) -> metadata``) also keeps who is
        subscribed to each instance in the store ``"Prefix@presence:key"``
        (``"Name@presence"`` for a static store), as ``{client_id: metadata}``,
        readable under the same ``access`` rule (:mod:`.presence`).

        Raises ValueError for a duplicate or malformed name, TypeError (naming
        the path) for data that is not JSON-like or an ``access`` that is not
        a synchronous ``(ctx, key)`` function."""
        rule = AccessRules.check_store_rule(access)
        metadata = check_presence(presence)
        if isinstance(name, str) and name.startswith(INSPECT_PREFIX):
            raise ValueError(f"store {name!r}: names starting with {INSPECT_PREFIX!r} are built in")
        board = None if metadata is None else board_name(name)
        if board is not None and (board in self._handles or self._registry.resolve(board)):
            raise ValueError(f"store {board!r} (the presence of {name!r}) is already registered")
        handle = StoreHandle(self._registry, self._registry.define(name, data))
        self._access.set_store(name, rule)
        self._handles[name] = handle
        if board is not None and metadata is not None:
            self._presence.track(name, self.create_store(board, {}, access=access), metadata)
        return handle

    @property
    def limits(self) -> Limits:
        """The bounds this server holds every client to (its options)."""
        return self._limits

    @property
    def stores(self) -> Mapping[str, StoreHandle]:
        """Handles by registered name (``"Todos"``, ``"Room:*"``), read-only."""
        return MappingProxyType(self._handles)

    def has_store(self, full_name: str) -> bool:
        """The instance ``full_name`` (``"Room:general"``) exists now."""
        return self._registry.has(full_name)

    def delete_store(self, full_name: str) -> None:
        """Delete an instance by full name (KeyError if no store serves the name)."""
        self._registry.delete(full_name)

    def list_stores(self) -> list[str]:
        """Full names of the instances that exist now (built-in ones aside)."""
        return [n for n in self._registry.names() if not n.startswith(INSPECT_PREFIX + ":")]

    @property
    def epoch(self) -> str:
        """The history this server's versions belong to: kept across a restart
        with the same storage closed cleanly, new after a crash and at every
        start without storage; in a cluster, the same on every node (new only
        when Redis lost its data). Versions of two epochs must never be mixed."""
        return self._registry.epoch

    def watch_stores(self, listener: Callable[[Change | Removed], None]) -> Callable[[], None]:
        """Call ``listener`` with every later :class:`Change`/:class:`Removed` of every
        instance, in mutation order, on the server's loop (see
        :meth:`StoreHandle.watch`); returns the function that stops it."""
        return self._registry.watch(listener)

    # -- functions -------------------------------------------------------------

    @overload
    def handle(self, name: str, *, access: FunctionRule | None = None) -> Callable[[F], F]: ...
    @overload
    def handle(self, name: str, fn: F, *, access: FunctionRule | None = None) -> F: ...

    def handle(
        self, name: str, fn: F | None = None, *, access: FunctionRule | None = None
    ) -> F | Callable[[F], F]:
        """Register ``fn(args)`` or ``fn(args, ctx)`` (plain or async) under ``name``;
        without ``fn``, a decorator. Sync functions run on the loop: offload
        blocking work (``asyncio.to_thread``) in an async function.

        ``access(ctx) -> bool`` decides each call before the handler runs;
        refused, the caller gets ``RpcError("forbidden")``. Raise ``RpcError``
        in ``fn`` for failures the caller should read (bad arguments): any
        other exception reaches it as ``"internal error (ref …)"``."""
        rule = AccessRules.check_function_rule(access)

        def register(f: F) -> F:
            self._functions.register(name, f)
            self._access.set_function(name, rule)
            return f

        return register if fn is None else register(fn)

    # -- events ----------------------------------------------------------------

    def on(self, event: str, listener: Callable[..., Any]) -> Callable[[], None]:
        """Listen to a server event (``connection``, ``disconnect``, ``subscribe``,
        ``unsubscribe``, ``store_created``, ``store_deleted``, ``store_hibernated``,
        ``error``); returns the function that removes the listener. Unknown
        names raise ValueError."""
        return self._events.on(event, listener)

    def emit(self, channel: str, data: JSON = None, *, client_id: str | None = None) -> None:
        """Send an event to every connected client, or to ``client_id`` only.

        ``data`` is checked here (TypeError naming the path). Safe from any
        thread; ordered with store changes. An unknown ``client_id`` (e.g. one
        that just left) is ignored and logged at debug level."""
        if not isinstance(channel, str) or not channel:
            raise TypeError(f"an event channel must be a non-empty str, got {channel!r}")
        if is_reserved(channel):
            raise ValueError(
                f"event channel {channel!r} is reserved for the client's lifecycle events "
                f"({', '.join(LIFECYCLE_CHANNELS)}, in any spelling): pick another name"
            )
        if client_id is not None and (not isinstance(client_id, str) or not client_id):
            raise TypeError(f"client_id must be a non-empty str or None, got {client_id!r}")
        packed = pack_event_data(data, channel)
        if self._serving is not None:  # every node, this one too, delivers it from the bus
            self._serving.emit(channel, packed, client_id)
            return
        self._registry.schedule(self._hub.emit, channel, packed, client_id)

    # -- clients ---------------------------------------------------------------

    def disconnect(self, client_id: str, reason: str = "") -> None:
        """Close the connection of ``client_id`` (close code 4000 with ``reason``).

        The client reconnects as usual and goes through ``authenticate`` again:
        refuse it there to keep it out. Safe from any thread; an unknown
        ``client_id`` is ignored."""
        if not isinstance(client_id, str) or not client_id:
            raise TypeError(f"client_id must be a non-empty str, got {client_id!r}")
        if not isinstance(reason, str):
            raise TypeError(f"reason must be a str, got {reason!r}")
        self._registry.schedule(self._hub.disconnect, client_id, reason)

    def context(self, client_id: str) -> CallContext | None:
        """The ``ctx`` of a connected client (its ``user``, for a lifecycle
        listener that gets only the id), or None."""
        return self._hub.context(client_id)

    # -- serving ---------------------------------------------------------------

    async def listen(
        self,
        port: int = 4400,
        host: str = "localhost",
        path: str | None = None,
        heartbeat: float = 30.0,
        *,
        ssl: SSLContext | None = None,
        certfile: StrPath | None = None,
        keyfile: StrPath | None = None,
    ) -> None:
        """Accept WebSocket connections; returns once listening (``self.port`` is set).

        ``path=None`` accepts every path; ``heartbeat=0`` disables keepalive.
        TLS (``wss://``): ``certfile`` (PEM, the certificate and its chain) and
        ``keyfile``, or ``ssl``, a server ``SSLContext`` of your own (client
        certificates, say); a file that does not load raises ``ValueError``
        naming it, here. Serves on the running loop (see :mod:`.loops`)."""
        from .transports import websocket

        if self._listener is not None:
            raise RuntimeError("this server is already listening; close() it first")
        _check_heartbeat(heartbeat)
        context = server_context(ssl, certfile, keyfile)
        self._driver.bind_loop()
        if self._cluster is not None:
            await self._cluster.start()
        if self._serving is not None:
            await self._serving.ready()
        self._listener = await websocket.listen(
            self._driver,
            host=host,
            port=port,
            path=path,
            heartbeat=heartbeat,
            limits=self._limits,
            compression=self._compression,
            origins=self._origins,
            ssl=context,
        )
        self.port = next(iter(self._listener.sockets)).getsockname()[1]
        scheme = "ws" if context is None else "wss"
        log.info("listening on %s://%s:%s%s", scheme, host, self.port, path or "/")

    def run(
        self,
        port: int = 4400,
        host: str = "localhost",
        path: str | None = None,
        heartbeat: float = 30.0,
        *,
        ssl: SSLContext | None = None,
        certfile: StrPath | None = None,
        keyfile: StrPath | None = None,
        loop: LoopChoice = "auto",
    ) -> None:
        """Listen until interrupted (Ctrl-C, or SIGTERM from a process manager),
        then close cleanly: every client gets 1001 and reconnects at once, and
        storage is committed. Blocks.

        Meant for a program's main: it prints where it listens and when it
        stopped, and a port already in use ends the program with a message
        (``SystemExit``) instead of a traceback. The TLS options are
        :meth:`listen`'s. ``loop``: ``"auto"`` runs on uvloop when it is
        installed (``pip install hotstate-rx[speed]``), ``"asyncio"`` on the
        standard loop, ``"uvloop"`` insists."""
        factory = loop_factory(loop)
        scheme = "ws" if ssl is None and certfile is None else "wss"

        async def serve() -> None:
            terminated = asyncio.Event()
            # No signal handlers on Windows, nor outside the main thread: Ctrl-C
            # only (asyncio says so with RuntimeError, uvloop with ValueError).
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, terminated.set)
            await self.listen(
                port, host, path, heartbeat, ssl=ssl, certfile=certfile, keyfile=keyfile
            )
            where = f"{scheme}://{host}:{self.port}{path or '/'}"
            print(f"listening on {where} (Ctrl-C stops)", flush=True)
            try:
                await terminated.wait()
            finally:
                await self.close()

        try:
            with asyncio.Runner(loop_factory=factory) as runner:
                runner.run(serve())
        except KeyboardInterrupt:
            pass
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            raise SystemExit(
                f"cannot listen on {host}:{port}: the port is already in use "
                "(is another server running?); stop it or choose another port"
            ) from None
        print("stopped", flush=True)

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
            self._driver,
            heartbeat=heartbeat,
            limits=self._limits,
            origins=self._origins,
            on_shutdown=self.close,
        )

    async def close(self) -> None:
        """Stop listening, close every connection (1001), cancel running calls,
        then commit every change to storage and close it. Idempotent; the
        stores keep their state, but with storage they cannot change any more
        (``StorageError``). ``on_terminate`` does not run: the instances live on
        in storage; it is for ``delete()`` and ``reset()``."""
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        if self._serving is None:
            await self._driver.close()
        else:  # the sessions stay in Redis: their clients resume on another node
            await self._driver.close(CLOSE_RESTART, "this node leaves: resume on another")
        if listener is not None:
            await listener.wait_closed()
        if self._serving is not None:  # its counts and presence go, while it can write
            await self._serving.close()
        self._registry.close()
        self._driver.unbind()
        writer, self._writer = self._writer, None
        if writer is not None:
            await asyncio.to_thread(writer.close)
        if self._cluster is not None:
            await self._cluster.close()


Hotstate = Server
"""The name of the server class in the original library's API."""


def _positive_seconds(value: object) -> bool:
    return (
        not isinstance(value, bool)
        and isinstance(value, int | float)
        and math.isfinite(value)
        and value > 0
    )


def _history(history: History | int) -> History:
    """``history=N`` keeps N changes per instance (0: none), within the default byte bounds."""
    if isinstance(history, History):
        return history
    if isinstance(history, bool) or not isinstance(history, int):
        raise TypeError(f"history must be a History or an int, got {history!r}")
    return History(patches=history)


def _check_heartbeat(heartbeat: float) -> None:
    if isinstance(heartbeat, bool) or not isinstance(heartbeat, int | float) or heartbeat < 0:
        raise ValueError(f"heartbeat must be a number of seconds >= 0, got {heartbeat!r}")
