"""The hub's rules, sans I/O: connections, subscriptions, fan-out, calls.

:class:`HubCore` is to the server what :mod:`.session` is to one connection
and :class:`~hotstate_rx.client.core.ClientCore` to the client. Its driver
(:mod:`.driver`) tells it what happened: a connection opened, a frame
arrived, a connection's timer fired, a connection was lost, a function
returned or raised, store changes are waiting. It answers with the I/O to
perform, in order: :class:`Transmit` bytes, :class:`Disconnect` a
connection, :class:`Invoke` a function, :class:`Authenticate` a client,
:class:`Cancel` a running call, :class:`ThrottleReads` a connection. It
decides:

- who is in: with ``authenticate``, a client that said hello is served
  nothing (no hello back, no snapshot, no call, no event, broadcasts
  included) until the driver reports the verdict with :meth:`HubCore.accepted`
  or :meth:`HubCore.refused`; then each connection has one
  :class:`~.access.CallContext` (``ctx``, with ``ctx.user``);
- what it may do: a store's ``access`` rule decides each subscription before
  the instance is used (a refused one creates nothing and runs no hook), a
  function's rule each call before its handler (see :mod:`.access`);
- what a client may read of a failure: an ``RpcError``'s message, otherwise
  ``"internal error (ref …)"``, the ref in the log line with the traceback;
- who is subscribed to which instance, and counts the uses of each instance
  so that ``on_idle`` runs when the last subscriber leaves;
- what a subscriber receives: one snapshot (encoded once per version and
  cached for every other subscriber), then each later change it does not
  hold yet, then ``del`` when the instance is deleted;
- order: a snapshot is taken only after every queued change has gone out,
  and the changes a function caused go out before its result;
- which function a call runs, and what the caller gets back;
- what one client may cost (its :class:`~.limits.Limits`): subscriptions
  and pending calls per connection, call deadlines, instances per dynamic
  store, instance names, and the release of the transient instances that
  only its subscriptions kept alive. Cheap checks come before expensive
  work: a call's arguments are decoded only once it will run.

A connection is an opaque, hashable key chosen by the driver (``C``). The
hub holds no socket, loop, task or clock: ``now`` is passed in. Store changes
reach the hub through the registry's ordered queue, which the driver drains
with :meth:`HubCore.flush` on the hub's thread; every method returns the
actions produced since the last one, including the fan-out of changes that a
lifecycle listener or a hook made on the way.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Final, Generic, TypeVar

from ..errors import ProtocolError, RpcError, Unauthorized
from ..frozen import freeze
from ..protocol import (
    Call,
    Deleted,
    ErrorMessage,
    PatchMessage,
    RawCall,
    Result,
    ServerMessage,
    Snapshot,
    clip,
    encode,
)
from .access import AccessRules, CallContext, ConnectInfo, client_failure
from .functions import Function, FunctionTable
from .lifecycle import LifecycleEvents
from .limits import Limits, check_instance_key
from .session import (
    CLOSE_DISCONNECTED,
    CLOSE_INTERNAL,
    DEFAULT_LIMITS,
    AuthenticateRequested,
    CallRequested,
    Close,
    Misbehaved,
    Opened,
    Reply,
    Session,
    SubscribeRequested,
    Throttle,
    UnsubscribeRequested,
)
from .session import Action as SessionAction
from .store import Change, Definition, Removed, StoreRegistry

__all__ = [
    "CALL_TIMEOUT",
    "FORBIDDEN",
    "TOO_MANY_CALLS",
    "Authenticate",
    "Cancel",
    "Disconnect",
    "HubAction",
    "HubCore",
    "Invoke",
    "ThrottleReads",
    "Transmit",
    "encode_value",
]

log = logging.getLogger(__name__)

C = TypeVar("C")

FORBIDDEN = "forbidden"
"""The message of a subscription or a call that an ``access`` rule refused."""


@dataclass(frozen=True, slots=True)
class Transmit(Generic[C]):
    """Send the same encoded frame to each of ``targets``."""

    targets: tuple[C, ...]
    frame: bytes


@dataclass(frozen=True, slots=True)
class Disconnect(Generic[C]):
    """Close ``conn`` with a WebSocket close code (what is queued goes first)."""

    conn: C
    code: int
    reason: str


@dataclass(frozen=True, slots=True)
class Invoke(Generic[C]):
    """Run ``function(call.args, context)`` for ``conn``, then report how it ended
    with :meth:`HubCore.returned` or :meth:`HubCore.raised`."""

    conn: C
    call: Call
    function: Function
    context: CallContext


@dataclass(frozen=True, slots=True)
class Authenticate(Generic[C]):
    """Run ``authenticate(info)`` (plain or async) for ``conn``, then report the
    verdict: :meth:`HubCore.accepted` with what it returned, or
    :meth:`HubCore.refused` with what it raised."""

    conn: C
    info: ConnectInfo
    authenticate: Callable[[ConnectInfo], Any]


@dataclass(frozen=True, slots=True)
class Cancel(Generic[C]):
    """Cancel the running call ``call_id`` of ``conn`` (its caller left, or its
    deadline passed and the caller was answered); its outcome is not wanted."""

    conn: C
    call_id: int


@dataclass(frozen=True, slots=True)
class ThrottleReads(Generic[C]):
    """Read no frame from ``conn`` for ``seconds`` (its rate limit)."""

    conn: C
    seconds: float


HubAction = Transmit[C] | Disconnect[C] | Invoke[C] | Authenticate[C] | Cancel[C] | ThrottleReads[C]

TOO_MANY_CALLS = "limit: too many pending calls"
"""The error of a call beyond ``max_pending_calls``."""

CALL_TIMEOUT = "timeout"
"""The error of a call cancelled at ``call_timeout``."""


class HubCore(Generic[C]):
    """The rules of one server's hub (see the module docstring).

    ``owner`` is what handlers see as ``ctx.server``; ``events`` receives the
    lifecycle events (``connection``, ``subscribe``, ``error``, ...), fired at
    the moment the hub decides them. ``authenticate``, ``access`` and
    ``expose_errors`` are the server's options of the same names; ``limits``
    bounds what each client may cost."""

    def __init__(
        self,
        registry: StoreRegistry,
        functions: FunctionTable,
        events: LifecycleEvents,
        *,
        owner: Any,
        limits: Limits = DEFAULT_LIMITS,
        authenticate: Callable[[ConnectInfo], Any] | None = None,
        access: AccessRules | None = None,
        expose_errors: bool = False,
    ) -> None:
        self._registry = registry
        self._functions = functions
        self._events = events
        self._owner = owner
        self.limits: Final = limits
        self._now = 0.0
        """The time of the latest event the driver reported (its clock)."""
        self._running: dict[C, dict[int, tuple[Invoke[C], float]]] = {}
        """Connection -> its running calls: id -> (the Invoke, its deadline), in
        deadline order (one timeout for all, so the order they started)."""
        self._sessions: dict[C, Session] = {}
        self._clients: dict[str, C] = {}
        """Connections that finished the handshake, by client id."""
        self._subscribers: dict[str, dict[C, None]] = {}
        """Instance name -> its subscribed connections, in subscription order."""
        self._snapshots: dict[str, tuple[int, bytes]] = {}
        """Instance name -> (version, encoded snapshot): one encode per version."""
        self._out: list[HubAction[C]] = []
        self._authenticate = authenticate
        self._access = access or AccessRules()
        self._expose_errors = expose_errors
        self._infos: dict[C, ConnectInfo] = {}
        """Connections waiting for ``authenticate``: what their upgrade said."""
        self._contexts: dict[C, CallContext] = {}
        """Accepted connections: their ``ctx``."""
        registry.watch(self._fan_out)

    # -- what the driver reports ----------------------------------------------

    def open(
        self,
        conn: C,
        client_id: str,
        *,
        now: float,
        heartbeat: float,
        info: ConnectInfo | None = None,
    ) -> None:
        """A transport accepted ``conn`` (its upgrade request: ``info``); the
        client must now say hello."""
        self._now = now
        authenticating = self._authenticate is not None
        self._sessions[conn] = Session(
            client_id,
            now=now,
            heartbeat=heartbeat,
            limits=self.limits,
            authenticate=authenticating,
        )
        if authenticating:
            self._infos[conn] = info or ConnectInfo()

    def receive(self, conn: C, frame: bytes | str, now: float) -> list[HubAction[C]]:
        """One frame from ``conn``."""
        session = self._sessions.get(conn)
        if session is not None:
            self._now = now
            self._apply(conn, session, session.receive(frame, now))
        return self._take()

    def tick(self, conn: C, now: float) -> list[HubAction[C]]:
        """``conn``'s deadline (:meth:`next_deadline`) has come."""
        session = self._sessions.get(conn)
        if session is not None:
            self._now = now
            self._expire_calls(conn, session)
            self._apply(conn, session, session.tick(now))
        return self._take()

    def next_deadline(self, conn: C) -> float | None:
        """When :meth:`tick` must run next for ``conn`` (None: no timer needed)."""
        session = self._sessions.get(conn)
        if session is None:
            return None
        deadline = session.next_deadline()
        running = self._running.get(conn)
        if running and self.limits.call_timeout is not None:
            _, first = next(iter(running.values()))
            return first if deadline is None else min(first, deadline)
        return deadline

    def lost(self, conn: C) -> list[HubAction[C]]:
        """``conn`` is gone: cancel its running calls, end its subscriptions
        (``on_idle`` where it was the last, then the release of transient
        instances)."""
        session = self._sessions.pop(conn, None)
        if session is None:
            return self._take()
        for call_id in self._running.pop(conn, {}):
            self._out.append(Cancel(conn, call_id))
        self._infos.pop(conn, None)
        client_id = session.client_id
        for store in session.closed():  # "unsubscribe" listeners still see the ctx
            self._drop_subscriber(conn, client_id, store)
        self._contexts.pop(conn, None)
        if self._clients.get(client_id) == conn:
            del self._clients[client_id]
            self._events.fire("disconnect", client_id)
        return self._take()

    def returned(self, invoked: Invoke[C], value: Any) -> list[HubAction[C]]:
        """An :class:`Invoke` returned ``value``: the changes it caused, then its
        result (nothing if the call was answered already: cancelled, timed out)."""
        conn, call, client_id = invoked.conn, invoked.call, invoked.context.client_id
        if not self._settle(invoked):
            return self._take()
        try:
            frame = encode_value(Result(call.id, freeze(value)), f"the result of {call.name!r}")
        except TypeError as exc:
            problem = TypeError(
                f"function '{call.name}' returned a value that is not JSON-like: {exc}"
            )
            message = self._failure(problem, str(problem), client_id)
            self._answer(conn, Result(call.id, error=message))
        else:
            self._flush()  # the changes this call caused go first
            self._send(conn, frame)
        return self._take()

    def raised(self, invoked: Invoke[C], exc: Exception) -> list[HubAction[C]]:
        """An :class:`Invoke` raised: the caller gets what it may read of it."""
        call = invoked.call
        if not self._settle(invoked):
            return self._take()
        what = f"function {call.name!r} raised"
        message = self._failure(exc, what, invoked.context.client_id)
        self._answer(invoked.conn, Result(call.id, error=message))
        return self._take()

    def accepted(self, conn: C, user: Any, now: float) -> list[HubAction[C]]:
        """``authenticate`` returned ``user`` for ``conn``: it is in (``None``
        refuses it, as ``Unauthorized`` would). Late verdicts are ignored."""
        session = self._sessions.get(conn)
        if session is not None:
            self._now = now
            if user is None:
                log.info("authenticate refused %s (it returned None)", session.client_id)
                self._apply(conn, session, session.refuse("unauthorized"))
            else:
                self._apply(conn, session, session.accept(user, now))
        return self._take()

    def refused(self, conn: C, exc: Exception) -> list[HubAction[C]]:
        """``authenticate`` raised ``exc`` for ``conn``. ``Unauthorized``: the
        client gets its message and close 4401. Anything else is the server's
        failure, not the client's: logged with a ref, close 1011 (the client
        may try again later)."""
        session = self._sessions.get(conn)
        if session is not None:
            if isinstance(exc, Unauthorized):
                reason = str(exc) or "unauthorized"
                log.info("authenticate refused %s: %s", session.client_id, reason)
                actions = session.refuse(reason)
            else:
                message = self._failure(exc, "authenticate raised", None)
                actions = session.close(CLOSE_INTERNAL, message)
            self._apply(conn, session, actions)
        return self._take()

    def disconnect(self, client_id: str, reason: str) -> None:
        """Close ``client_id``'s connection with 4000 and ``reason``
        (``server.disconnect``); run from the registry's queue, like :meth:`emit`."""
        conn = self._clients.get(client_id)
        session = None if conn is None else self._sessions.get(conn)
        if conn is None or session is None:
            log.debug("disconnect of unknown client %r ignored", client_id)
            return
        self._apply(conn, session, session.close(CLOSE_DISCONNECTED, reason))

    def emit(self, frame: bytes, client_id: str | None) -> None:
        """Queue an encoded event for every client, or for ``client_id``; run from
        the registry's queue, so events keep their order with store changes."""
        if client_id is None:
            if self._clients:
                self._out.append(Transmit(tuple(self._clients.values()), frame))
            return
        conn = self._clients.get(client_id)
        if conn is None:
            log.debug("emit to unknown client %r ignored", client_id)
        else:
            self._send(conn, frame)

    def flush(self) -> list[HubAction[C]]:
        """Deliver the queued store changes and events now."""
        self._flush()
        return self._take()

    # -- reads -------------------------------------------------------------------

    @property
    def connections(self) -> list[C]:
        """Every open connection, said hello or not."""
        return list(self._sessions)

    def connection(self, client_id: str) -> C | None:
        """The connection of a client that was accepted, or None."""
        return self._clients.get(client_id)

    def context(self, client_id: str) -> CallContext | None:
        """The ``ctx`` of an accepted client, or None."""
        conn = self._clients.get(client_id)
        return None if conn is None else self._contexts.get(conn)

    def cached_snapshot(self, store: str) -> tuple[int, bytes] | None:
        """``(version, frame)`` of the snapshot cached for ``store``, if any."""
        return self._snapshots.get(store)

    # -- the session's actions ------------------------------------------------------

    def _apply(self, conn: C, session: Session, actions: list[SessionAction]) -> None:
        for action in actions:
            try:
                self._act(conn, session, action)
            except Exception as exc:  # a bug must not take the hub or other clients down
                log.exception("internal error handling %r", action)
                self._events.fire("error", exc, session.client_id)

    def _act(self, conn: C, session: Session, action: SessionAction) -> None:
        match action:
            case Reply(message):
                self._send(conn, encode(message))
            case Close(code, reason):
                log.info("closing %s: %s (%s)", session.client_id, reason, code)
                self._out.append(Disconnect(conn, code, reason))
            case Opened(client_id):
                self._clients[client_id] = conn
                self._contexts[conn] = CallContext(client_id, self._owner, session.user)
                self._events.fire("connection", client_id)
            case AuthenticateRequested(token) if self._authenticate is not None:
                info = replace(self._infos.pop(conn, ConnectInfo()), token=token)
                self._out.append(Authenticate(conn, info, self._authenticate))
            case SubscribeRequested(store):
                self._subscribe(conn, session, store)
            case UnsubscribeRequested(store):
                self._drop_subscriber(conn, session.client_id, store)
            case CallRequested(call):
                self._call(conn, session, call)
            case Throttle(seconds):
                self._out.append(ThrottleReads(conn, seconds))
            case Misbehaved(error):
                client_id = session.client_id
                log.info("bad input from %s: %s", client_id, error)
                known = client_id if client_id in self._clients else None
                self._events.fire("error", error, known)

    # -- subscriptions -----------------------------------------------------------

    def _subscribe(self, conn: C, session: Session, store: str) -> None:
        registry = self._registry
        limits = self.limits
        if len(store) > limits.max_name_length:
            why = f"invalid store name: longer than {limits.max_name_length} characters"
            self._answer(conn, ErrorMessage("subscribe", why, clip(store, 60)))
            return
        resolved = registry.resolve(store)
        if resolved is None:
            self._answer(conn, ErrorMessage("subscribe", f"unknown store '{store}'", store))
            return
        definition, key = resolved
        client_id = session.client_id
        resync = store in session.subscriptions
        if not resync:
            refused = self._refuse_subscription(conn, session, store, definition, key)
            if refused is not None:
                self._answer(conn, ErrorMessage(*refused, store))
                return
        with registry.lock:
            # Send what is queued first: then the snapshot below is exactly the
            # state after every change the client will not get as a patch.
            self._flush()
            try:
                if resync:  # it exists: a deletion would have ended the subscription
                    current = registry.snapshot(definition, key) or _vanished(store)
                else:
                    inst = registry.acquire(definition, key)
                    current = (inst.state, inst.version)
                frame = self._snapshot_frame(store, *current)
            except Exception as exc:
                why = self._failure(exc, f"cannot serve {store!r} to {client_id}", client_id)
                message = ErrorMessage("subscribe", f"cannot serve '{store}': {why}", store)
                self._send(conn, encode(message))
                return
            session.subscribed(store, current[1])
            self._subscribers.setdefault(store, {})[conn] = None
            self._send(conn, frame)
        if not resync:
            self._events.fire("subscribe", store, client_id)

    def _refuse_subscription(
        self, conn: C, session: Session, store: str, definition: Definition, key: str | None
    ) -> tuple[str, str] | None:
        """``(code, message)`` of the error refusing a new subscription, or None.
        In order, cheap first and before anything is created: an invalid key,
        the store's ``access`` rule, one subscription or one instance too many."""
        limits = self.limits
        if key is not None:
            problem = check_instance_key(key)
            if problem is not None:
                return "subscribe", f"invalid store name: {problem}"
        rule = self._access.store(definition.name)
        if rule is not None and not self._permits(
            rule, f"store {store!r}", self._contexts[conn], key
        ):
            return "subscribe", FORBIDDEN
        if len(session.subscriptions) >= limits.max_subscriptions:
            return "limit", f"too many subscriptions (at most {limits.max_subscriptions})"
        registry = self._registry
        if (
            key is not None
            and registry.find(definition, key) is None
            and registry.instance_count(definition) >= limits.max_instances
        ):
            return (
                "limit",
                f"too many instances of {definition.name!r} (at most {limits.max_instances})",
            )
        return None

    def _snapshot_frame(self, store: str, state: Any, version: int) -> bytes:
        cached = self._snapshots.get(store)
        if cached is not None and cached[0] == version:
            return cached[1]
        frame = encode_value(Snapshot(store, version, state), f"store {store!r}")
        self._snapshots[store] = (version, frame)
        return frame

    def _drop_subscriber(self, conn: C, client_id: str, store: str) -> None:
        subscribers = self._subscribers.get(store)
        if subscribers is None or conn not in subscribers:
            return
        del subscribers[conn]
        if not subscribers:
            del self._subscribers[store]
        self._events.fire("unsubscribe", store, client_id)
        registry = self._registry
        idle = registry.release(store)
        if idle is not None:
            try:
                idle()
            except Exception as exc:
                log.exception("on_idle of %r raised", store)
                self._events.fire("error", exc, None)
        try:
            registry.reclaim(store)
        except Exception as exc:  # on_terminate is user code
            log.exception("releasing %r raised", store)
            self._events.fire("error", exc, None)

    def _fan_out(self, event: Change | Removed) -> None:
        """The hub's own watch on every store: changes to their subscribers."""
        store = event.store
        if isinstance(event, Removed):
            self._snapshots.pop(store, None)
            subscribers = self._subscribers.pop(store, {})
            targets = tuple(c for c in subscribers if self._sessions[c].removed(store))
            if targets:
                self._out.append(Transmit(targets, encode(Deleted(store))))
            return
        listening = self._subscribers.get(store)
        if listening is None:
            return
        targets = tuple(c for c in listening if self._sessions[c].advance(store, event.version))
        if not targets:
            return
        if event.patches is None:
            frame = self._snapshot_frame(store, event.state, event.version)
        else:
            message = PatchMessage(store, event.version, event.patches)
            frame = encode_value(message, f"store {store!r}")
        self._out.append(Transmit(targets, frame))

    # -- calls --------------------------------------------------------------------

    def _call(self, conn: C, session: Session, raw: RawCall) -> None:
        """The cheap checks in order (a running id, the function, the pending
        cap), then the arguments are decoded, then the call runs."""
        running = self._running.get(conn)
        if running is not None and raw.id in running:
            why = f"call id {raw.id} is already running (ids must be unique among pending calls)"
            self._apply(conn, session, session.reject(why, self._now))
            return
        function = self._functions.get(raw.name)
        if function is None:
            self._answer(conn, Result(raw.id, error=f"unknown function '{clip(raw.name, 100)}'"))
            return
        context = self._contexts[conn]
        rule = self._access.function(raw.name)
        if rule is not None and not self._permits(rule, f"function {raw.name!r}", context):
            self._answer(conn, Result(raw.id, error=FORBIDDEN))
            return
        limits = self.limits
        if running is not None and len(running) >= limits.max_pending_calls:
            self._answer(conn, Result(raw.id, error=TOO_MANY_CALLS))
            return
        try:
            call = raw.decode()
        except ProtocolError as exc:
            self._apply(conn, session, session.reject(str(exc), self._now))
            return
        invoked = Invoke(conn, call, function, context)
        timeout = limits.call_timeout
        deadline = self._now + timeout if timeout is not None else float("inf")
        if running is None:
            running = self._running[conn] = {}
        running[call.id] = (invoked, deadline)
        self._out.append(invoked)

    def _settle(self, invoked: Invoke[C]) -> bool:
        """``invoked`` is over: True if it was still running (its caller waits)."""
        running = self._running.get(invoked.conn, {})
        entry = running.get(invoked.call.id)
        if entry is None or entry[0] is not invoked:
            return False
        del running[invoked.call.id]
        return True

    def _expire_calls(self, conn: C, session: Session) -> None:
        """Answer and cancel the calls of ``conn`` whose deadline has come."""
        running = self._running.get(conn)
        while running:
            call_id, (invoked, deadline) = next(iter(running.items()))
            if deadline > self._now:
                return
            del running[call_id]
            log.warning(
                "function %r timed out after %s s for %s",
                invoked.call.name,
                self.limits.call_timeout,
                session.client_id,
            )
            self._out.append(Cancel(conn, call_id))
            self._answer(conn, Result(call_id, error=CALL_TIMEOUT))

    # -- access and failures ----------------------------------------------------------

    def _permits(
        self, rule: Callable[..., object], what: str, ctx: CallContext, *args: Any
    ) -> bool:
        """The verdict of an ``access`` rule; one that raises (or is not a plain
        function after all) refuses, and the server hears of it."""
        try:
            verdict = rule(ctx, *args)
        except Exception as exc:
            log.exception("the access rule of %s raised: refused %s", what, ctx.client_id)
            self._events.fire("error", exc, ctx.client_id)
            return False
        if inspect.isawaitable(verdict):
            if inspect.iscoroutine(verdict):
                verdict.close()
            error = TypeError(f"the access rule of {what} returned an awaitable; rules are sync")
            log.error("%s: refused %s", error, ctx.client_id)
            self._events.fire("error", error, ctx.client_id)
            return False
        return bool(verdict)

    def _failure(self, exc: Exception, what: str, client_id: str | None) -> str:
        """Log a failure made on a client's behalf and return what that client
        may read of it (:func:`~.access.client_failure`). An ``RpcError`` is an
        answer, logged without a traceback; anything else is logged once, with
        its traceback and the ref the client sees."""
        message, ref = client_failure(exc, expose=self._expose_errors)
        if isinstance(exc, RpcError):
            log.info("%s: %s", what, exc)
        elif ref is None:
            log.error("%s", what, exc_info=exc)
        else:
            log.error("%s (ref %s)", what, ref, exc_info=exc)
        self._events.fire("error", exc, client_id)
        return message

    # -- output -------------------------------------------------------------------

    def _answer(self, conn: C, message: ServerMessage) -> None:
        """Send ``message`` after the changes queued before it."""
        self._flush()
        self._send(conn, encode(message))

    def _send(self, conn: C, frame: bytes) -> None:
        if conn in self._sessions:
            self._out.append(Transmit((conn,), frame))

    def _flush(self) -> None:
        self._registry.flush()

    def _take(self) -> list[HubAction[C]]:
        out, self._out = self._out, []
        return out


def encode_value(message: ServerMessage, what: str) -> bytes:
    """``encode(message)``, with a ``TypeError`` naming ``what`` for values msgpack
    cannot carry (an int beyond 64 bits, say)."""
    try:
        return encode(message)
    except (OverflowError, ValueError, TypeError) as exc:
        raise TypeError(f"{what} cannot be encoded: {exc}") from None


def _vanished(store: str) -> Any:
    raise LookupError(f"store {store!r} is gone")
