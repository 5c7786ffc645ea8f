"""Membership: which nodes live, how many subscribers each has, who is present.

Each node writes its heartbeat in ``{ns}:nodes`` (node -> deadline, Redis's
clock: now + :data:`LAPSE` x ``cluster_timeout``) every ``cluster_timeout``
seconds, its subscriber count per instance in ``{ns}:subs:{node}`` and the
presence entries it made in ``{ns}:presence:{node}``. A node is live while
its deadline has not passed; the cluster-wide subscriber count of an
instance is the sum over live nodes (:meth:`Membership.elsewhere` gives the
other nodes' part, this node adds its own).

``on_idle`` runs once in the cluster: when a node's count of an instance
drops to 0, one Lua script sums the live nodes' counts and says "idle" only
if the total is 0; scripts run one at a time, so of two nodes whose last
subscribers leave together only the second sees 0. A node whose heartbeat
lapsed (killed, cut off) is removed by the first survivor whose script
removes it: that survivor gets its instances whose total is now 0 (and runs
their idle step) and its presence entries (and removes them), so a dead
node's subscribers and presence go away with it. A node that finds itself
removed (it was cut off, or starved of CPU, for longer than the lapse)
writes its counts again and puts its presence entries back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from ...errors import ClusterUnavailable

if TYPE_CHECKING:
    from redis.asyncio.client import Pipeline

    from .batch import Batch
    from .link import RedisLink

__all__ = ["LAPSE", "Membership"]

log = logging.getLogger(__name__)

LAPSE: Final = 3
"""Heartbeats a node may miss (x ``cluster_timeout`` seconds) before it counts as dead."""

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

_TOTAL = """
local function total(ns, live, name, skip)
  local sum = 0
  for _, node in ipairs(live) do
    if node ~= skip then
      sum = sum + tonumber(redis.call('HGET', ns .. ':subs:' .. node, name) or '0')
    end
  end
  return sum
end
"""

# KEYS[1] nodes; ARGV: node, lapse (ms) -> {1 if the node was absent, dead nodes}
_HEARTBEAT = (
    _NOW
    + """
local added = redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
return {added, redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. now)}
"""
)

# KEYS[1] nodes; ARGV: ns, node, instance -> 1 if no live node has a subscriber left
_RELEASE = (
    _NOW
    + _TOTAL
    + """
local mine = ARGV[1] .. ':subs:' .. ARGV[2]
if redis.call('HINCRBY', mine, ARGV[3], -1) > 0 then return 0 end
redis.call('HDEL', mine, ARGV[3])
local live = redis.call('ZRANGEBYSCORE', KEYS[1], now, '+inf')
if total(ARGV[1], live, ARGV[3], nil) == 0 then return 1 end
return 0
"""
)

# KEYS[1] nodes; ARGV: ns, dead node -> {instances now idle, its presence entries}
_REAP = (
    _NOW
    + _TOTAL
    + """
if redis.call('ZREM', KEYS[1], ARGV[2]) == 0 then return {{}, {}} end
local subs = ARGV[1] .. ':subs:' .. ARGV[2]
local presence = ARGV[1] .. ':presence:' .. ARGV[2]
local names = redis.call('HKEYS', subs)
local present = redis.call('HKEYS', presence)
redis.call('DEL', subs, presence)
local live = redis.call('ZRANGEBYSCORE', KEYS[1], now, '+inf')
local idle = {}
for _, name in ipairs(names) do
  if total(ARGV[1], live, name, nil) == 0 then table.insert(idle, name) end
end
return {idle, present}
"""
)

# KEYS[1] nodes; ARGV: ns, this node, instance -> subscribers on the other live nodes
_ELSEWHERE = (
    _NOW
    + _TOTAL
    + """
