"""The rules of a hotstate client, without I/O.

:class:`ClientCore` holds everything a client knows — the connection status,
one wire subscription per store name (ref-counted across handles), each
store's server copy and version, the pending calls and their optimistic
overlays — and turns inputs (server messages, socket events, user calls) into
lists of :mod:`.actions` for a driver to carry out. It never touches a socket,
a clock or an event loop, so every rule is tested by feeding values.

Invariants worth knowing:

* ``_Store.version is None`` means "no copy that a patch may apply to": a
  ``sub`` for it is in flight or will be sent when the socket opens, so
  patches are dropped until the snapshot comes back. The last consistent state
  stays visible meanwhile: a resync never shows a state that did not exist,
  and never flickers to nothing either.
* The visible state of a store is the fold of the pending optimistic
  functions, in call order, over the server state; it is recomputed whenever
  the server state or the set of pending calls changes, so the server stays
  the source of truth.
* Credentials: the driver hands the token to :meth:`ClientCore.opened` (it
  goes in ``hello``). When the server refuses it (``err`` ``unauthorized``),
  a client whose credentials cannot change (a static token, headers only)
  stops at once: pending calls, ``ready()`` and subscriptions fail with
  ``AuthError``, and no retry follows. One whose token is renewable (a
  callable) reconnects as usual and the driver asks for a fresh token first
  (:meth:`ClientCore.credentials`); if it is the very token just refused, it
  stops the same way. So no client loops on credentials the server refused.
* A server certificate the client refused (:meth:`ClientCore.certificate_failed`)
  stops it the same way, with ``CertificateError``: the server would present
  the same certificate to every retry, and a retry loop would only hide the
  problem behind "reconnecting". With several URLs only that URL is dropped
  (reported on ``"error"``); the client stops when every URL's certificate
  was refused. ``connect()`` starts afresh.
* Failover: :meth:`ClientCore.connect` takes the server URLs in order of
  preference; :attr:`ClientCore.url` is the one connected to, or to try next.
  Each failed attempt and each drop moves to the next URL (wrapping around),
  so a dead node is left at once; the next attempt waits no backoff while
  some URL of the round (the attempts since the last hello, or since the
  last backoff) is untried, and the backoff grows per round of failed URLs,
  not per URL. One URL is a round of one: the backoff grows per attempt, as
  it always has. The resume token goes to whichever node is reached; a node
  that cannot resume starts a fresh session, with the usual consequences
  (see :meth:`ClientCore.connection_lost`). Without ``reconnect`` a
  ``connect()`` still tries each URL once before it gives up.
* Once :meth:`ClientCore.follow_stores` was called, ``_visible`` is the
  ``FrozenDict`` of every subscribed store with data to its visible state. It
  is replaced, never mutated, whenever a view changes or a store leaves (one
  shallow copy, O(number of stores); the states themselves are shared), and
  each new mapping goes out as a ``StoresChanged``. Until then nothing is
  spent on it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..channels import is_reserved
from ..errors import (
    AuthError,
    CertificateError,
    Disconnected,
    HotstateError,
    ProtocolError,
    RpcError,
    SubscriptionError,
)
from ..frozen import FrozenDict, as_plain, freeze
from ..patch import apply_patches
from ..protocol import (
    PROTOCOL_VERSION,
    RESUMABLE_CLOSES,
    Call,
    Cause,
    ClientHello,
    Deleted,
    ErrorMessage,
    EventMessage,
    PatchMessage,
    Ping,
    Pong,
    Result,
    ServerHello,
    ServerMessage,
    Snapshot,
    Subscribe,
    Unsubscribe,
)
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
from .status import Connected, ConnectionStatus, backoff_delay, check_transition

log = logging.getLogger(__name__)

Optimistic = Callable[[Any], Any]
"""``fn(state) -> state``: the view a pending call shows until it is answered."""

SILENCE_FACTOR = 2.5
"""A server silent for this many heartbeat intervals is treated as gone."""

_NO_TOKEN = object()
"""``_refused_token`` when no token was refused since the last acceptance."""

_FINAL = (AuthError, CertificateError)
"""Failures after which nothing is served until ``connect()``: calls and
subscriptions end with them, and new ones fail at once."""


@dataclass(slots=True)
class _Store:
    refs: int = 1
    state: Any = None
    view: Any = None
    version: int | None = None
    epoch: str | None = None
    has_data: bool = False


@dataclass(slots=True)
class _Call:
    name: str
    args: Any
    store: str | None = None
    optimistic: Optimistic | None = None
    sent: bool = False
    in_doubt: bool = False
    """Sent on a connection that dropped before the answer: it may have run.
    Sent again, marked ``resent``, only on a resumed session."""

    @property
    def overlaid(self) -> str | None:
        """The store this call's optimistic view overlays, while it does: an
        optimistic call always has a store (checked in :meth:`ClientCore.call`),
        and both are dropped together when the store goes."""
        return self.store if self.optimistic is not None else None


class ClientCore:
    """Sans-I/O state of one client; see the module docstring.

    Methods named after user calls (:meth:`subscribe`, :meth:`call`, ...) raise
    on misuse; methods fed by the network (:meth:`receive`, ...) never raise.
    """

    def __init__(
        self,
        *,
        reconnect: bool = True,
        reconnect_delay: float = 1.0,
        reconnect_max: float = 10.0,
        renewable_token: bool = False,
    ) -> None:
        self.reconnect = reconnect
        self.renewable_token = renewable_token
        """The driver asks for a fresh token before each attempt (a token callable)."""
        self.reconnect_delay = reconnect_delay
        self.reconnect_max = reconnect_max
        self.status = ConnectionStatus.DISCONNECTED
        self.client_id: str | None = None
        self.heartbeat = 0.0
        self.failure: HotstateError | None = None
        self._stranded: str | None = None
        """Why the client is disconnected for good without ``reconnect`` (a call
        then fails at once instead of waiting for a connection that never comes)."""
        """Why the client stopped for good (e.g. a ``ProtocolError``), else None."""
        self.retry_delay: float | None = None
        """Seconds to wait before the next attempt, set when the status turns
        ``reconnecting``."""
        self.destroyed = False
        self.resume_token: str | None = None
        """The server's token for this client's session, to resume it after a drop."""
        self.recovered: bool | None = None
        """Whether the last connection resumed the session (None before the first)."""
        self.tag: str | None = None
        """How the server names this session's calls in the changes they cause."""
        self.last_event = 0
        """The number of the last server event received (0: none yet)."""
        self.urls: tuple[str, ...] = ()
        """The server URLs of the last :meth:`connect`, in order of preference."""
        self._index = 0  # self.urls[self._index] is connected to, or tried next
        self._tried: set[int] = set()  # URLs failed in the current round
        self._refused_urls: set[int] = set()  # URLs whose certificate was refused
        self._rounds = 0  # rounds failed since the last hello: the backoff's exponent
        self._first_round = False  # no hello yet since connect(): every URL gets a try
        self._attempt = 0
        self._open = False
        self._token: str | None = None
        self._refused_token: object = _NO_TOKEN
        self._refusal: AuthError | None = None
        self._stores: dict[str, _Store] = {}
        self._calls: dict[int, _Call] = {}
        self._next_id = 1
        self._visible: FrozenDict | None = None  # None: nobody follows the stores

    # ------------------------------------------------------------------ reading

    def has_data(self, name: str) -> bool:
        store = self._stores.get(name)
        return store is not None and store.has_data

    def view(self, name: str) -> Any:
        """The visible (optimistic) state of a subscribed store, else None."""
        store = self._stores.get(name)
        return None if store is None else store.view

    def server_state(self, name: str) -> Any:
        store = self._stores.get(name)
        return None if store is None else store.state

    def subscriptions(self) -> dict[str, int]:
        """Store name -> number of handles, for every subscribed store (its
        ``sub`` sent, or to be sent when the socket opens)."""
        return {name: store.refs for name, store in self._stores.items()}

    def follow_stores(self) -> FrozenDict:
        """Return ``{name: visible state}`` of every subscribed store with data,
        and from now on report each new mapping as a ``StoresChanged`` action.
        Idempotent; the values are the states the handles see (optimistic
        overlays included), shared, not copied."""
        if self._visible is None:
            self._visible = FrozenDict(
                (name, store.view) for name, store in self._stores.items() if store.has_data
            )
        return self._visible

    @property
    def url(self) -> str:
        """The URL connected to, else the one the next attempt goes to.
        ``RuntimeError`` before the first :meth:`connect` (none is known)."""
        if not self.urls:
            raise RuntimeError("connect() was never called: no server URL yet")
        return self.urls[self._index]

    def pending_calls(self) -> list[int]:
        return list(self._calls)

    def silence_limit(self) -> float | None:
        """How long the server may stay silent once connected, or None."""
        if self.status is ConnectionStatus.CONNECTED and self.heartbeat > 0:
            return SILENCE_FACTOR * self.heartbeat
        return None

    # ---------------------------------------------------------------- lifecycle

    def connect(self, urls: Sequence[str]) -> list[Action]:
        """The user asked to connect to ``urls`` (in order of preference, at
        least one; the façade checks they are WebSocket URLs); the driver
        opens a socket to :attr:`url` next."""
        if self.destroyed:
            raise RuntimeError("this client was destroyed; create a new one")
        if self.status is not ConnectionStatus.DISCONNECTED:
            raise RuntimeError(f"connect(): the client is already {self.status!s}")
        if not urls:
            raise ValueError("connect() needs at least one server URL")
        self.urls, self._index = tuple(urls), 0
        self._refused_urls.clear()
        self._first_round = True
        self._new_round()
        self.failure = None
        self._stranded = None
        self._open = False  # a socket given up on may still be closing: it is not ours now
        self._refused_token, self._refusal = _NO_TOKEN, None
        return self._go(ConnectionStatus.CONNECTING)

    def credentials(self, token: str | None) -> list[Action]:
        """The driver is about to open a socket with ``token``: give up now if
        it is the renewable token the server just refused (nothing new to try)."""
        if self._refusal is not None and token == self._refused_token:
            return self._give_up(self._refusal, CloseSocket(1000, "unauthorized"))
        return []

    def certificate_failed(self, error: CertificateError) -> list[Action]:
        """The TLS handshake failed on the certificate of :attr:`url` (no
        socket opened): that URL is not tried again until :meth:`connect`.
        When it was the last one left, stop, failing calls, ``ready()`` and
        subscriptions with ``error``, as for refused credentials; else report
        it (the driver's :meth:`connection_lost` moves on to the next URL)."""
        if self.status is ConnectionStatus.DISCONNECTED:
            return []
        self._refused_urls.add(self._index)
        if len(self._refused_urls) == len(self.urls):
            return self._give_up(error, None)
        return [Emit("error", error)]

    def token_failed(self, error: Exception) -> list[Action]:
        """The token callable raised: report it; the attempt counts as failed."""
        return [Emit("error", error)]

    def opened(self, token: str | None = None) -> list[Action]:
        """The socket is open: say hello (with ``token``, and asking to resume the
        session, if there is one) and, pipelined, re-send every subscription
        with the version it holds, so the server can send just the changes
        missed."""
        self._open = True
        self._token = token
        hello = ClientHello(
            token=token, resume=self.resume_token, last_event=self.last_event or None
        )
        actions: list[Action] = [Transmit(hello)]
        for name, store in self._stores.items():
            actions.append(Transmit(Subscribe(name, store.version, store.epoch)))
        return actions

    def connection_lost(
        self, jitter: float, code: int | None = None, reason: str | None = None
    ) -> list[Action]:
        """The socket closed or never opened. ``jitter`` in [0, 1) spreads the
        retry delay; ``code`` is the close code the server sent (None: no close
        frame); ``reason`` says why in words (from the driver; the
        ``"reconnecting"`` event carries it, with the next attempt's ``url``).

        The next attempt goes to the next URL, at once while the round has an
        untried URL, else after the backoff of the round (see the module's
        docstring). Unsent calls wait for the next connection when there is
        one. Calls sent on a connection that dropped by accident (see
        :data:`~hotstate_rx.protocol.RESUMABLE_CLOSES`) wait too, when the
        session can be resumed: they are asked again on it (on whichever node
        the next connection reaches), never run twice, and fail with
        ``Disconnected`` only if it is not resumed; otherwise they fail now."""
        self._open = False
        was_connected = self.status is ConnectionStatus.CONNECTED
        going = self.status is not ConnectionStatus.DISCONNECTED
        following, round_over = self._following()
        retry = going and (self.reconnect or (self._first_round and not round_over))
        actions: list[Action] = []
        if retry:
            self._tried.add(self._index)
            self._index = following
            if round_over:
                self.retry_delay = backoff_delay(
                    self._rounds, self.reconnect_delay, self.reconnect_max, jitter
                )
                self._rounds += 1
                self._tried.clear()
                self._first_round = False
            else:
                self.retry_delay = 0.0  # a healthy next node is not kept waiting
            self._attempt += 1
            if self.status is not ConnectionStatus.RECONNECTING:
                actions += self._go(ConnectionStatus.RECONNECTING)
        else:
            self.retry_delay = None
            if going and not self.destroyed:
                self._stranded = f"the connection to {self.url} was lost and reconnect is off"
            if self.status is not ConnectionStatus.DISCONNECTED:
                actions += self._go(ConnectionStatus.DISCONNECTED)
        resumable = retry and self.resume_token is not None and code in RESUMABLE_CLOSES
        if resumable and was_connected:
            for call in self._calls.values():  # the resumed session may hold their answers
                call.in_doubt = call.in_doubt or call.sent
                call.sent = False
        elif not resumable:
            actions += self._fail_in_doubt()
            actions += self._fail_calls(only_sent=retry)
        if retry:
            payload = {
                "attempt": self._attempt,
                "delay": self.retry_delay,
                "reason": reason,
                "url": self.url,
            }
            actions.append(Emit("reconnecting", payload))
        return actions

    def _following(self) -> tuple[int, bool]:
        """The index of the URL after :attr:`url` whose certificate was not
        refused, and whether it was tried in this round already (so the
        round is over: every usable URL failed since it began)."""
        count = len(self.urls)
        following = self._index
        for step in range(1, count + 1):
            candidate = (self._index + step) % count
            if candidate not in self._refused_urls:
                following = candidate
                break
        return following, following in self._tried or following == self._index

    def _new_round(self) -> None:
        """A hello, or a new connect(): every URL may be tried without a wait."""
        self._tried.clear()
        self._rounds = self._attempt = 0

    def shutdown(self) -> list[Action]:
        """``destroy()``: stop for good; every pending call fails with ``Disconnected``."""
        self.destroyed = True
        self._open = False
        actions: list[Action] = []
        if self.status is not ConnectionStatus.DISCONNECTED:
            actions += self._go(ConnectionStatus.DISCONNECTED)
        actions += self._fail_calls(only_sent=False)  # rollbacks first, while handles live
        # Every handle ends with the client: no store is subscribed any more.
        self._stores.clear()
        if self._visible:
            self._visible = FrozenDict()
            actions.append(StoresChanged(self._visible))
        return actions

    # --------------------------------------------------------------- user calls

    def subscribe(self, name: str) -> list[Action]:
        """One more handle on ``name``; only the first one goes on the wire."""
        _check_name(name, "store name")
        if self.destroyed:
            raise RuntimeError("this client was destroyed; create a new one")
        if isinstance(self.failure, _FINAL) and self.status is ConnectionStatus.DISCONNECTED:
            return [EndStore(name, self.failure)]  # refused: nothing will be served
        store = self._stores.get(name)
        if store is not None:
            store.refs += 1
            return []
        self._stores[name] = _Store()
        return [Transmit(Subscribe(name))] if self._open else []

    def release(self, name: str) -> list[Action]:
        """One handle less on ``name`` (``handle.release()``); the last one
        leaving ends the wire subscription (an ``Unsubscribe``) and drops the
        overlays of calls on that store."""
        store = self._stores.get(name)
        if store is None:
            return []
        store.refs -= 1
        if store.refs > 0:
            return []
        actions = self._forget_store(name)
        if self._open:
            actions.append(Transmit(Unsubscribe(name)))
        return actions

    def call(
        self,
        name: str,
        args: Any = None,
        *,
        store: str | None = None,
        optimistic: Optimistic | None = None,
    ) -> tuple[int, list[Action]]:
        """Register a call and return its id. It is sent at once when
        connected, else when the server's hello arrives.

        Raises ``TypeError``/``ValueError`` for bad arguments, whatever
        ``optimistic`` raises, and ``Disconnected`` after ``shutdown``.
        """
        _check_name(name, "function name")
        try:
            args = freeze(args)
        except TypeError as exc:
            raise TypeError(f"args of {name!r} must be JSON-like: {exc}") from None
        if self.destroyed:
            raise Disconnected()
        if isinstance(self.failure, _FINAL) and self.status is ConnectionStatus.DISCONNECTED:
            raise self.failure
        if self._stranded is not None and self.status is ConnectionStatus.DISCONNECTED:
            raise Disconnected(f"{self._stranded}: call connect() again")
        if optimistic is not None and not callable(optimistic):
            raise TypeError(f"optimistic must be a function state -> state, got {optimistic!r}")
        if optimistic is not None and store is None:
            raise ValueError("optimistic= needs store=, the name of the store it changes")
        if optimistic is not None and store not in self._stores:
            raise ValueError(
                f"store {store!r} is not subscribed; subscribe to it before an optimistic call"
            )
        call = _Call(name, args, store, optimistic)
        actions: list[Action] = []
        if optimistic is not None and store is not None:  # optimistic implies store (above)
            target = self._stores[store]
            if target.has_data:
                # Run it now, before registering, so that a bad fn raises at the call.
                target.view = _run_optimistic(optimistic, target.view)
                actions.append(Deliver(store, target.view, target.state))
                actions += self._show(store, target.view)
        call_id = self._next_id
        self._next_id += 1
        self._calls[call_id] = call
        if self.status is ConnectionStatus.CONNECTED:
            call.sent = True
            actions.append(Transmit(Call(call_id, name, args)))
        return call_id, actions

    def forget_call(self, call_id: int) -> list[Action]:
        """The caller stopped waiting (timeout, cancellation): roll back its
        overlay; a late answer will be ignored. Idempotent."""
        call = self._calls.pop(call_id, None)
        store = None if call is None else call.overlaid
        return [] if store is None else self._refresh(store)

    # ------------------------------------------------------------------ network

    def receive(self, msg: ServerMessage) -> list[Action]:
        """Apply one decoded server message. Never raises."""
        match msg:
            case Result():
                return self._on_result(msg)
            case PatchMessage():
                return self._on_patch(msg)
            case Snapshot():
                return self._on_snapshot(msg)
            case EventMessage(channel, data, seq):
                if seq is not None:
                    self.last_event = max(self.last_event, seq)
                if is_reserved(channel):  # the client's own channels: see .channels
                    error = HotstateError(
                        f"the server sent an event on {channel!r}, a name reserved for the "
                        "client's lifecycle channels; it was dropped"
                    )
                    return [Emit("error", error)]
                return [Emit(channel, data)]
            case Ping():
                return [Transmit(Pong())] if self._open else []
            case Pong():
                return []
            case ServerHello():
                return self._on_hello(msg)
            case Deleted(name):
                if name not in self._stores:
                    return []
                return [EndStore(name), *self._forget_store(name), Emit("store_deleted", name)]
            case ErrorMessage():
                return self._on_error(msg)
        return []

    def bad_frame(self, error: ProtocolError) -> list[Action]:
        """A frame from the server did not decode: report it, carry on."""
        return [Emit("error", error)]

    # ---------------------------------------------------------------- internals

    def _go(self, new: ConnectionStatus) -> list[Action]:
        check_transition(self.status, new)
        old, self.status = self.status, new
        actions: list[Action] = [StatusChanged(new)]
        if old is ConnectionStatus.CONNECTED:
            actions.append(Emit("disconnected"))
        if new is ConnectionStatus.CONNECTED:
            connected = Connected(self.client_id or "", bool(self.recovered), self.url)
            actions.append(Emit("connected", connected))
        return actions

    def _give_up(self, error: HotstateError, close: CloseSocket | None) -> list[Action]:
        """Stop without a reconnect loop: the server is incompatible
        (``ProtocolError``), refused our credentials (``AuthError``) or we
        refused its certificate (``CertificateError``); for the last two calls
        and subscriptions end with the error, since nothing will be served."""
        self.failure = error
        refused = isinstance(error, _FINAL)
        actions: list[Action] = []
        if self.status is not ConnectionStatus.DISCONNECTED:
            actions += self._go(ConnectionStatus.DISCONNECTED)
        actions += self._fail_calls(only_sent=False, error=error if refused else None)
        if refused:
            for name in list(self._stores):
                actions += [EndStore(name, error), *self._forget_store(name)]
        actions.append(Emit("error", error))
        if close is not None:
            actions.append(close)
        return actions

    def _refused(self, reason: str) -> list[Action]:
        error = AuthError(reason)
        if not self.renewable_token:
            return self._give_up(error, CloseSocket(1000, "unauthorized"))
        # The server closes the socket; the next attempt brings a fresh token.
        self._refused_token, self._refusal = self._token, error
        return [Emit("error", error)]

    def _on_hello(self, msg: ServerHello) -> list[Action]:
        if self.status is ConnectionStatus.DISCONNECTED:  # gave up while the socket closes
            return []
        if self.status is ConnectionStatus.CONNECTED:
            return [Emit("error", ProtocolError("the server said hello twice"))]
        if msg.version != PROTOCOL_VERSION:
            return self._give_up(
                ProtocolError(
                    f"protocol version mismatch: the server speaks version {msg.version}, "
                    f"this client version {PROTOCOL_VERSION}"
                ),
                CloseSocket(1002, "protocol error"),
            )
        self.client_id = msg.client_id
        self.heartbeat = max(0.0, msg.heartbeat)
        self._new_round()
        self._first_round = False
        self._refused_token, self._refusal = _NO_TOKEN, None
        asked = self.resume_token is not None
        self.recovered = asked and msg.recovered
        self.resume_token, self.tag = msg.resume, msg.tag
        actions: list[Action] = []
        if not self.recovered:
            self.last_event = 0
            actions += self._fail_in_doubt()
        actions += self._go(ConnectionStatus.CONNECTED)
        for call_id, call in self._calls.items():
            if not call.sent:
                call.sent = True
                resent, call.in_doubt = call.in_doubt, False
                actions.append(Transmit(Call(call_id, call.name, call.args, resent)))
        return actions

    def _fail_in_doubt(self) -> list[Action]:
        """The session was not resumed: calls that may have run cannot be asked
        again (they could run twice), so they fail with ``Disconnected``."""
        failed = [cid for cid, call in self._calls.items() if call.in_doubt]
        stores = {store for cid in failed if (store := self._calls.pop(cid).overlaid)}
        actions: list[Action] = []
        for name in stores:
            actions += self._refresh(name)
        return actions + [Settle(cid, error=Disconnected()) for cid in failed]

    def _on_snapshot(self, msg: Snapshot) -> list[Action]:
        store = self._stores.get(msg.store)
        if store is None:  # an unsub still in flight
            return []
        try:
            data = freeze(msg.data)
        except TypeError as exc:
            return [Emit("error", ProtocolError(f"snapshot of {msg.store!r} is not JSON: {exc}"))]
        first = not store.has_data  # even a null state is news the first time
        store.state, store.version, store.has_data = data, msg.version, True
        store.epoch = msg.epoch
        self._settled(msg.store, msg.cause)
        return self._refresh(msg.store, force=first)

    def _on_patch(self, msg: PatchMessage) -> list[Action]:
        store = self._stores.get(msg.store)
        if store is None or store.version is None:  # not ours, or a snapshot is on its way
            return []
        if msg.version != store.version + 1:
            log.debug(
                "gap on %r: holding v%s, got v%s; resyncing", msg.store, store.version, msg.version
            )
            return self._resync(msg.store, store)
        try:
            state = apply_patches(store.state, msg.ops)
        except Exception as exc:  # peer data: any failure means the copy is unusable
            error = ProtocolError(f"patch v{msg.version} of {msg.store!r} does not apply: {exc}")
            return [*self._resync(msg.store, store), Emit("error", error)]
        store.state, store.version = state, msg.version
        self._settled(msg.store, msg.cause)
        return self._refresh(msg.store)

    def _settled(self, name: str, cause: Cause | None) -> None:
        """A change made by one of our calls arrived: its optimistic overlay goes
        in the same emission, so no state shows both the change and the guess."""
        if cause is None or cause[0] != self.tag:
            return
        call = self._calls.get(cause[1])
        if call is not None and call.store == name:
            call.optimistic = None

    def _resync(self, name: str, store: _Store) -> list[Action]:
        store.version = store.epoch = None
        return [Transmit(Subscribe(name))]

    def _on_result(self, msg: Result) -> list[Action]:
        call = self._calls.pop(msg.id, None)
        if call is None:  # answered after its caller gave up
            return []
        store = call.overlaid
        actions = [] if store is None else self._refresh(store)
        if msg.error is not None:
            actions.append(Settle(msg.id, error=RpcError(msg.error, function=call.name)))
            return actions
        try:
            value = as_plain(msg.value)  # the caller's own: plain, decoded plain
        except ValueError as exc:  # nested deeper than MAX_DEPTH: a hostile or broken server
            error = ProtocolError(f"the result of {call.name!r} cannot be used: {exc}")
            actions += [Settle(msg.id, error=error), Emit("error", error)]
        else:
            actions.append(Settle(msg.id, value=value))
        return actions

    def _on_error(self, msg: ErrorMessage) -> list[Action]:
        if msg.code == "protocol":
            return self._give_up(ProtocolError(msg.message), CloseSocket(1002, "protocol error"))
        if msg.code == "unauthorized":
            if self.status is ConnectionStatus.DISCONNECTED:  # gave up while the socket closes
                return []
            return self._refused(msg.message)
        if msg.code == "subscribe" or (msg.code == "limit" and msg.store is not None):
            error = SubscriptionError(msg.message, msg.store)
            if msg.store is None or msg.store not in self._stores:
                return [Emit("error", error)]
            gone = self._forget_store(msg.store)
            return [EndStore(msg.store, error), *gone, Emit("error", error)]
        return [Emit("error", HotstateError(f"server error ({msg.code}): {msg.message}"))]

    def _forget_store(self, name: str) -> list[Action]:
        del self._stores[name]
        for call in self._calls.values():
            if call.store == name:
                call.store = call.optimistic = None
        visible = self._visible
        if visible is None or name not in visible:
            return []
        self._visible = FrozenDict((k, v) for k, v in visible.items() if k != name)
        return [StoresChanged(self._visible)]

    def _show(self, name: str, view: Any) -> list[Action]:
        """``name`` now shows ``view``: the new mapping, when someone follows it."""
        visible = self._visible
        if visible is None:
            return []
        self._visible = FrozenDict({**visible, name: view})
        return [StoresChanged(self._visible)]

    def _fail_calls(self, *, only_sent: bool, error: HotstateError | None = None) -> list[Action]:
        """End the sent (or all) calls with ``error`` (``Disconnected`` by default)."""
        failed = [cid for cid, call in self._calls.items() if call.sent or not only_sent]
        stores: set[str] = set()
        for cid in failed:
            store = self._calls.pop(cid).overlaid
            if store is not None:
                stores.add(store)
        actions: list[Action] = []
        for name in stores:
            actions += self._refresh(name)
        return actions + [Settle(cid, error=error or Disconnected()) for cid in failed]

    def _refresh(self, name: str, *, force: bool = False) -> list[Action]:
        """Recompute the view of ``name``; a Deliver when it changed (or ``force``)."""
        store = self._stores.get(name)
        if store is None or not store.has_data:
            return []
        view = store.state
        actions: list[Action] = []
        for call in self._calls.values():
            if call.store == name and call.optimistic is not None:
                try:
                    view = _run_optimistic(call.optimistic, view)
                except Exception as exc:  # user code: drop this overlay, keep the rest
                    call.optimistic = None
                    actions.append(Emit("error", exc))
        if view is store.view and not force:
            return actions
        store.view = view
        return [Deliver(name, view, store.state), *self._show(name, view), *actions]


def _run_optimistic(fn: Optimistic, state: Any) -> Any:
    result = fn(state)
    try:
        return freeze(result)
    except TypeError as exc:
        raise TypeError(f"optimistic(state) must return JSON-like data: {exc}") from None


def _check_name(name: object, what: str) -> None:
    if not isinstance(name, str):
        raise TypeError(f"{what} must be a str, got {type(name).__name__}")
    if not name:
        raise ValueError(f"{what} must not be empty")


__all__ = ["SILENCE_FACTOR", "ClientCore", "Optimistic"]
