"""What the hub keeps of one client across connections (pure).

A :class:`ClientRecord` is a client's session: its id, the token that resumes
it, the events sent to it recently and the answers to its recent calls. It
outlives a connection that dropped for :attr:`Resume.window` seconds, so a
client that comes back in time keeps its id, gets the events it missed and
the results it did not receive, and no handler runs twice for one call id.

Every buffer is bounded by count and bytes; what falls out of one is
remembered just enough to know that it did, so the hub never claims a
recovery it cannot deliver.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Generic, TypeVar

from ..frozen import freeze
from ..protocol import pack_value
from .access import CallContext
from .session import Session

if TYPE_CHECKING:
    from .hub import Invoke

__all__ = [
    "ClientRecord",
    "EventBuffer",
    "RemoteSession",
    "ResultCache",
    "Resume",
    "client_of",
    "fingerprint",
    "session_token",
]

C = TypeVar("C")


@dataclass(frozen=True, slots=True)
class Resume:
    """How long and how much of a dropped client's session the server keeps
    (``Server(resume_window=...)``; ``window=0`` turns resuming off)."""

    window: float = 60.0
    events: int = 1000
    """Events kept per client, sent or not, for the one that reconnects."""
    event_bytes: int = 1 << 20
    results: int = 256
    """Call results kept per client (at least ``max_pending_calls``)."""
    result_bytes: int = 1 << 20
    ran: int = 4096
    """Call ids remembered as answered after their result was dropped."""

    def __post_init__(self) -> None:
        window = self.window
        if isinstance(window, bool) or not isinstance(window, int | float) or window < 0:
            raise ValueError(f"resume_window must be a number of seconds >= 0, got {window!r}")


class EventBuffer:
    """The last events sent to one client, by server-wide sequence number."""

    __slots__ = ("_bytes", "_frames", "_limit_bytes", "_limit_count", "evicted")

    def __init__(self, count: int, size: int) -> None:
        self._frames: deque[tuple[int, bytes]] = deque()
        self._bytes = 0
        self._limit_count = count
        self._limit_bytes = size
        self.evicted = 0
        """The highest sequence number no longer kept (0: nothing lost)."""

    def add(self, seq: int, frame: bytes) -> None:
        self._frames.append((seq, frame))
        self._bytes += len(frame)
        while self._frames and (
            len(self._frames) > self._limit_count or self._bytes > self._limit_bytes
        ):
            old, dropped = self._frames.popleft()
            self._bytes -= len(dropped)
            self.evicted = old

    def covers(self, last: int) -> bool:
        """Every event after ``last`` (the last one the client got) is still here."""
        return last >= self.evicted

    def after(self, last: int) -> list[bytes]:
        """The frames of the events after ``last``, in order."""
        return [frame for seq, frame in self._frames if seq > last]


class ResultCache:
    """The encoded answers to one client's recent calls, by call id."""

    __slots__ = ("_bytes", "_frames", "_limits", "_ran")

    def __init__(self, limits: Resume) -> None:
        self._limits = limits
        self._frames: OrderedDict[int, bytes] = OrderedDict()
        self._bytes = 0
        self._ran: OrderedDict[int, None] = OrderedDict()  # answered, answer dropped

    def add(self, call_id: int, frame: bytes) -> None:
        limits = self._limits
        self._frames[call_id] = frame
        self._bytes += len(frame)
        while self._frames and (
            len(self._frames) > limits.results or self._bytes > limits.result_bytes
        ):
            old, dropped = self._frames.popitem(last=False)
            self._bytes -= len(dropped)
            self._ran[old] = None
            if len(self._ran) > limits.ran:
                self._ran.popitem(last=False)

    def get(self, call_id: int) -> bytes | None:
        return self._frames.get(call_id)

    def ran(self, call_id: int) -> bool:
        """The call was answered but its answer is no longer kept."""
        return call_id in self._ran


@dataclass(eq=False, slots=True)
class ClientRecord(Generic[C]):
    """One client's session as the hub keeps it (see the module docstring)."""

    client_id: str
    context: CallContext
    """The session's ``ctx`` (its ``user`` is what ``authenticate`` returned)."""
    token: str
    """Resumes this session. It stays the same for the session's life: a
    client whose connection drops again before it got a new one would
    otherwise hold a token that no longer works."""
    tag: str
    """Names this session's calls in the ``cause`` of the changes they make."""
    session: Session
    """The connection rules of the current (or, parked, the last) connection."""
    conn: C
    """The current connection, or the last one while parked."""
    events: EventBuffer
    results: ResultCache
    parked_until: float | None = None
    """Set while the connection is gone: the session ends at that time."""
    running: dict[int, tuple[Invoke[C], float]] = field(default_factory=dict)
    """The calls that run now (or whose answer waits for storage): id -> (the
    :class:`~.hub.Invoke`, its deadline; infinite once its handler is over)."""


# -- sessions in a cluster ------------------------------------------------------

MAX_CLIENT_ID: Final = 64
"""The longest client id a resume token may name (ours are 16 characters)."""


def session_token(client_id: str, secret: str) -> str:
    """A resume token that names its session (``client_id.secret``): a node that
    does not know the session finds its record in the cluster by the id."""
    return f"{client_id}.{secret}"


def client_of(token: str) -> str | None:
    """The client id a :func:`session_token` names, or None for a token that
    names none (forged, or from a server outside a cluster)."""
    client_id, dot, secret = token.rpartition(".")
    if not dot or not secret or not client_id or len(client_id) > MAX_CLIENT_ID:
        return None
    return client_id if client_id.isascii() and client_id.isprintable() else None


def fingerprint(user: object) -> str:
    """What stands for a session's user in the cluster: a digest of its
    JSON-like form (the same on every node whose ``authenticate`` returns an
    equal value), or of its type and ``repr`` for other objects."""
    try:
        data = pack_value(freeze(user))
    except (TypeError, ValueError, OverflowError):
        kind = type(user)
        data = f"{kind.__module__}.{kind.__qualname__}:{user!r}".encode()
    return hashlib.sha256(data).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class RemoteSession:
    """A session as the cluster recorded it, read by the node its client
    reconnected to (see ``docs/CLUSTER.md``)."""

    client_id: str
    token: str = field(repr=False)
    tag: str
    user: str
    """The :func:`fingerprint` of its user."""
    events: tuple[tuple[int, bytes], ...]
    """The events after the client's last one that were meant for it, in order."""
    complete: bool
    """Every event after the client's last one is still in the cluster's log."""