return total(ARGV[1], redis.call('ZRANGEBYSCORE', KEYS[1], now, '+inf'), ARGV[3], ARGV[2])
"""
)

_SEP = "\x00"


class Membership:
    """This node's heartbeat, subscriber counts and presence entries (see the
    module docstring). ``idle(name)``: no live node has a subscriber of
    ``name`` left and this node is the one to run its idle step;
    ``gone(node, [(store, client_id), ...])``: a dead node's presence entries;
    ``back(entries)``: this node's own, to put back after it was removed."""

    def __init__(
        self,
        link: RedisLink,
        batch: Batch,
        *,
        idle: Callable[[str], None],
        gone: Callable[[str, list[tuple[str, str]]], None],
        back: Callable[[list[tuple[str, str]]], None],
        refresh: Callable[[], None],
        refresh_every: float,
    ) -> None:
        self._link = link
        self._batch = batch
        self._idle = idle
        self._gone = gone
        self._back = back
        self._refresh = refresh
        self._refresh_every = refresh_every
        self._counts: dict[str, int] = {}
        """This node's subscribers per instance (what ``{ns}:subs:{node}`` holds)."""
        self._present: set[str] = set()
        """This node's presence entries (what ``{ns}:presence:{node}`` holds)."""
        self._elsewhere = link.sync.register_script(_ELSEWHERE)
        self._task: asyncio.Task[None] | None = None

    # -- counts and presence ---------------------------------------------------

    def count(self, name: str, delta: int) -> None:
        """This node's subscribers of ``name`` changed by ``delta``."""
        left = self._counts.get(name, 0) + delta
        if left > 0:
            self._counts[name] = left
        else:
            self._counts.pop(name, None)
        keys = self._link.keys
        mine = keys.subscribers(self._link.node)
        if delta > 0:
            self._batch.add(lambda pipe: pipe.hincrby(mine, name, delta))
            return
        args = (keys.namespace, self._link.node, name)

        def done(replies: list[Any] | ClusterUnavailable) -> None:
            if isinstance(replies, list) and replies[0] == 1:
                self._idle(name)

        self._batch.add(lambda pipe: pipe.eval(_RELEASE, 1, keys.nodes, *args), done)

    def present(self, store: str, client_id: str, here: bool) -> None:
        """This node adds (``here``) or removed a presence entry. An addition
        is written before the board changes (blocking, within the link's
        timeout): a node that dies right after leaves no entry nobody removes."""
        import redis.exceptions

        entry = store + _SEP + client_id
        key = self._link.keys.presence(self._link.node)
        if here:
            self._present.add(entry)
            try:
                self._link.sync.hset(key, entry, 1)
            except (redis.exceptions.RedisError, OSError) as exc:
                problem = f"cannot record {client_id} in the presence of {store!r}: {exc}"
                raise ClusterUnavailable(problem) from exc
        else:
            self._present.discard(entry)
            self._batch.add(lambda pipe: pipe.hdel(key, entry))

    def elsewhere(self, name: str) -> int:
        """Subscribers of ``name`` on the other live nodes (blocking, within the
        link's timeout; :class:`ClusterUnavailable` if Redis does not answer)."""
        import redis.exceptions

        link = self._link
        args = [link.keys.namespace, link.node, name]
        try:
            return int(self._elsewhere(keys=[link.keys.nodes], args=args))
        except (redis.exceptions.RedisError, OSError) as exc:
            raise ClusterUnavailable(f"cannot count the subscribers of {name!r}: {exc}") from exc

    # -- the heartbeat ---------------------------------------------------------------

    def start(self) -> None:
        """Beat every ``cluster_timeout`` seconds, on the running loop."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._beat(), name="hotstate-beat")

    async def close(self) -> None:
        """Stop beating. The node is then removed like a dead one, once its
        heartbeat lapses: its clients, told to resume elsewhere, have been
        counted there by then, so no instance they use looks idle."""
        task, self._task = self._task, None
        if task is not None:
            # redis-py may swallow a cancellation that lands inside a command:
            # the loop also stops on _task being None, and the wait is bounded.
            task.cancel()
            await asyncio.wait({task}, timeout=self._link.timeout)

    async def _beat(self) -> None:
        link = self._link
        period = link.timeout
        lapse_ms = int(LAPSE * period * 1000)
        since_refresh = 0.0
        first = True
        while self._task is not None:
            try:
                await self._heartbeat(lapse_ms, rejoin=not first)
                first = False
            except Exception as exc:  # Redis away: the link says so and recovers
                log.debug("heartbeat failed: %s", exc)
            since_refresh += period
            if since_refresh >= self._refresh_every:
                since_refresh = 0.0
                self._refresh()
            await asyncio.sleep(period)

    async def _heartbeat(self, lapse_ms: int, *, rejoin: bool) -> None:
        link = self._link
        aio = link.aio
        if aio is None or not link.up:
            return
        keys = link.keys
        added, dead = await aio.eval(_HEARTBEAT, 1, keys.nodes, link.node, lapse_ms)
        if added and rejoin:
            log.warning("this node %s had been removed from the cluster: it rejoins", link.node)
            self._rewrite()
            self._back([_entry(e) for e in self._present])
        for node in dead:
            await self._reap(node.decode() if isinstance(node, bytes) else node)

    async def _reap(self, node: str) -> None:
        """Remove ``node`` (if no other node did): its idle steps and its
        presence removals run here."""
        aio, keys = self._link.aio, self._link.keys
        assert aio is not None
        idle, present = await aio.eval(_REAP, 1, keys.nodes, keys.namespace, node)
        if idle or present:
            log.warning("node %s stopped beating: its subscribers and presence go", node)
        for instance in idle:
            self._idle(instance.decode())
        if present:
            self._gone(node, [_entry(e.decode()) for e in present])

    def _rewrite(self) -> None:
        """Write this node's counts and presence entries again."""
        keys, node = self._link.keys, self._link.node
        counts: dict[Any, Any] = dict(self._counts)
        present = set(self._present)

        def build(pipe: Pipeline) -> None:
            if counts:
                pipe.hset(keys.subscribers(node), mapping=counts)
            if present:
                pipe.hset(keys.presence(node), mapping=dict.fromkeys(present, b"1"))

        self._batch.add(build)


def _entry(entry: str) -> tuple[str, str]:
    """``(store, client_id)`` of a presence entry."""
    store, _, client_id = entry.partition(_SEP)
    return store, client_id
