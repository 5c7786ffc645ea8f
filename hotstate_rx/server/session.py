"""One connection's rules, sans I/O: frames and a clock in, actions out.

A :class:`Session` knows the handshake, the heartbeat, which store instances
the client is subscribed to (and the version it holds of each), and how to
treat bad input. It never touches a socket, a loop or a store: the hub
(:mod:`hotstate_rx.server`) feeds it frames with ``receive(frame, now)``, calls
``tick(now)`` at ``next_deadline()``, and performs the actions it returns.

States::

    HANDSHAKE --hello (same version)--> OPEN --close action / closed()--> CLOSED
        |  \\--anything else / other version--> CLOSED (err protocol, close 1002)
        \\--hello, with authenticate--> AUTHENTICATING --accept(user)--> OPEN
                                            \\--refuse(reason)--> CLOSED (err unauthorized, 4401)

    In a cluster, a hello that presents a resume token goes through RESUMING
    (after AUTHENTICATING, if any) until the hub knows the session it names:
    ... --hello with resume--> RESUMING --resumed()--> OPEN

With ``authenticate`` nothing of the connection is served before the verdict:
the server's ``hello`` (which tells the client it is in) waits for
:meth:`Session.accept`, and frames the client pipelines after its own hello are
held, within :data:`MAX_HELD_FRAMES` and ``max_message_size`` bytes, then
handled in order once it is accepted. The handshake timeout covers the
verdict too: a client is in, or out, within ``handshake_timeout`` seconds.
RESUMING holds frames the same way, within the same bounds and time, while
the hub reads the session from the cluster (another node may have had it).

Bad frames while OPEN are answered with ``err bad_message`` and the
connection stays up; a connection that sends ``max_bad_frames`` of them (one
is forgiven per ``bad_frame_decay`` seconds, good frames in between change
nothing) is closed with 1008, so a broken or hostile peer cannot keep the
server busy forever. With a ``rate_limit``, every frame spends from the
connection's token bucket, and a :class:`Throttle` tells the driver how long
to stop reading once the budget is spent (see
:class:`~hotstate_rx.server.limits.Limits`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Final

from ..errors import ProtocolError
from ..protocol import (
    PROTOCOL_VERSION,
    ClientHello,
    ErrorMessage,
    Ping,
    Pong,
    RawCall,
    ServerMessage,
    Subscribe,
    Unsubscribe,
    clip,
    decode_client_envelope,
)
from .limits import Limits, TokenBucket

__all__ = [
    "CLOSE_DISCONNECTED",
    "CLOSE_GOING_AWAY",
    "CLOSE_HEARTBEAT",
    "CLOSE_INTERNAL",
    "CLOSE_NORMAL",
    "CLOSE_POLICY",
    "CLOSE_PROTOCOL",
    "CLOSE_RESTART",
    "CLOSE_TOO_BIG",
    "CLOSE_TRY_AGAIN",
    "CLOSE_UNAUTHORIZED",
    "DEFAULT_LIMITS",
    "MAX_HELD_FRAMES",
    "Action",
    "AuthenticateRequested",
    "CallRequested",
    "Close",
    "Misbehaved",
    "Opened",
    "Reply",
    "Session",
    "State",
    "SubscribeRequested",
    "Throttle",
    "UnsubscribeRequested",
    "close_reason",
]

DEFAULT_LIMITS: Final = Limits()

MAX_HELD_FRAMES: Final = 1024
"""Frames a client may pipeline after its hello while it is being
authenticated (a reconnecting client re-sends every subscription at once)."""

CLOSE_NORMAL: Final = 1000
CLOSE_GOING_AWAY: Final = 1001
CLOSE_PROTOCOL: Final = 1002
CLOSE_POLICY: Final = 1008
CLOSE_TOO_BIG: Final = 1009
CLOSE_HEARTBEAT: Final = 1011
CLOSE_RESTART: Final = 1012
"""The server restarts: a cluster node that leaves closes with it, so its
clients resume their sessions on another node."""
CLOSE_TRY_AGAIN: Final = 1013
CLOSE_INTERNAL: Final = 1011
"""The server failed (``authenticate`` raised something else than
``Unauthorized``): the client may try again later."""
CLOSE_DISCONNECTED: Final = 4000
"""``server.disconnect(client_id, reason)``: the server ended this connection."""
CLOSE_UNAUTHORIZED: Final = 4401
"""``authenticate`` refused the connection (after ``err`` ``unauthorized``)."""


class State(enum.Enum):
    """Where a connection is (see the module docstring)."""

    HANDSHAKE = "handshake"
    AUTHENTICATING = "authenticating"
    RESUMING = "resuming"
    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class Reply:
    """Send ``message`` to this client."""

    message: ServerMessage


@dataclass(frozen=True, slots=True)
class Close:
    """Close the connection with a WebSocket close code."""

    code: int
    reason: str


@dataclass(frozen=True, slots=True)
class Opened:
    """The handshake succeeded: the hub answers with its ``hello`` (resuming
    the session ``resume`` names when it can) and serves the connection."""

    client_id: str
    resume: str | None = None
    last_event: int | None = None


@dataclass(frozen=True, slots=True)
class AuthenticateRequested:
    """The client said hello with ``token``: the hub asks ``authenticate``, then
    calls :meth:`Session.accept` or :meth:`Session.refuse`."""

    token: str | None = field(repr=False)


@dataclass(frozen=True, slots=True)
class SubscribeRequested:
    """The client asked for ``store``; the hub answers with a snapshot, the
    patches since the ``version`` of ``epoch`` the client holds, or an error
    (a second request for a subscribed store is a resync)."""

    store: str
    version: int | None = None
    epoch: str | None = None


@dataclass(frozen=True, slots=True)
class UnsubscribeRequested:
    """The client ended a subscription it had (already removed here)."""

    store: str


@dataclass(frozen=True, slots=True)
class CallRequested:
    """The client called a function; the hub answers with a ``Result``, after
    the cheap checks, before it decodes the arguments (``call.decode()``)."""

    call: RawCall


@dataclass(frozen=True, slots=True)
class Throttle:
    """Read nothing more from this client for ``seconds`` (its rate limit)."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Misbehaved:
    """The client broke the protocol; the hub reports ``error`` to its
    ``"error"`` listeners (the client itself is answered by the other actions)."""

    error: ProtocolError


