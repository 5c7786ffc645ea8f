"""The hub's rules, sans I/O: connections, sessions, subscriptions, fan-out, calls.

:class:`HubCore` is to the server what :mod:`.session` is to one connection
and :class:`~hotstate_rx.client.core.ClientCore` to the client. Its driver
(:mod:`.driver`) tells it what happened: a connection opened, a frame
arrived, a connection's timer fired, a connection was lost, a function
returned or raised, store changes are waiting, parked sessions may expire.
It answers with the I/O to perform, in order: :class:`Transmit` bytes,
:class:`Disconnect` a connection, :class:`Invoke` a function,
:class:`Authenticate` a client, :class:`Cancel` a running call,
:class:`ThrottleReads` a connection. It decides:

- who is in: with ``authenticate``, a client that said hello is served
  nothing (no hello back, no snapshot, no call, no event, broadcasts
  included) until the driver reports the verdict with :meth:`HubCore.accepted`
  or :meth:`HubCore.refused`; then each session has one
  :class:`~.access.CallContext` (``ctx``, with ``ctx.user``);
- what it may do: a store's ``access`` rule decides each subscription before
  the instance is used (a refused one creates nothing and runs no hook), a
  function's rule each call before its handler (see :mod:`.access`);
- what a client may read of a failure: an ``RpcError``'s message, otherwise
  ``"internal error (ref …)"``, the ref in the log line with the traceback;
- who is subscribed to which instance, and counts the uses of each instance
  so that ``on_idle`` runs when the last subscriber leaves;
- what a subscriber receives: one snapshot (encoded once per version and
  cached for every other subscriber) or, for a client that names the version
  it holds, just the changes it missed (:mod:`.history`); then each later
  change it does not hold yet; then ``del`` when the instance is deleted;
- order: a snapshot is taken only after every queued change has gone out,
  and the changes a function caused go out before its result;
- durability: with storage, a function's result is held until every change
  made before it returned is committed (the registry's commit token); the
  driver reports commits with :meth:`HubCore.committed`;
- which function a call runs, what the caller gets back, and that one call
  id runs once per session;
- what one client may cost (its :class:`~.limits.Limits`): subscriptions
  and running calls per session, call deadlines, instances per dynamic
  store, instance names, and the release of the transient instances that
  only its subscriptions kept alive. Cheap checks come before expensive
  work: a call's arguments are decoded only once it will run. A session's
  calls are cancelled when it ends (a parked one's run on, within their
  deadline, for the client that may resume);
- sessions (:mod:`.clients`): a connection that drops without saying goodbye
  is *parked* for the resume window — its subscriptions held, events and
  results kept — and a client that comes back with the session's token (as
  the same user, with ``authenticate``) takes it over on its new connection;
- in a cluster (``clustered``, docs/CLUSTER.md) the same rules hold across
  nodes, through actions the driver performs against Redis: a session is
  recorded (:class:`RecordSession`, :class:`DropSession`) and one this node
  does not know is looked up (:class:`FetchSession`, answered with
  :meth:`HubCore.fetched`) while the client's frames wait; each call is
  claimed before it runs (:class:`ClaimCall`, :meth:`HubCore.claimed`) and
  its answer saved (:class:`SaveResult`), so it runs once in the cluster;
  subscriptions are counted per node (:class:`CountSubscriber`) and
  ``on_idle`` runs where the cluster says the last one left
  (:meth:`HubCore.idle`); events carry the cluster's sequence numbers
  (:meth:`HubCore.emit` with ``seq``), and every change heard is kept in the
  history, watched here or not, for clients that resume here.

A connection is an opaque, hashable key chosen by the driver (``C``). The
hub holds no socket, loop, task, clock or random source: ``now`` is passed
in, and ids come from the ``new_id`` function it is given. Store changes
reach the hub through the registry's ordered queue, which the driver drains
with :meth:`HubCore.flush` on the hub's thread; every method returns the
actions produced since the last one, including the fan-out of changes that a
lifecycle listener or a hook made on the way.
"""

from __future__ import annotations

import heapq
import inspect
import logging
import sys
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Final, Generic, TypeVar

from ..errors import ProtocolError, RpcError, Unauthorized
from ..frozen import JSON, freeze
from ..protocol import (
    RESUMABLE_CLOSES,
    Call,
    Cause,
    Deleted,
    ErrorMessage,
    PatchMessage,
    RawCall,
    Result,
    ServerHello,
    ServerMessage,
    Snapshot,
    clip,
    encode,
    encode_event,
    pack_value,
)
from .access import AccessRules, CallContext, ConnectInfo, client_failure
from .clients import (
    ClientRecord,
    EventBuffer,
    RemoteSession,
    ResultCache,
    Resume,
    client_of,
    fingerprint,
    session_token,
)
from .functions import Function, FunctionTable
from .history import History, PatchLogs
from .lifecycle import LifecycleEvents
from .limits import Limits, check_instance_key
from .session import (
    CLOSE_DISCONNECTED,
    CLOSE_INTERNAL,
    CLOSE_NORMAL,
    DEFAULT_LIMITS,
    AuthenticateRequested,
    CallRequested,
    Close,
    Misbehaved,
    Opened,
    Reply,
    Session,
    State,
    SubscribeRequested,
    Throttle,
    UnsubscribeRequested,
)
from .session import Action as SessionAction
from .store import Change, Definition, Removed, StoreRegistry

