"""Events across the cluster: one log, one order, one number per event.

``emit()`` runs one Lua script that appends the event to ``{ns}:events`` (a
stream bounded to :data:`EVENTS_KEPT` entries) and publishes it on the bus
with its stream id. Every node, the emitter too, delivers it from the bus to
its own clients, so every client of every node sees events in the stream's
order, numbered by :func:`seq_of` (the stream id as one growing int): a
client's "last event" means the same on every node, and the node it
resumes on reads what it missed from the stream (:meth:`EventLog.missed`).

Redis down: ``emit()`` raises :class:`~hotstate_rx.ClusterUnavailable` within
``cluster_timeout`` (nothing was sent to anyone), like a write. A node that
lost the bus for a while reads the events it missed from the stream when
Redis answers again, so its clients miss nothing that was published.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final

import msgpack

from ...errors import ClusterUnavailable

if TYPE_CHECKING:
    from redis.asyncio.client import Pipeline

    from .link import RedisLink

__all__ = ["EVENTS_KEPT", "EventLog", "id_of", "seq_of"]

log = logging.getLogger(__name__)

EVENTS_KEPT: Final = 10_000
"""Events the stream keeps (about: Redis trims whole nodes), for resumes."""

_SEQ_BITS = 20

_EMIT = """
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*',
                      'c', ARGV[2], 'd', ARGV[3], 't', ARGV[4])
redis.call('PUBLISH', KEYS[2], ARGV[5] .. cmsgpack.pack(id) .. ARGV[6])
return id
"""

Deliver = Callable[[str, bytes, str | None, int], None]
"""``deliver(channel, packed data, client id or None, seq)`` to this node's clients."""


def seq_of(stream_id: bytes | str) -> int:
    """The event number of a stream id ``"ms-n"``: ``ms << 20 | n``, growing
    with the stream (n stays far below 2**20 within one millisecond)."""
    text = stream_id.decode() if isinstance(stream_id, bytes) else stream_id
    ms, _, n = text.partition("-")
    return int(ms) << _SEQ_BITS | int(n or 0)


def id_of(seq: int) -> str:
    """The stream id of an event number (:func:`seq_of` reversed)."""
    return f"{seq >> _SEQ_BITS}-{seq & ((1 << _SEQ_BITS) - 1)}"


class EventLog:
    """The cluster's events as one node sees them (see the module docstring).
    ``deliver`` hands each event heard on the bus to this node's hub."""

    def __init__(self, link: RedisLink, deliver: Deliver) -> None:
        self._link = link
        self._deliver = deliver
        self._emit = link.sync.register_script(_EMIT)
        self._head = (
            b"\x93" + msgpack.packb("event") + msgpack.packb(link.node, use_bin_type=True) + b"\x94"
        )
        self._last = 0
        """The number of the last event delivered here."""
        link.on("event", self._heard)
        link.on_reconnect(self._catch_up)

    def emit(self, channel: str, packed: bytes, client_id: str | None) -> int:
        """Append and publish one event (blocking, within the link's timeout);
        its number. Raises :class:`ClusterUnavailable` if Redis does not answer."""
        import redis.exceptions

        link = self._link
        if not link.up:
            raise ClusterUnavailable(f"cannot emit {channel!r}: Redis at {link.url} is down")
        tail = (
            msgpack.packb(channel)
            + msgpack.packb(packed, use_bin_type=True)
            + msgpack.packb(client_id)
        )
        keys = [link.keys.events, link.keys.bus]
        args = [EVENTS_KEPT, channel, packed, client_id or "", self._head, tail]
        try:
            stream_id = self._emit(keys=keys, args=args)
        except (redis.exceptions.RedisError, OSError) as exc:
            problem = f"cannot emit {channel!r}: Redis did not answer: {exc}"
            raise ClusterUnavailable(problem) from exc
        return seq_of(stream_id)

    def _heard(self, node: str, payload: Any) -> None:
        stream_id, channel, packed, client_id = payload
        self._take(seq_of(stream_id), channel, packed, client_id)

    def _take(self, seq: int, channel: str, packed: bytes, client_id: str | None) -> None:
        if seq <= self._last:  # heard twice: on the bus and in a catch-up read
            return
        self._last = seq
        self._deliver(channel, packed, client_id, seq)

    async def _catch_up(self) -> None:
        """The bus dropped what was published while Redis was away: read it."""
        aio = self._link.aio
        if aio is None or not self._last:
            return
        entries = await aio.xrange(self._link.keys.events, f"({id_of(self._last)}", "+")
        for stream_id, fields in entries or ():
            self._take(seq_of(stream_id or b"0"), *_fields(fields or {}))

    def read_missed(self, pipe: Pipeline, after: int) -> None:
        """Add to ``pipe`` the reads :meth:`missed` needs (two replies)."""
        key = self._link.keys.events
        pipe.execute_command("XINFO", "STREAM", key)
        pipe.xrange(key, f"({id_of(after)}", "+")

    @staticmethod
    def missed(
        replies: list[Any], client_id: str, after: int, channel_frame: Callable[..., bytes]
    ) -> tuple[tuple[tuple[int, bytes], ...], bool]:
        """From the replies of :meth:`read_missed`: the events after ``after``
        meant for ``client_id`` as ``(seq, frame)``, and whether the stream
        still holds every event after ``after`` (nothing of them trimmed)."""
        info, entries = replies
        if isinstance(info, Exception):  # no event was ever emitted
            return (), True
        complete = info[b"entries-added"] == info[b"length"] or (
            info[b"first-entry"] is not None and seq_of(info[b"first-entry"][0]) <= after
        )
        events = []
        for stream_id, fields in entries if isinstance(entries, list) else ():
            channel, packed, target = _fields(fields)
            if target is None or target == client_id:
                seq = seq_of(stream_id)
                events.append((seq, channel_frame(channel, packed, seq)))
        return tuple(events), complete


def _fields(fields: Mapping[Any, Any]) -> tuple[str, bytes, str | None]:
    """``(channel, packed data, client id or None)`` of one stream entry."""
    target = fields[b"t"].decode()
    return fields[b"c"].decode(), fields[b"d"], target or None