Action = (
    Reply
    | Close
    | Opened
    | AuthenticateRequested
    | SubscribeRequested
    | UnsubscribeRequested
    | CallRequested
    | Misbehaved
    | Throttle
)


class Session:
    """The protocol state of one connection (see the module docstring).

    ``heartbeat`` is in seconds (0 disables it); a client that has not said
    ``hello`` within ``limits.handshake_timeout`` seconds is closed whatever
    the heartbeat, so a silent socket cannot hold a slot forever. With
    ``authenticate=True`` a hello leads to ``AUTHENTICATING`` instead of
    ``OPEN``. ``now`` values come from one monotonic clock chosen by the caller."""

    def __init__(
        self,
        client_id: str,
        *,
        now: float,
        heartbeat: float = 30.0,
        limits: Limits = DEFAULT_LIMITS,
        authenticate: bool = False,
        remote_resume: bool = False,
    ) -> None:
        if heartbeat < 0:
            raise ValueError(f"heartbeat must be >= 0, got {heartbeat!r}")
        self.client_id = client_id
        """The client's id; a resumed session's, once the hub resumed one."""
        self.heartbeat: Final = float(heartbeat)
        self.limits: Final = limits
        self.authenticate: Final = authenticate
        self.remote_resume: Final = remote_resume
        """A resume token may name a session the hub must first look up
        elsewhere (the cluster): a hello with one leads to RESUMING."""
        self.state = State.HANDSHAKE
        self.user: Any = None
        """What ``authenticate`` returned for this connection (None without it)."""
        self._hello: ClientHello | None = None
        self._held: list[bytes | str] = []
        self._held_bytes = 0
        self.subscriptions: dict[str, int] = {}
        """Subscribed instance name -> version the client holds."""
        self.close_code: int | None = None
        """The code this session closed the connection with, if it did."""
        self.parked = False
        """The connection is gone but the session may be resumed: nothing is sent."""
        self._bad_frames = 0
        self._bad_since = now
        self._bucket = None if limits.rate_limit is None else TokenBucket(limits.rate_limit, now)
        self._last_seen = now
        self._next_ping = now + self.heartbeat
        self._hello_by = now + limits.handshake_timeout

    # -- input ---------------------------------------------------------------

    def receive(self, frame: bytes | str, now: float) -> list[Action]:
        """Handle one frame from the client."""
        if self.state is State.CLOSED:
            return []
        self._last_seen = now
        bucket = self._bucket
        if bucket is None:
            return self._receive(frame, now)
        wait = bucket.spend(len(frame), now)
        actions = self._receive(frame, now)
        if wait:
            actions.append(Throttle(wait))
        return actions

    def _receive(self, frame: bytes | str, now: float) -> list[Action]:
        limit = self.limits.max_message_size
        if len(frame) > limit:
            why = f"frame larger than {limit} bytes"
            return [Misbehaved(ProtocolError(why)), *self._close(CLOSE_TOO_BIG, why)]
        if self.state is State.AUTHENTICATING or self.state is State.RESUMING:
            return self._hold(frame)
        try:
            msg = decode_client_envelope(frame)
        except ProtocolError as exc:
            return self.reject(str(exc), now)
        if self.state is State.HANDSHAKE:
            return self._handshake(msg)
        match msg:
            case RawCall():
                return [CallRequested(msg)]
            case Subscribe(store, version, epoch):
                return [SubscribeRequested(store, version, epoch)]
            case Unsubscribe(store):
                if self.subscriptions.pop(store, None) is None:
                    return []
                return [UnsubscribeRequested(store)]
            case Ping():
                return [Reply(Pong())]
            case Pong():
                return []
            case _:
                return self.reject(f"unexpected {type(msg).__name__} after the handshake", now)

    def _handshake(self, msg: object) -> list[Action]:
        if not isinstance(msg, ClientHello):
            return self._fail(f"the first message must be hello, got {type(msg).__name__}")
        if msg.version != PROTOCOL_VERSION:
            return self._fail(
                f"protocol version mismatch: server speaks {PROTOCOL_VERSION}, "
                f"client speaks {msg.version}"
            )
        self._hello = msg
        if self.authenticate:
            self.state = State.AUTHENTICATING
            return [AuthenticateRequested(msg.token)]
        return self._open()

    def _open(self) -> list[Action]:
        hello = self._hello
        resume, last = (None, None) if hello is None else (hello.resume, hello.last_event)
        self.state = State.RESUMING if self.remote_resume and resume else State.OPEN
        return [Opened(self.client_id, resume, last)]

    def resumed(self, now: float) -> list[Action]:
        """The hub settled the session a hello's resume token named (resumed
        or started afresh): handle what the client sent meanwhile, in order.
        Ignored unless resuming."""
        if self.state is not State.RESUMING:
            return []
        self.state = State.OPEN
        return self._release(now)

    def _release(self, now: float) -> list[Action]:
        """Handle the held frames, in order (held again if still not OPEN)."""
        actions: list[Action] = []
        held, self._held, self._held_bytes = self._held, [], 0
        for frame in held:  # their rate was charged when they came
            actions += self._receive(frame, now)
        return actions

    # -- authentication (driven by the hub) -----------------------------------

    def _hold(self, frame: bytes | str) -> list[Action]:
        """Keep a frame that came before the verdict, within bounds: a client
        cannot make the server buffer without limit while it waits."""
        self._held.append(frame)
        self._held_bytes += len(frame)
        budget = self.limits.max_message_size
        if len(self._held) > MAX_HELD_FRAMES or self._held_bytes > budget:
            self._held, self._held_bytes = [], 0
            why = "too much sent before the connection was accepted"
            return [Misbehaved(ProtocolError(why)), *self._close(CLOSE_POLICY, why)]
        return []

    def accept(self, user: Any, now: float) -> list[Action]:
        """``authenticate`` accepted the client as ``user``: say hello, then
        handle what it sent meanwhile, in order. Ignored unless authenticating."""
        if self.state is not State.AUTHENTICATING:
            return []
        self.user = user
        return self._open() + self._release(now)

    def refuse(self, reason: str) -> list[Action]:
        """``authenticate`` refused the client: ``err`` ``unauthorized`` with
        ``reason``, close 4401. Ignored unless authenticating."""
        if self.state is not State.AUTHENTICATING:
            return []
        self._held, self._held_bytes = [], 0
        return [
            Reply(ErrorMessage("unauthorized", reason)),
            *self._close(CLOSE_UNAUTHORIZED, "unauthorized"),
        ]

    def close(self, code: int, reason: str) -> list[Action]:
        """The server ends the connection (``server.disconnect``, a failed
        ``authenticate``); nothing more is handled from it."""
        if self.state is State.CLOSED:
            return []
        self._held, self._held_bytes = [], 0
        return self._close(code, reason)

    def reject(self, why: str, now: float) -> list[Action]:
        """A bad frame (found here, or by the hub once it looked inside): ``err
        bad_message``; 1008 once the connection's bad-frame budget is spent."""
        if self.state is State.HANDSHAKE:
            return self._fail(why)
        if self.state is State.CLOSED:
            return []
        why = clip(why)
        if self._bad_frames:  # one is forgiven per bad_frame_decay seconds
            decay = self.limits.bad_frame_decay
            forgiven = int((now - self._bad_since) // decay)
            if forgiven:
                self._bad_frames = max(0, self._bad_frames - forgiven)
                self._bad_since += forgiven * decay
        if not self._bad_frames:
            self._bad_since = now
        self._bad_frames += 1
        reply: list[Action] = [
            Misbehaved(ProtocolError(why)),
            Reply(ErrorMessage("bad_message", why)),
        ]
        if self._bad_frames >= self.limits.max_bad_frames:
            return reply + self._close(CLOSE_POLICY, "too many bad frames")
        return reply

    def _fail(self, why: str) -> list[Action]:
        why = clip(why)
        return [
            Misbehaved(ProtocolError(why)),
            Reply(ErrorMessage("protocol", why)),
            *self._close(CLOSE_PROTOCOL, why),
        ]

    def _close(self, code: int, reason: str) -> list[Action]:
        self.state = State.CLOSED
        self.close_code = code
        return [Close(code, close_reason(reason))]

    # -- subscriptions (driven by the hub) -----------------------------------

    def subscribed(self, store: str, version: int) -> None:
        """The hub sent a snapshot of ``store`` at ``version``."""
        self.subscriptions[store] = version

    def advance(self, store: str, version: int) -> bool:
        """A change of ``store`` at ``version`` is ready: True if the client needs it
        (subscribed and not already holding that version), recording it as sent."""
        held = self.subscriptions.get(store)
        if held is None or version <= held or self.parked:
            return False
        self.subscriptions[store] = version
        return True

    def removed(self, store: str) -> bool:
        """The instance was deleted: end the subscription; True if there was one."""
        return self.subscriptions.pop(store, None) is not None

    # -- time -------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        """When :meth:`tick` must run next (None: nothing to wait for)."""
        if self.state is State.CLOSED:
            return None
        deadlines = [] if self.state is State.OPEN else [self._hello_by]
        if self.heartbeat:
            deadlines += [self._next_ping, self._last_seen + 2 * self.heartbeat]
        return min(deadlines, default=None)

    def tick(self, now: float) -> list[Action]:
        """Ping when due; close a connection silent for 2 x heartbeat, or one
        that has not said hello in time."""
        if self.state is State.CLOSED:
            return []
        if self.state is State.HANDSHAKE and now >= self._hello_by:
            return self._close(CLOSE_HEARTBEAT, "no hello in time")
        if self.state is State.AUTHENTICATING and now >= self._hello_by:
            self._held, self._held_bytes = [], 0
            return self._close(CLOSE_HEARTBEAT, "no verdict from authenticate in time")
        if self.state is State.RESUMING and now >= self._hello_by:
            self._held, self._held_bytes = [], 0
            return self._close(CLOSE_TRY_AGAIN, "the session could not be looked up in time")
        if not self.heartbeat:
            return []
        if now - self._last_seen >= 2 * self.heartbeat:
            return self._close(CLOSE_HEARTBEAT, "heartbeat timeout")
        if now >= self._next_ping:
            self._next_ping = now + self.heartbeat
            if self.state is State.OPEN:
                return [Reply(Ping())]
        return []

    def closed(self) -> list[str]:
        """The transport closed: return the stores the client was subscribed to."""
        self.state = State.CLOSED
        self._held, self._held_bytes = [], 0
        stores = list(self.subscriptions)
        self.subscriptions.clear()
        return stores


def close_reason(text: str) -> str:
    """``text`` cut to fit a close frame (123 bytes of UTF-8, RFC 6455 §5.5)."""
    encoded = text.encode()
    if len(encoded) <= 120:
        return text
    return encoded[:120].decode(errors="ignore")