__all__ = [
    "CALL_TIMEOUT",
    "FORBIDDEN",
    "OUTCOME_UNKNOWN",
    "TOO_MANY_CALLS",
    "Authenticate",
    "Cancel",
    "ClaimCall",
    "ClusterAction",
    "CountSubscriber",
    "Disconnect",
    "DropSession",
    "FetchSession",
    "HubAction",
    "HubCore",
    "Invoke",
    "RecordSession",
    "SaveResult",
    "ThrottleReads",
    "Transmit",
    "encode_value",
]

log = logging.getLogger(__name__)

C = TypeVar("C")

FORBIDDEN = "forbidden"
"""The message of a subscription or a call that an ``access`` rule refused."""


_NEVER = float("inf")
"""The deadline of a call without one (no ``call_timeout``, or its handler is over)."""

PAUSED = sys.maxsize
"""The version a resumed subscription stands at until the client names its own."""

_KEEP_NOTHING = Resume(window=0, events=0, event_bytes=0, results=0, result_bytes=0, ran=0)


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
    """Run ``function(call.args, context)`` for ``conn`` with ``cause`` as the
    :data:`~hotstate_rx.server.store.CAUSE` of the changes it makes, then report
    how it ended with :meth:`HubCore.returned` or :meth:`HubCore.raised`."""

    conn: C
    call: Call
    function: Function
    context: CallContext
    cause: Cause


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
    """Cancel the running call ``call_id`` that ``conn`` made (its session
    ended, or its deadline passed and its caller was answered)."""

    conn: C
    call_id: int


@dataclass(frozen=True, slots=True)
class ThrottleReads(Generic[C]):
    """Read no frame from ``conn`` for ``seconds`` (its rate limit)."""

    conn: C
    seconds: float


# -- what a clustered hub asks of the cluster -----------------------------------------


@dataclass(frozen=True, slots=True)
class FetchSession(Generic[C]):
    """Look up the session ``client_id`` in the cluster for ``conn``, whose client
    presented ``token``, with the events after ``last_event`` meant for it;
    report :meth:`HubCore.fetched` (None: no such session)."""

    conn: C
    client_id: str
    token: str = field(repr=False)
    last_event: int


@dataclass(frozen=True, slots=True)
class RecordSession:
    """Record the session in the cluster, served by this node (``taken``: it
    was resumed from another node, which must let go of it). ``since``: the
    last event sequence number issued before it started."""

    client_id: str
    token: str = field(repr=False)
    tag: str
    user: str
    since: int
    taken: bool = False


@dataclass(frozen=True, slots=True)
class DropSession:
    """The session ended: forget it (and its calls) in the cluster."""

    client_id: str


@dataclass(frozen=True, slots=True)
class ClaimCall(Generic[C]):
    """Claim ``invoked``'s call id for its client in the cluster, then report
    :meth:`HubCore.claimed`: it runs only if no node claimed it before."""

    invoked: Invoke[C]


@dataclass(frozen=True, slots=True)
class SaveResult:
    """Keep a call's encoded answer in the cluster (a resent call gets it)."""

    client_id: str
    call_id: int
    frame: bytes


@dataclass(frozen=True, slots=True)
class CountSubscriber:
    """This node's subscriptions to ``store`` changed by ``delta`` (+1, -1).
    After a -1 the driver asks the cluster whether no node has one left, and
    calls :meth:`HubCore.idle` on the one node whose claim won."""

    store: str
    delta: int


ClusterAction = (
    FetchSession[C] | RecordSession | DropSession | ClaimCall[C] | SaveResult | CountSubscriber
)

HubAction = (
    Transmit[C]
    | Disconnect[C]
    | Invoke[C]
    | Authenticate[C]
    | Cancel[C]
    | ThrottleReads[C]
    | ClusterAction[C]
)

TOO_MANY_CALLS = "limit: too many pending calls"
"""The error of a call beyond ``max_pending_calls``."""

CALL_TIMEOUT = "timeout"
"""The error of a call cancelled at ``call_timeout``."""

OUTCOME_UNKNOWN = (
    "outcome unknown: a server node that was running this call stopped before answering; "
    "it was not run again"
)
"""The error of a resent call that another node claimed and never answered."""


