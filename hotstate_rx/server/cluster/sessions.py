"""Sessions and calls across the cluster: resume on any node, each call once.

A session is recorded in ``{ns}:s:{client_id}`` before its ``hello`` is sent
(its token, call tag, user fingerprint, the node serving it, the last event
number before it began), with a TTL of the resume window plus
:meth:`SessionStore.refresh_every`, refreshed while a node serves it: so it
outlives a node that dies by at least the resume window. A node that is
presented a token it does not know reads the record and the events the
client missed in one round trip (:meth:`SessionStore.fetch`); when it
resumes the session it records it as its own and tells the other nodes on
the bus (``taken``), and the node that had it lets go.

Calls: ``{ns}:calls:{client_id}`` maps a call id to ``""`` (claimed: running
somewhere) or its encoded answer. A call is claimed (``HSETNX``) before its
handler runs; a claim that finds the id taken gets what is stored there
instead of running. Claims go through the node's :class:`Batch`, so
concurrent calls share their round trips; answers through a second one of
their own, so saving one call's answer never holds up the next call's claim
(an answer always follows its own claim, which came back before its handler
ran).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ...errors import ClusterUnavailable
from ...protocol import encode_event
from ..clients import RemoteSession
from .events import EventLog
from .link import RedisLink

if TYPE_CHECKING:
    from redis.asyncio.client import Pipeline

    from ..hub import ClaimCall, FetchSession, RecordSession
    from .batch import Batch

__all__ = ["SessionStore"]

log = logging.getLogger(__name__)

Claimed = Callable[[bytes | None, str | None], None]
"""Told the outcome of a claim: ``(answer, failure)`` as :meth:`HubCore.claimed` takes them."""


_CLAIM = """
if redis.call('HSETNX', KEYS[1], ARGV[1], '') == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return redis.call('HGET', KEYS[1], ARGV[1])
"""
"""Claim call id ARGV[1]: 1 if this node's, else what is stored for it."""


class SessionStore:
    """The session records and call claims of one node (see the module docstring)."""

    def __init__(
        self, link: RedisLink, batch: Batch, answers: Batch, events: EventLog, window: float
    ) -> None:
        self._link = link
        self._batch = batch
        self._answers = answers
        self._events = events
        self.refresh_every = max(window / 4, link.timeout)
        """Seconds between two refreshes of the records of this node's sessions."""
        self._ttl = int((window + 2 * self.refresh_every) * 1000)

    # -- records ----------------------------------------------------------------

    def record(self, action: RecordSession) -> None:
        """Record a session served here (announce it ``taken`` if it was
        resumed). Blocking, within the link's timeout, and before its
        ``hello`` goes out: a client is resumable elsewhere from its first
        moment, even if this node dies right after. Redis unavailable: the
        session works here, but cannot be resumed on another node."""
        import redis.exceptions

        link, ttl = self._link, self._ttl
        key = link.keys.session(action.client_id)
        fields = {
            "t": action.token,
            "g": action.tag,
            "u": action.user,
            "n": link.node,
            "q": str(action.since),
        }
        pipe = link.sync.pipeline(transaction=False)
        pipe.hset(key, mapping=fields)  # type: ignore[arg-type]
        pipe.pexpire(key, ttl)
        if action.taken:
            pipe.publish(link.keys.bus, RedisLink.message("taken", link.node, action.client_id))
        try:
            if not link.up:
                raise redis.exceptions.ConnectionError("the link knows Redis is down")
            pipe.execute()
        except (redis.exceptions.RedisError, OSError) as exc:
            log.warning("%s cannot be resumed on another node: %s", action.client_id, exc)

    def drop(self, client_id: str) -> None:
        """Forget a session that ended (its record and its calls)."""
        keys = self._link.keys
        self._batch.add(lambda pipe: pipe.delete(keys.session(client_id), keys.calls(client_id)))

    def refresh(self, client_ids: list[str]) -> None:
        """Keep the records of the sessions served here alive."""
        keys, ttl = self._link.keys, self._ttl

        def build(pipe: Pipeline) -> None:
            for client_id in client_ids:
                pipe.pexpire(keys.session(client_id), ttl)
                pipe.pexpire(keys.calls(client_id), ttl)

        if client_ids:
            self._batch.add(build)

    def fetch(
        self,
        action: FetchSession[Any],
        report: Callable[[RemoteSession | None], None],
    ) -> None:
        """Read the session ``action`` names and the events its client missed;
        ``report`` the session (None: unknown, expired, the wrong token, or
        Redis unavailable, so the client starts afresh)."""
        keys = self._link.keys
        client_id, last = action.client_id, action.last_event

        def build(pipe: Pipeline) -> None:
            pipe.hgetall(keys.session(client_id))
            self._events.read_missed(pipe, last)

        def done(replies: list[Any] | ClusterUnavailable) -> None:
            report(self._remote(action, replies))

        self._batch.add(build, done)

    def _remote(
        self, action: FetchSession[Any], replies: list[Any] | ClusterUnavailable
    ) -> RemoteSession | None:
        client_id = action.client_id
        if isinstance(replies, ClusterUnavailable):
            log.warning("%s cannot resume: %s", client_id, replies)
            return None
        fields = replies[0]
        if not isinstance(fields, dict) or b"t" not in fields:
            log.info("%s cannot resume: no session is recorded for it", client_id)
            return None
        if not hmac.compare_digest(fields[b"t"], action.token.encode()):
            log.info("%s cannot resume: the token presented is not its session's", client_id)
            return None
        # The events before the session began were never its own to miss.
        after = max(action.last_event, int(fields.get(b"q", b"0")))
        events, complete = self._events.missed(replies[1:], client_id, after, encode_event)
        return RemoteSession(
            client_id=client_id,
            token=action.token,
            tag=fields[b"g"].decode(),
            user=fields[b"u"].decode(),
            events=tuple(event for event in events if event[0] > after),
            complete=complete,
        )

    # -- calls --------------------------------------------------------------------

    def claim(self, action: ClaimCall[Any], report: Claimed) -> None:
        """Claim a call before it runs; ``report(answer, failure)``."""
        invoked = action.invoked
        key = self._link.keys.calls(invoked.context.client_id)
        args = (str(invoked.call.id), self._ttl)

        def done(replies: list[Any] | ClusterUnavailable) -> None:
            if isinstance(replies, ClusterUnavailable):
                report(None, "cluster unavailable: the call did not run; try again")
            elif isinstance(replies[0], Exception):
                log.error("claiming call %s failed: %s", args[0], replies[0])
                report(None, "cluster error: the call did not run; try again")
            elif replies[0] == 1:  # this node's claim
                report(None, None)
            else:  # b"" (claimed, no answer yet) or the answer
                report(replies[0], None)

        self._batch.add(lambda pipe: pipe.eval(_CLAIM, 1, key, *args), done)

    def save(self, client_id: str, call_id: int, frame: bytes) -> None:
        """Keep a call's answer for a resend on any node."""
        key, ttl = self._link.keys.calls(client_id), self._ttl

        def build(pipe: Pipeline) -> None:
            pipe.hset(key, str(call_id), frame)
            pipe.pexpire(key, ttl)  # after a drop, a late answer leaves no key behind for long

        self._answers.add(build)
