"""What one client may cost the server: the options of API §7 in one value (pure).

:class:`Limits` gathers every bound a client's behaviour meets, with the
defaults the README documents. The hub and the sessions enforce the rules
(subscriptions, calls, instances, names, rate, bad frames); the transports
the I/O bounds (bytes queued for a connection, how long a close may take).
:class:`RateLimit` is a token bucket as data; :class:`TokenBucket` its
arithmetic, fed a clock by the session that owns it.
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass
from typing import Final

__all__ = ["Limits", "RateLimit", "TokenBucket", "check_instance_key"]

FRAME_UNIT: Final = 64 << 10
"""A frame counts as one message per started 64 KiB against the rate limit:
the work a frame costs grows with its size, so a large one waits longer."""


@dataclass(frozen=True, slots=True)
class RateLimit:
    """``rate`` messages per second per connection on average, ``burst`` at once.

    A connection over its budget is not closed: the server stops reading
    from it until the budget allows the next message, so its own socket
    buffers fill and TCP slows the sender down (throttled reading). A frame
    counts as one message per started 64 KiB."""

    rate: float
    burst: int

    def __post_init__(self) -> None:
        if isinstance(self.rate, bool) or not isinstance(self.rate, int | float):
            raise ValueError(f"rate_limit rate must be a number, got {self.rate!r}")
        if not (math.isfinite(self.rate) and self.rate > 0):
            raise ValueError(f"rate_limit rate must be > 0 messages/s, got {self.rate!r}")
        if isinstance(self.burst, bool) or not isinstance(self.burst, int) or self.burst < 1:
            raise ValueError(f"rate_limit burst must be an int >= 1, got {self.burst!r}")


@dataclass(frozen=True, slots=True)
class Limits:
    """Every bound of one server (see the README's "How it behaves").

    - ``max_message_size``: largest frame accepted (bytes); bigger: close 1009.
    - ``max_send_buffer``: bytes queued for one connection, counting
      everything queued for it; above: close 1013.
    - ``close_timeout``: seconds a close may take before the connection is
      dropped, so a peer that never reads is released anyway.
    - ``max_subscriptions``: store subscriptions per connection; above: ``err limit``.
    - ``max_pending_calls``: calls running for one session; above: the call
      is answered ``"limit: too many pending calls"``.
    - ``call_timeout``: seconds an async handler may run before it is
      cancelled and the caller gets ``"timeout"`` (None: no limit).
    - ``max_instances``: live instances per dynamic store that subscriptions
      may create; above: ``err limit``.
    - ``max_name_length``: characters in an instance name a client sends.
    - ``rate_limit``: a :class:`RateLimit`, or None for none.
    - ``max_bad_frames``: bad frames a connection may send (one is forgiven
      per :attr:`bad_frame_decay` seconds) before it is closed with 1008.
    - ``handshake_timeout``: seconds a new connection has to say hello.
    """

    max_message_size: int = 1 << 20
    max_send_buffer: int = 4 << 20
    close_timeout: float = 5.0
    max_subscriptions: int = 256
    max_pending_calls: int = 64
    call_timeout: float | None = 30.0
    max_instances: int = 10_000
    max_name_length: int = 256
    rate_limit: RateLimit | None = RateLimit(rate=200.0, burst=500)
    max_bad_frames: int = 10
    bad_frame_decay: float = 60.0
    handshake_timeout: float = 10.0

    def __post_init__(self) -> None:
        for name in _COUNTS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        for name in _SECONDS:
            value = getattr(self, name)
            if value is None and name == "call_timeout":
                continue
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not (math.isfinite(value) and value > 0)
            ):
                raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
        if self.rate_limit is not None and not isinstance(self.rate_limit, RateLimit):
            raise TypeError(f"rate_limit must be a RateLimit or None, got {self.rate_limit!r}")


_COUNTS = (
    "max_message_size",
    "max_send_buffer",
    "max_subscriptions",
    "max_pending_calls",
    "max_instances",
    "max_name_length",
    "max_bad_frames",
)
_SECONDS = ("close_timeout", "call_timeout", "bad_frame_decay", "handshake_timeout")


class TokenBucket:
    """The arithmetic of a :class:`RateLimit`, fed a clock by its session.

    :meth:`spend` charges a frame and answers how many seconds must pass
    before the next one may be read (0.0: read on). Kept as one timestamp,
    the time at which the bucket would be full again (the "virtual
    scheduling" form of a token bucket, GCRA): one read and one write per
    frame. It may run past the burst: frames a transport had already read
    still count, and the pause grows with them."""

    __slots__ = ("_full_at", "_interval", "_tolerance")

    def __init__(self, limit: RateLimit, now: float) -> None:
        self._interval = 1.0 / limit.rate
        self._tolerance = limit.burst * self._interval
        self._full_at = now

    def spend(self, size: int, now: float) -> float:
        """A frame of ``size`` bytes arrived at ``now``; the seconds to wait."""
        full_at = self._full_at
        if full_at < now:
            full_at = now
        full_at += (1 + size // FRAME_UNIT) * self._interval
        self._full_at = full_at
        wait = full_at - now - self._tolerance
        return wait if wait > 0.0 else 0.0


def check_instance_key(key: str, max_length: int | None = None) -> str | None:
    """Why ``key`` (of ``"Prefix:key"``) cannot name an instance, or None.

    The rules of registered names, for names a client or server code makes
    up: no control characters (Unicode category Cc), no ``*`` (it would read
    as a pattern), and at most ``max_length`` characters when given."""
    if max_length is not None and len(key) > max_length:
        return f"longer than {max_length} characters"
    if "*" in key:
        return "'*' is not allowed in a key"
    if not key.isprintable() and any(unicodedata.category(ch) == "Cc" for ch in key):
        return "control characters are not allowed"
    return None