class HubCore(Generic[C]):
    """The rules of one server's hub (see the module docstring).

    ``owner`` is what handlers see as ``ctx.server``; ``events`` receives the
    lifecycle events (``connection``, ``subscribe``, ``error``, ...), fired at
    the moment the hub decides them; ``new_id`` makes the session tokens and
    tags (random and unguessable in a server, predictable in a test).
    ``authenticate``, ``access``, ``expose_errors``, ``history`` and
    ``resume`` are the server's options of those names; ``limits`` bounds
    what each client may cost; ``clustered`` turns on the cluster's actions
    (see the module docstring)."""

    def __init__(
        self,
        registry: StoreRegistry,
        functions: FunctionTable,
        events: LifecycleEvents,
        *,
        owner: Any,
        new_id: Callable[[], str],
        limits: Limits = DEFAULT_LIMITS,
        history: History | None = None,
        resume: Resume | None = None,
        authenticate: Callable[[ConnectInfo], Any] | None = None,
        access: AccessRules | None = None,
        expose_errors: bool = False,
        clustered: bool = False,
    ) -> None:
        self._registry = registry
        self.clustered: Final = clustered
        self._functions = functions
        self._events = events
        self._owner = owner
        self._new_id = new_id
        self.limits: Final = limits
        self._now = 0.0
        """The time of the latest event the driver reported (its clock)."""
        self._resume = resume or Resume()
        self._history = PatchLogs(history or History())
        self._sessions: dict[C, Session] = {}
        """Every connection's rules, parked ones included (under their last connection)."""
        self._live: dict[C, ClientRecord[C]] = {}
        """Connections that finished the handshake -> their client's session."""
        self._records: dict[str, ClientRecord[C]] = {}
        """Client id -> session, live or parked."""
        self._tokens: dict[str, ClientRecord[C]] = {}
        self._parked: list[tuple[float, str]] = []
        """A heap of (parked until, client id); entries of resumed sessions go stale."""
        self._event_seq = 0
        self._subscribers: dict[str, dict[C, None]] = {}
        """Instance name -> its subscribed connections, in subscription order."""
        self._snapshots: dict[str, tuple[int, bytes]] = {}
        """Instance name -> (version, encoded snapshot): one encode per version,
        kept while the instance has subscribers."""
        self._held: deque[tuple[int, ClientRecord[C], int, bytes]] = deque()
        """Results waiting for storage: (commit token, session, call id, frame),
        tokens in order."""
        self._out: list[HubAction[C]] = []
        self._authenticate = authenticate
        self._access = access or AccessRules()
        self._expose_errors = expose_errors
        self._infos: dict[C, ConnectInfo] = {}
        """Connections waiting for ``authenticate``: what their upgrade said."""
        self._resuming: dict[C, tuple[str, int, list[tuple[int, bytes]]]] = {}
        """Connections waiting for :meth:`fetched`: (client id, its last event,
        the events for it heard meanwhile)."""
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
            remote_resume=self.clustered,
        )
        if authenticating:
            self._infos[conn] = info or ConnectInfo()

    def receive(self, conn: C, frame: bytes | str, now: float) -> list[HubAction[C]]:
        """One frame from ``conn``."""
        session = self._sessions.get(conn)
        if session is not None and not session.parked:
            self._now = now
            self._apply(conn, session, session.receive(frame, now))
        return self._take()

    def tick(self, conn: C, now: float) -> list[HubAction[C]]:
        """``conn``'s deadline (:meth:`next_deadline`) has come."""
        session = self._sessions.get(conn)
        if session is not None and not session.parked:
            self._now = now
            record = self._live.get(conn)
            if record is not None:
                self._expire_calls(record)
            self._apply(conn, session, session.tick(now))
        return self._take()

    def next_deadline(self, conn: C) -> float | None:
        """When :meth:`tick` must run next for ``conn`` (None: no timer needed)."""
        session = self._sessions.get(conn)
        if session is None or session.parked:
            return None
        deadline = session.next_deadline()
        record = self._live.get(conn)
        if record is not None and record.running:
            first = min(due for _, due in record.running.values())
            if first != _NEVER:
                return first if deadline is None else min(first, deadline)
        return deadline

    def lost(self, conn: C, now: float, code: int | None = None) -> list[HubAction[C]]:
        """``conn`` is gone (``code``: the close code, None if there was no close
        frame). A client's session is parked for the resume window when the
        loss looks accidental; otherwise its subscriptions end at once."""
        session = self._sessions.get(conn)
        if session is None or session.parked:
            return self._take()
        self._now = now
        self._infos.pop(conn, None)
        self._resuming.pop(conn, None)
        record = self._live.pop(conn, None)
        if record is None:  # never said hello: nothing to keep
            del self._sessions[conn]
            session.closed()
        elif self._resumable(session, code):
            session.parked = True
            record.parked_until = now + self._resume.window
            heapq.heappush(self._parked, (record.parked_until, record.client_id))
        else:
            self._end(record)
        return self._take()

    def next_expiry(self) -> float | None:
        """When :meth:`expire` must run next (None: no session is parked)."""
        parked = self._parked
        while parked and self._stale(parked[0]):
            heapq.heappop(parked)
        return parked[0][0] if parked else None

    def expire(self, now: float) -> list[HubAction[C]]:
        """End the parked sessions whose window has passed."""
        self._now = now
        parked = self._parked
        while parked and parked[0][0] <= now:
            entry = heapq.heappop(parked)
            if not self._stale(entry):
                self._end(self._records[entry[1]])
        return self._take()

    def returned(self, invoked: Invoke[C], value: Any) -> list[HubAction[C]]:
        """An :class:`Invoke` returned ``value``: the changes it caused, then its
        result (nothing if the call was answered already: timed out, cancelled)."""
        call = invoked.call
        record = self._record_of(invoked)
        if record is None:
            return self._take()
        try:
            frame = encode_value(Result(call.id, freeze(value)), f"the result of {call.name!r}")
        except TypeError as exc:
            problem = TypeError(
                f"function '{call.name}' returned a value that is not JSON-like: {exc}"
            )
            message = self._failure(problem, str(problem), invoked.context.client_id)
            frame = encode(Result(call.id, error=message))
        self._settle(record, invoked, frame)
        return self._take()

    def raised(self, invoked: Invoke[C], exc: Exception) -> list[HubAction[C]]:
        """An :class:`Invoke` raised: the caller gets what it may read of it."""
        call = invoked.call
        record = self._record_of(invoked)
        if record is None:
            return self._take()
        message = self._failure(exc, f"function {call.name!r} raised", invoked.context.client_id)
        self._settle(record, invoked, encode(Result(call.id, error=message)))
        return self._take()

    def committed(self) -> list[HubAction[C]]:
        """Storage committed a group of changes: the results waiting for it go out
        (to their client's connection of the moment; kept for a resume)."""
        held, registry = self._held, self._registry
        while held and registry.is_durable(held[0][0]):
            _, record, call_id, frame = held.popleft()
            if self._records.get(record.client_id) is record:
                self._deliver_result(record, call_id, frame)
        return self._take()

    def accepted(self, conn: C, user: Any, now: float) -> list[HubAction[C]]:
        """``authenticate`` returned ``user`` for ``conn``: it is in (``None``
        refuses it, as ``Unauthorized`` would). Late verdicts are ignored."""
        session = self._sessions.get(conn)
        if session is not None and not session.parked:
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
        if session is not None and not session.parked:
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
        """Close ``client_id``'s connection with 4000 and ``reason``, ending its
        session (``server.disconnect``); run from the registry's queue, like
        :meth:`emit`."""
        record = self._records.get(client_id)
        if record is None:
            log.debug("disconnect of unknown client %r ignored", client_id)
        elif record.parked_until is not None:
            self._end(record)
        else:
            session = record.session
            self._apply(record.conn, session, session.close(CLOSE_DISCONNECTED, reason))

    def emit(
        self, channel: str, packed: bytes, client_id: str | None, seq: int | None = None
    ) -> None:
        """Send an event (``packed``: its data, MessagePack-encoded) to every client,
        or to ``client_id``; run from the registry's queue, so events keep their
        order with store changes. Parked sessions keep it for their client.
        ``seq``: its number in the cluster (None: the next of this server's)."""
        if client_id is None:
            records = list(self._records.values())
        else:
            record = self._records.get(client_id)
            records = [] if record is None else [record]
        if seq is None:
            self._event_seq += 1
            seq = self._event_seq
        else:  # the cluster's number (every node issues the same one)
            self._event_seq = max(self._event_seq, seq)
        frame = encode_event(channel, packed, seq)
        for target, _, heard in self._resuming.values():  # clients being looked up
            if client_id is None or client_id == target:
                heard.append((seq, frame))
        if not records:
            if client_id is not None and not self.clustered:
                log.debug("emit to unknown client %r ignored", client_id)
            return
        live = []
        for record in records:
            record.events.add(seq, frame)
            if record.parked_until is None:
                live.append(record.conn)
        if live:
            self._out.append(Transmit(tuple(live), frame))

    def flush(self) -> list[HubAction[C]]:
        """Deliver the queued store changes and events now."""
        self._flush()
        return self._take()

    # -- what the cluster reports (clustered only) --------------------------------

    def fetched(self, conn: C, remote: RemoteSession | None, now: float) -> list[HubAction[C]]:
        """The answer to a :class:`FetchSession`: the session as the cluster
        recorded it (None: unknown or expired). Resumed if the same user
        presents it and no event it missed is lost, else a fresh session; then
        the frames the client sent meanwhile are handled."""
        pending = self._resuming.pop(conn, None)
        session = self._sessions.get(conn)
        if pending is None or session is None or session.state is not State.RESUMING:
            return self._take()
        self._now = now
        client_id, last, heard = pending
        if remote is not None and (remote.client_id != client_id or client_id in self._records):
            remote = None  # not what was asked, or resumed here meanwhile
        if remote is not None and remote.user != fingerprint(session.user):
            log.info("%s cannot resume: another user presented its token", client_id)
            remote = None
        if remote is not None and not remote.complete:
            log.info("%s cannot resume: events it missed are no longer kept", client_id)
            remote = None
        if remote is None:
            self._start(conn, session)
        else:
            events = dict(remote.events)
            events.update((seq, frame) for seq, frame in heard if seq > last)
            self._start(conn, session, remote, sorted(events.items()))
        self._apply(conn, session, session.resumed(now))
        return self._take()

    def claimed(
        self, invoked: Invoke[C], answer: bytes | None, failure: str | None = None
    ) -> list[HubAction[C]]:
        """The answer to a :class:`ClaimCall`: ``answer`` None, the claim is this
        node's and the call runs; ``b""``, another node claimed it and never
        answered (:data:`OUTCOME_UNKNOWN`); other bytes, the answer saved for
        it. ``failure``: the cluster could not be asked (the call did not run)."""
        record = self._record_of(invoked)
        if record is None:
            return self._take()
        call_id = invoked.call.id
        if failure is not None:
            self._flush()
            self._deliver_result(record, call_id, encode(Result(call_id, error=failure)), False)
        elif answer is None:
            self._out.append(invoked)
        else:
            frame = answer or encode(Result(call_id, error=OUTCOME_UNKNOWN))
            self._flush()
            self._deliver_result(record, call_id, frame, False)
        return self._take()

    def idle(self, store: str) -> list[HubAction[C]]:
        """No node has a subscriber of ``store`` left and this node's claim to
        say so won: ``on_idle`` runs here, then a transient instance goes."""
        self._went_idle(store, self._registry.idle_call(store))
        return self._take()

    def taken(self, client_id: str) -> list[HubAction[C]]:
        """Another node resumed ``client_id``'s session: this node lets go of
        its copy (its connection, if it still has one, is closed)."""
        record = self._records.get(client_id)
        if record is not None:
            if record.parked_until is None:
                self._out.append(Disconnect(record.conn, CLOSE_NORMAL, "session resumed elsewhere"))
            self._end(record, here_only=True)
        return self._take()

    def heard(self, change: Change) -> list[HubAction[C]]:
        """A change of an instance this node does not hold, heard from the
        cluster: kept in the history for the clients that may resume here."""
        self._fan_out(change)
        return self._take()

    def sessions(self) -> list[str]:
        """The client ids of the sessions this node serves, live or parked
        (the cluster keeps their records alive)."""
        return list(self._records)

    # -- reads -------------------------------------------------------------------

    @property
    def connections(self) -> list[C]:
        """Every open connection, said hello or not (parked sessions excluded)."""
        return [conn for conn, session in self._sessions.items() if not session.parked]

    def connection(self, client_id: str) -> C | None:
        """The live connection of a client, or None (unknown, or parked)."""
        record = self._records.get(client_id)
        return None if record is None or record.parked_until is not None else record.conn

    def context(self, client_id: str) -> CallContext | None:
        """The ``ctx`` of a client's session (live or parked), or None."""
        record = self._records.get(client_id)
        return None if record is None else record.context

    def clients(self) -> list[ClientRecord[C]]:
        """Every client's session, live or parked (for the inspector: read only)."""
        return list(self._records.values())

    def cached_snapshot(self, store: str) -> tuple[int, bytes] | None:
        """``(version, frame)`` of the snapshot cached for ``store``, if any."""
        return self._snapshots.get(store)

    @property
    def history(self) -> PatchLogs:
        """The instances' recent changes (see :mod:`.history`)."""
        return self._history

    # -- sessions -----------------------------------------------------------------

    def _resumable(self, session: Session, code: int | None) -> bool:
        if not self._resume.window or session.close_code not in (None, *RESUMABLE_CLOSES):
            return False
        return code in RESUMABLE_CLOSES

    def _stale(self, entry: tuple[float, str]) -> bool:
        record = self._records.get(entry[1])
        return record is None or record.parked_until != entry[0]

    def _opened(self, conn: C, session: Session, opened: Opened) -> None:
        resume = opened.resume
        record = self._tokens.get(resume) if resume is not None else None
        known = record is not None
        if record is not None and record.context.user != session.user:
            log.info("%s cannot resume: another user presented its token", record.client_id)
            record = None
        if record is not None and not record.events.covers(opened.last_event or 0):
            log.info("%s cannot resume: events it missed are no longer kept", record.client_id)
            self._end(record)
            record = None
        if session.state is State.RESUMING:
            client_id = None if known or resume is None else client_of(resume)
            if client_id is not None and client_id not in self._records:
                last = opened.last_event or 0
                self._resuming[conn] = (client_id, last, [])
                self._out.append(FetchSession(conn, client_id, resume or "", last))
                return  # on with fetched()
        if record is None:
            self._start(conn, session)
        else:
            self._take_over(conn, session, record, opened.last_event or 0)
        if session.state is State.RESUMING:
            self._apply(conn, session, session.resumed(self._now))

    def _start(
        self,
        conn: C,
        session: Session,
        remote: RemoteSession | None = None,
        missed: list[tuple[int, bytes]] | None = None,
    ) -> None:
        """A session begins on ``conn``: a new one, or ``remote``, resumed from
        another node of the cluster (then ``missed``: the events to replay)."""
        limits = self._resume
        keep = bool(limits.window)
        if remote is None:
            secret = self._new_id()
            client_id, tag = session.client_id, self._new_id()
            token = session_token(client_id, secret) if self.clustered else secret
        else:
            client_id, tag, token = remote.client_id, remote.tag, remote.token
            session.client_id = client_id
        record: ClientRecord[C] = ClientRecord(
            client_id=client_id,
            context=CallContext(client_id, self._owner, session.user),
            token=token,
            tag=tag,
            session=session,
            conn=conn,
            events=EventBuffer(limits.events if keep else 0, limits.event_bytes if keep else 0),
            results=ResultCache(limits if keep else _KEEP_NOTHING),
        )
        self._records[client_id] = record
        self._tokens[token] = record
        self._live[conn] = record
        if self.clustered and keep:  # resumable on any node
            user = fingerprint(session.user)
            taken = remote is not None
            self._out.append(RecordSession(client_id, token, tag, user, self._event_seq, taken))
        hello = ServerHello(
            client_id,
            session.heartbeat,
            resume=token if keep else None,
            recovered=remote is not None,
            tag=tag,
        )
        self._send(conn, encode(hello))
        for seq, frame in missed or ():
            record.events.add(seq, frame)
            self._send(conn, frame)
        self._events.fire("connection", client_id)

    def _take_over(self, conn: C, session: Session, record: ClientRecord[C], last: int) -> None:
        """``conn`` resumes ``record``: same client id, subscriptions, calls."""
        old_conn, old = record.conn, record.session
        if record.parked_until is None:  # the old connection has not noticed it died
            self._live.pop(old_conn, None)
            self._out.append(Disconnect(old_conn, CLOSE_NORMAL, "session resumed elsewhere"))
        old.parked = False
        self._sessions.pop(old_conn, None)
        session.client_id = record.client_id
        # What the client holds is what it names when it subscribes again
        # (pipelined after its hello): until then nothing more is sent, or a
        # change would land on a copy older than the server believes it is.
        session.subscriptions = dict.fromkeys(old.subscriptions, PAUSED)
        old.subscriptions = {}
        old.closed()
        for store in session.subscriptions:
            subscribers = self._subscribers[store]
            del subscribers[old_conn]
            subscribers[conn] = None
        record.session, record.conn, record.parked_until = session, conn, None
        self._live[conn] = record
        hello = ServerHello(
            record.client_id, session.heartbeat, resume=record.token, recovered=True, tag=record.tag
        )
        self._send(conn, encode(hello))
        for frame in record.events.after(last):
            self._send(conn, frame)

    def _end(self, record: ClientRecord[C], *, here_only: bool = False) -> None:
        """The session is over: its subscriptions end ("unsubscribe" listeners
        still see its ``ctx``), then its client is gone (from the cluster too,
        unless another node took it over: ``here_only``)."""
        if self.clustered and self._resume.window and not here_only:
            self._out.append(DropSession(record.client_id))
        conn = record.conn
        session = self._sessions.get(conn)
        self._live.pop(conn, None)
        record.parked_until = None
        for call_id, (invoked, _) in record.running.items():
            self._out.append(Cancel(invoked.conn, call_id))
        record.running.clear()
        if session is not None:
            # Still known while its subscriptions end: an "unsubscribe" listener
            # may change another store this session watches (presence does).
            for store in session.closed():
                self._drop_subscriber(conn, record.client_id, store)
            self._sessions.pop(conn, None)
        del self._records[record.client_id]
        self._tokens.pop(record.token, None)
        self._events.fire("disconnect", record.client_id)

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
            case CallRequested(call):  # the most frequent, first
                self._call(conn, session, call)
            case Reply(message):
                self._send(conn, encode(message))
            case Close(code, reason):
                log.info("closing %s: %s (%s)", session.client_id, reason, code)
                self._out.append(Disconnect(conn, code, reason))
            case Opened():
                self._opened(conn, session, action)
            case AuthenticateRequested(token) if self._authenticate is not None:
                info = replace(self._infos.pop(conn, ConnectInfo()), token=token)
                self._out.append(Authenticate(conn, info, self._authenticate))
            case SubscribeRequested():
                self._subscribe(conn, session, action)
            case UnsubscribeRequested(store):
                self._drop_subscriber(conn, session.client_id, store)
            case Throttle(seconds):
                self._out.append(ThrottleReads(conn, seconds))
            case Misbehaved(error):
                client_id = session.client_id
                log.info("bad input from %s: %s", client_id, error)
                known = client_id if conn in self._live else None
                self._events.fire("error", error, known)

    # -- subscriptions -----------------------------------------------------------

    def _subscribe(self, conn: C, session: Session, request: SubscribeRequested) -> None:
        registry = self._registry
        store = request.store
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
        if store not in session.subscriptions:  # a resync was allowed already
            refused = self._refuse_subscription(conn, session, store, definition, key)
            if refused is not None:
                self._answer(conn, ErrorMessage(*refused, store))
                return
        with registry.lock:
            # Send what is queued first: then what the client gets below (a
            # snapshot, or the history) ends exactly at the current version.
            self._flush()
            resync = store in session.subscriptions
            try:
                if resync:  # it exists: a deletion would have ended the subscription
                    inst = registry.find(definition, key) or _vanished(store)
                else:
                    inst = registry.acquire(definition, key)
                frames = self._catch_up(request, inst.epoch, inst.version)
                if frames is None:
                    frames = [self._snapshot_frame(store, inst.state, inst.version, inst.epoch)]
            except Exception as exc:
                why = self._failure(exc, f"cannot serve {store!r} to {client_id}", client_id)
                message = ErrorMessage("subscribe", f"cannot serve '{store}': {why}", store)
                self._send(conn, encode(message))
                return
            session.subscribed(store, inst.version)
            self._subscribers.setdefault(store, {})[conn] = None
            for frame in frames:
                self._send(conn, frame)
        if not resync:
            if self.clustered:
                self._out.append(CountSubscriber(store, 1))
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
            rule, f"store {store!r}", self._live[conn].context, key
        ):
            return "subscribe", FORBIDDEN
        if len(session.subscriptions) >= limits.max_subscriptions:
            return "limit", f"too many subscriptions (at most {limits.max_subscriptions})"
        registry = self._registry
        if (
            key is not None
            and not registry.in_memory(definition, key)  # created or loaded: one more in memory
            and registry.instance_count(definition) >= limits.max_instances
        ):
            cap = limits.max_instances
            return "limit", f"too many instances of {definition.name!r} (at most {cap})"
        return None

    def _catch_up(
        self, request: SubscribeRequested, epoch: str, current: int
    ) -> list[bytes] | None:
        """The frames from the copy the client holds to ``current``, or None."""
        if request.version is None or request.epoch != epoch:
            return None
        return self._history.since(request.store, epoch, request.version, current)

    def _snapshot_frame(self, store: str, state: Any, version: int, epoch: str) -> bytes:
        cached = self._snapshots.get(store)
        if cached is not None and cached[0] == version:
            return cached[1]
        frame = encode_value(Snapshot(store, version, state, epoch), f"store {store!r}")
        self._snapshots[store] = (version, frame)
        return frame

    def _drop_subscriber(self, conn: C, client_id: str, store: str) -> None:
        subscribers = self._subscribers.get(store)
        if subscribers is None or conn not in subscribers:
            return
        del subscribers[conn]
        if not subscribers:
            del self._subscribers[store]
            self._snapshots.pop(store, None)  # an idle instance may leave memory
            if not self.clustered:  # a client of another node may resume here
                self._history.forget(store)  # and so may its history: no session holds a copy
        self._events.fire("unsubscribe", store, client_id)
        idle = self._registry.release(store)
        if self.clustered:  # idle when no node has a subscriber left: see idle()
            self._out.append(CountSubscriber(store, -1))
        else:
            self._went_idle(store, idle)

    def _went_idle(self, store: str, idle: Callable[[], None] | None) -> None:
        """``store`` has no subscriber left: ``on_idle``, then a transient instance goes."""
        if idle is not None:
            try:
                idle()
            except Exception as exc:
                log.exception("on_idle of %r raised", store)
                self._events.fire("error", exc, None)
        try:
            self._registry.reclaim(store)
        except Exception as exc:  # on_terminate is user code
            log.exception("releasing %r raised", store)
            self._events.fire("error", exc, None)

    def _fan_out(self, event: Change | Removed) -> None:
        """The hub's own watch on every store: each change into the history and
        to the subscribers that do not hold it yet, encoded once."""
        store = event.store
        if isinstance(event, Removed):
            self._snapshots.pop(store, None)
            self._history.forget(store)
            subscribers = self._subscribers.pop(store, {})
            sessions = self._sessions  # a session that is ending has left it already
            targets = tuple(c for c in subscribers if c in sessions and sessions[c].removed(store))
            if targets:
                self._out.append(Transmit(targets, encode(Deleted(store))))
            return
        listening = self._subscribers.get(store)
        if listening is None and not self.clustered:
            # Nobody holds a copy to catch up (a parked session's subscription
            # still counts): an unwatched instance costs no encode and no history.
            return
        version = event.version
        if event.patches is None:
            message: ServerMessage = Snapshot(store, version, event.state, event.epoch, event.cause)
            frame = encode_value(message, f"store {store!r}")
            self._snapshots[store] = (version, frame)
        else:
            message = PatchMessage(store, version, event.patches, event.cause)
            frame = encode_value(message, f"store {store!r}")
        if self._history.limits.patches > 0:
            self._history.record(store, event.epoch, version, frame)
        if listening is None:  # clustered: kept for clients that may resume here
            return
        sessions = self._sessions  # one that is ending (its "unsubscribe" made this) is gone
        targets = tuple(
            c for c in listening if (s := sessions.get(c)) is not None and s.advance(store, version)
        )
        if targets:
            self._out.append(Transmit(targets, frame))

    # -- calls --------------------------------------------------------------------

    def _call(self, conn: C, session: Session, raw: RawCall) -> None:
        """The cheap checks in order (a running id, a resent call's cached
        answer, the function, its access rule, the cap on running calls),
        then the arguments are decoded, then the call runs."""
        record = self._live[conn]
        running = record.running
        if raw.id in running:
            if raw.resent:  # its answer will go to the client's connection of the moment
                return
            why = f"call id {raw.id} is already running (ids must be unique among pending calls)"
            self._apply(conn, session, session.reject(why, self._now))
            return
        if raw.resent:  # sent again after a drop: the same answer, never a second run
            answered = record.results.get(raw.id)
            if answered is not None:
                self._send(conn, answered)
                return
            if record.results.ran(raw.id):
                problem = f"call {raw.id} already ran; its result is no longer kept"
                self._answer(conn, Result(raw.id, error=problem))
                return
        function = self._functions.get(raw.name)
        if function is None:
            self._answer(conn, Result(raw.id, error=f"unknown function '{clip(raw.name, 100)}'"))
            return
        context = record.context
        rule = self._access.function(raw.name)
        if rule is not None and not self._permits(rule, f"function {raw.name!r}", context):
            self._answer(conn, Result(raw.id, error=FORBIDDEN))
            return
        limits = self.limits
        if len(running) >= limits.max_pending_calls:
            self._answer(conn, Result(raw.id, error=TOO_MANY_CALLS))
            return
        try:
            call = raw.decode()
        except ProtocolError as exc:
            self._apply(conn, session, session.reject(str(exc), self._now))
            return
        invoked = Invoke(conn, call, function, context, (record.tag, call.id))
        timeout = limits.call_timeout
        running[call.id] = (invoked, _NEVER if timeout is None else self._now + timeout)
        self._out.append(ClaimCall(invoked) if self.clustered else invoked)

    def _record_of(self, invoked: Invoke[C]) -> ClientRecord[C] | None:
        """The session ``invoked`` still runs for (None: it was answered, timed
        out or cancelled, or its session ended)."""
        record = self._records.get(invoked.context.client_id)
        entry = None if record is None else record.running.get(invoked.call.id)
        return record if entry is not None and entry[0] is invoked else None

    def _settle(self, record: ClientRecord[C], invoked: Invoke[C], frame: bytes) -> None:
        """The answer to ``record``'s call, after the changes it caused: after
        those queued (sent first) and, with storage, once they are committed
        (held till then, the call still counted as running, so a resent call
        waits too, but past its deadline now: its handler is over)."""
        self._flush()
        token = self._registry.commit_token()
        if token is None:
            self._deliver_result(record, invoked.call.id, frame)
        else:
            record.running[invoked.call.id] = (invoked, _NEVER)
            self._held.append((token, record, invoked.call.id, frame))

    def _deliver_result(
        self, record: ClientRecord[C], call_id: int, frame: bytes, save: bool = True
    ) -> None:
        """The answer is final: kept for a resume (in the cluster too, unless
        ``save`` is False: it came from there, or the call never ran), sent to
        the client's connection of the moment (if it has one)."""
        record.running.pop(call_id, None)
        record.results.add(call_id, frame)
        if save and self.clustered:
            self._out.append(SaveResult(record.client_id, call_id, frame))
        if record.parked_until is None:
            self._send(record.conn, frame)

    def _expire_calls(self, record: ClientRecord[C]) -> None:
        """Answer "timeout" to the calls of ``record`` whose deadline has come,
        and cancel their handlers."""
        now = self._now
        due = [(i, inv) for i, (inv, deadline) in record.running.items() if deadline <= now]
        if not due:
            return
        self._flush()  # the changes they made so far go first
        for call_id, invoked in due:
            log.warning(
                "function %r timed out after %s s for %s",
                invoked.call.name,
                self.limits.call_timeout,
                record.client_id,
            )
            self._out.append(Cancel(invoked.conn, call_id))
            self._deliver_result(record, call_id, encode(Result(call_id, error=CALL_TIMEOUT)))

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
        session = self._sessions.get(conn)
        if session is not None and not session.parked:
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


def pack_event_data(data: JSON, channel: str) -> bytes:
    """``data`` of an event, validated and encoded once (TypeError naming the problem)."""
    try:
        return pack_value(freeze(data))
    except (OverflowError, ValueError) as exc:
        raise TypeError(f"event {channel!r} cannot be encoded: {exc}") from None


def _vanished(store: str) -> Any:
    raise LookupError(f"store {store!r} is gone")
