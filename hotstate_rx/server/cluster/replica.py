"""The registry's :class:`~hotstate_rx.server.replication.Replication` on Redis.

Each instance is a hash (version, lifetime, initialised flag, the latest
snapshot, the ``on_create`` claim) and a stream, its log, one entry per
version with id ``0-{version}`` (``docs/CLUSTER.md``, "What is in Redis").
Every write is one Lua script, so it is atomic and publishes on the bus in
the same step: a commit is a compare-and-set on the version, appends the
entry (its patches: O(change)), keeps a snapshot only when the patches since
the last one outweigh it, trims the log, and publishes the entry.

Reads: :meth:`RedisReplication.load` is the snapshot plus the entries after
it, replayed with the project's own patch code; :meth:`RedisReplication.since`
is the entries after a version (``XRANGE``), for a replica that missed some.

Calls are synchronous (the registry commits under its lock) on the link's
blocking client: each is bounded by ``cluster_timeout`` and raises
:class:`~hotstate_rx.errors.ClusterUnavailable` when Redis does not answer,
at once while the link knows Redis is down.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Iterable
from typing import Any, Final, TypeVar

import msgpack
import redis.exceptions

from ...errors import ClusterError, ClusterUnavailable
from ...frozen import freeze
from ...patch import apply_patches
from ..replication import Conflict, Entry, Loaded, Replication
from .link import RedisLink

__all__ = ["RedisReplication"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")

_UNREACHABLE = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)

COMMIT: Final = """
local h, lg = KEYS[1], KEYS[2]
local base = tonumber(ARGV[1])
local cur = redis.call('HMGET', h, 'v', 'lt', 'turn', 'tu')
if cur[2] ~= ARGV[2] then return {0} end
local now = 0
if cur[3] or ARGV[11] == '1' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local theirs = cur[3] and cur[3] ~= ARGV[10] and tonumber(cur[4]) > now
if tonumber(cur[1]) ~= base then
  if ARGV[11] == '1' and not theirs then
    redis.call('HSET', h, 'turn', ARGV[10], 'tu', now + tonumber(ARGV[12]))
  end
  return {0, redis.call('XRANGE', lg, '0-' .. (base + 1), '+')}
end
if theirs then return {2} end
if cur[3] then redis.call('HDEL', h, 'turn', 'tu') end
local v = base + 1
redis.call('XADD', lg, '0-' .. v, 'e', ARGV[4])
redis.call('HSET', h, 'v', v, 'init', ARGV[3])
if ARGV[3] == '1' then redis.call('HDEL', h, 'claim', 'until') end
local due = 0
if ARGV[6] ~= '' then
  redis.call('HSET', h, 'snap', ARGV[6], 'sv', v, 'pb', 0, 'n', 0, 'ss', #ARGV[6])
else
  local pb = redis.call('HINCRBY', h, 'pb', #ARGV[4])
  local n = redis.call('HINCRBY', h, 'n', 1)
  local ss = tonumber(redis.call('HGET', h, 'ss') or '0')
  if pb > ss or n >= tonumber(ARGV[8]) then due = 1 end
end
local sv = tonumber(redis.call('HGET', h, 'sv') or '0')
local minid = math.min(sv + 1, v - tonumber(ARGV[7]) + 1)
if minid > 1 then redis.call('XTRIM', lg, 'MINID', '~', '0-' .. minid) end
redis.call('PUBLISH', ARGV[9], ARGV[5] .. ARGV[4])
return {1, due}
"""
"""KEYS: hash, log. ARGV: base, lifetime, init, entry, message head, snapshot
or '', entries kept, snapshot every n, bus, node, take the turn (0/1), turn
(ms). Returns {1, snapshot due}, {2} (another node's turn: wait) or {0[, the
entries after base]} (no entries: another lifetime or none).

The *turn* makes writers of one instance take turns: a node that lost a race
and loses the next one too takes the turn with its conflict, and until it
commits (or the turn lapses) the other nodes' commits wait. Without it, a
node writing in a loop wins every race against one that must first apply
what it lost to (observed: 20 losses in a row)."""

CREATE: Final = """
local lt = redis.call('HGET', KEYS[1], 'lt')
if lt then return lt end
redis.call('HSET', KEYS[1], 'v', 0, 'lt', ARGV[1], 'init', 0)
redis.call('SADD', KEYS[2], ARGV[2])
return ARGV[1]
"""
"""KEYS: hash, names. ARGV: lifetime, name. Returns the lifetime in place."""

CLAIM: Final = """
local cur = redis.call('HMGET', KEYS[1], 'lt', 'init', 'claim', 'until')
if cur[1] ~= ARGV[1] then return 'gone' end
if cur[2] == '1' then return 'done' end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if cur[3] and cur[3] ~= ARGV[2] and tonumber(cur[4]) > now then return 'busy' end
redis.call('HSET', KEYS[1], 'claim', ARGV[2], 'until', now + tonumber(ARGV[3]))
return 'claimed'
"""
"""KEYS: hash. ARGV: lifetime, node, lease (ms)."""

UNCLAIM: Final = """
local cur = redis.call('HMGET', KEYS[1], 'lt', 'claim')
if cur[1] == ARGV[1] and cur[2] == ARGV[2] then redis.call('HDEL', KEYS[1], 'claim', 'until') end
return 0
"""
"""KEYS: hash. ARGV: lifetime, node."""

DELETE: Final = """
local cur = redis.call('HMGET', KEYS[1], 'lt', 'init')
if cur[1] ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('SREM', KEYS[3], ARGV[2])
redis.call('PUBLISH', ARGV[4], ARGV[3])
if cur[2] == '1' then return 2 end
return 1
"""
"""KEYS: hash, log, names. ARGV: lifetime, name, message, bus. Returns 0 (not
deleted: another lifetime), 1 (deleted) or 2 (deleted, it was initialised)."""

LOAD: Final = """
local cur = redis.call('HMGET', KEYS[1], 'v', 'lt', 'init', 'sv', 'snap')
if not cur[2] then return false end
local sv = tonumber(cur[4] or '0')
local entries = {}
if tonumber(cur[1]) > sv then entries = redis.call('XRANGE', KEYS[2], '0-' .. (sv + 1), '+') end
return {cur[1], cur[2], cur[3], tostring(sv), cur[5] or '', entries}
"""
"""KEYS: hash, log. Returns {v, lifetime, init, sv, snapshot or '', entries} or nil."""

SINCE: Final = """
local cur = redis.call('HMGET', KEYS[1], 'v', 'lt')
if cur[2] ~= ARGV[1] then return false end
return {cur[1], redis.call('XRANGE', KEYS[2], '0-' .. (tonumber(ARGV[2]) + 1), '+')}
"""
"""KEYS: hash, log. ARGV: lifetime, version. Returns {v, entries} or nil."""

TURN_MS: Final = 100
"""How long a turn holds the other writers of an instance back, at most."""

_LEASE_TIMEOUTS: Final = 5
"""An ``on_create`` claim lasts this many ``cluster_timeout`` s (then another
node may take it over: the claimant is presumed dead)."""


def pack_entry(lifetime: str, entry: Entry) -> bytes:
    """The log's (and the bus's) bytes of one entry: ``[lifetime, init, patches, state, cause]``."""
    cause = None if entry.cause is None else list(entry.cause)
    body = [lifetime, entry.initialized, entry.patches, entry.state, cause]
    return msgpack.packb(body, use_bin_type=True)


def unpack_entry(version: int, data: bytes) -> tuple[str, Entry]:
    """``(lifetime, entry)`` from :func:`pack_entry`'s bytes."""
    lifetime, initialized, patches, state, cause = msgpack.unpackb(data, raw=False)
    return lifetime, Entry(
        version,
        bool(initialized),
        patches,
        state,
        None if cause is None else (cause[0], cause[1]),
    )


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _message_head(kind: str, node: str, *fields: Any) -> bytes:
    """The bytes of ``RedisLink.message(kind, node, [*fields, entry])`` up to the
    entry: the script appends the entry it logs, so it is sent once."""
    packer = msgpack.Packer(use_bin_type=True)
    head = packer.pack_array_header(3) + packer.pack(kind) + packer.pack(node)
    head += packer.pack_array_header(len(fields) + 1)
    return head + b"".join(packer.pack(f) for f in fields)


class RedisReplication(Replication):
    """Every instance's log in Redis, through ``link`` (see the module docstring).

    ``keep``: how many entries each log keeps at least (the history a client
    resuming on another node may need); a snapshot is also taken every
    ``keep // 2`` entries."""

    def __init__(self, link: RedisLink, *, keep: int = 1000) -> None:
        self._link = link
        self._keys = link.keys
        self._keep = max(keep, 1)
        self._every = max(keep // 2, 1)
        self._due: dict[str, bool] = {}
        """Instances whose next commit should carry a snapshot (per the last reply)."""
        self._lost: set[str] = set()
        """Instances whose last commit from here lost a race (the next loss takes the turn)."""
        sync = link.sync
        self._commit = sync.register_script(COMMIT)
        self._create = sync.register_script(CREATE)
        self._claim = sync.register_script(CLAIM)
        self._unclaim = sync.register_script(UNCLAIM)
        self._delete = sync.register_script(DELETE)
        self._load = sync.register_script(LOAD)
        self._since = sync.register_script(SINCE)
        self.epoch = self.read_epoch()

    def __repr__(self) -> str:
        return f"<RedisReplication {self._link!r}>"

    def read_epoch(self) -> str:
        """The cluster's epoch, set now (by this node) if Redis has none."""
        key = self._keys.epoch
        candidate = secrets.token_hex(8)  # never one seen before: Redis may have lost its data

        def read() -> str:
            self._link.sync.set(key, candidate, nx=True)
            return _text(self._link.sync.get(key) or candidate)

        return self._read("read the epoch", None, read)

    # -- Replication -----------------------------------------------------------------

    def load(self, name: str, defaults: Any) -> Loaded | None:
        keys = [self._keys.instance(name), self._keys.log(name)]
        found = self._read("load", name, self._load, keys)
        if found is None:
            return None
        version, lifetime, init, sv, snap, entries = found
        base = int(sv)
        state = defaults if not snap else freeze(msgpack.unpackb(snap, raw=False))
        initialized = init == b"1"
        for entry in self._entries(name, base, entries):
            initialized = entry.initialized
            patches = entry.patches
            state = freeze(entry.state) if patches is None else apply_patches(state, patches)
            base = entry.version
        if base != int(version):
            raise ClusterError(f"the log of {name!r} in Redis ends at {base}, not at {version}")
        self._due.pop(name, None)
        self._lost.discard(name)
        return Loaded(base, lifetime.decode(), initialized, state)

    def create(self, name: str, lifetime: str) -> str:
        keys = [self._keys.instance(name), self._keys.names]
        there: bytes = self._call("create", name, self._create, keys, [lifetime, name])
        return there.decode()

    def claim(self, name: str, lifetime: str) -> bool:
        keys = [self._keys.instance(name)]
        lease = int(self._link.timeout * _LEASE_TIMEOUTS * 1000)
        deadline = time.monotonic() + self._link.timeout * (_LEASE_TIMEOUTS + 1)
        pause = 0.005
        while True:
            args = [lifetime, self._link.node, lease]
            outcome = self._call("take the on_create claim of", name, self._claim, keys, args)
            if outcome == b"claimed":
                return True
            if outcome == b"done":
                return False
            if outcome == b"gone":
                raise Conflict(None)
            if time.monotonic() > deadline:
                raise ClusterUnavailable(
                    f"store {name!r}: another node's on_create did not finish in time"
                )
            time.sleep(pause)  # another node runs on_create: its commit is near
            pause = min(pause * 2, 0.1)

    def unclaim(self, name: str, lifetime: str) -> None:
        keys = [self._keys.instance(name)]
        self._call(
            "give up the on_create claim of", name, self._unclaim, keys, [lifetime, self._link.node]
        )

    def commit(self, name: str, base: int, lifetime: str, entry: Entry, state: Any) -> None:
        keys = self._keys
        node = self._link.node
        data = pack_entry(lifetime, entry)
        head = _message_head("commit", node, name, entry.version)
        snapshot = b""
        if self._due.pop(name, False) or entry.patches is None:
            snapshot = msgpack.packb(state, use_bin_type=True)
        take_turn = int(name in self._lost)
        args = [base, lifetime, int(entry.initialized), data, head, snapshot]
        args += [self._keep, self._every, keys.bus, node, take_turn, TURN_MS]
        where = [keys.instance(name), keys.log(name)]
        deadline = time.monotonic() + TURN_MS / 1000 + self._link.timeout
        pause = 0.0002
        while True:
            reply = self._call("commit a change to", name, self._commit, where, args)
            if reply[0] != 2:
                break
            if time.monotonic() > deadline:
                raise ClusterError(f"store {name!r}: other nodes kept their turn to write it")
            time.sleep(pause)  # another node's turn: one commit of its own, then ours
            pause = min(pause * 2, 0.005)
        if reply[0] == 1:
            self._lost.discard(name)
            if reply[1]:
                self._due[name] = True
            return
        self._lost.add(name)
        if len(reply) < 2:
            raise Conflict(None)
        raise Conflict(self._following(name, base, reply[1]))

    def delete(self, name: str, lifetime: str) -> bool | None:
        keys = self._keys
        message = self._link.message("removed", self._link.node, [name, lifetime])
        args = [lifetime, name, message, keys.bus]
        done = self._call(
            "delete", name, self._delete, [keys.instance(name), keys.log(name), keys.names], args
        )
        self._due.pop(name, None)
        self._lost.discard(name)
        return None if not done else done == 2

    def names(self) -> list[str]:
        members = self._read("list the instances", None, self._link.sync.smembers, self._keys.names)
        return sorted(_text(m) for m in members)

    def since(self, name: str, lifetime: str, version: int) -> list[Entry] | None:
        keys = [self._keys.instance(name), self._keys.log(name)]
        found = self._read("catch up with", name, self._since, keys, [lifetime, version])
        if found is None:
            return None
        entries = self._following(name, version, found[1])
        if entries is None or (entries and entries[-1].version != int(found[0])):
            return None
        return entries

    def heads(self, names: Iterable[str]) -> dict[str, tuple[int, str] | None]:
        names = list(names)

        def read() -> list[Any]:
            pipe = self._link.sync.pipeline(transaction=False)
            for name in names:
                pipe.hmget(self._keys.instance(name), "v", "lt")
            return pipe.execute()

        heads: dict[str, tuple[int, str] | None] = {}
        for name, (version, lifetime) in zip(
            names, self._read("check the replicas", None, read), strict=True
        ):
            heads[name] = None if lifetime is None else (int(version), lifetime.decode())
        return heads

    # -- helpers ---------------------------------------------------------------------

    def _following(self, name: str, version: int, raw: list[Any]) -> list[Entry] | None:
        """The entries of ``raw`` (``XRANGE`` rows) if they follow ``version``
        without a gap, else None (trimmed: the caller reloads)."""
        entries = list(self._entries(name, version, raw))
        if len(entries) != len(raw):
            return None
        return entries

    @staticmethod
    def _entries(name: str, version: int, raw: list[Any]) -> Iterable[Entry]:
        """Decode ``XRANGE`` rows that follow ``version``, stopping at a gap."""
        for entry_id, fields in raw:
            number = int(entry_id.split(b"-")[1])
            if number != version + 1:
                log.warning("the log of %r has a gap after version %d", name, version)
                return
            yield unpack_entry(number, fields[1])[1]  # fields: [b"e", entry]
            version = number

    def _read(self, what: str, name: str | None, fn: Callable[..., _T], *args: Any) -> _T:
        """:meth:`_call` for a read: tried twice when the connection fails (a
        pooled connection to a Redis that restarted fails once)."""
        try:
            return self._call(what, name, fn, *args)
        except ClusterUnavailable as exc:
            if not isinstance(exc.__cause__, redis.exceptions.ConnectionError):
                raise
        return self._call(what, name, fn, *args)

    def _call(self, what: str, name: str | None, fn: Callable[..., _T], *args: Any) -> _T:
        """``fn(*args)`` on Redis, its failures as ``ClusterUnavailable`` naming
        ``what`` was not done (at once while the link knows Redis is down).
        Never retried: a write that failed may have been applied."""
        link = self._link
        subject = f"{what} store {name!r}" if name is not None else what
        if not link.up:
            raise ClusterUnavailable(
                f"Redis at {link.url} is unreachable (the node retries): cannot {subject}"
            )
        try:
            return fn(*args)
        except _UNREACHABLE as exc:
            raise ClusterUnavailable(
                f"Redis at {link.url} did not answer within {link.timeout:g} s: "
                f"cannot {subject} ({exc}); a commit sent may still be applied when it answers"
            ) from exc
        except redis.exceptions.RedisError as exc:
            raise ClusterError(f"Redis at {link.url} refused to {subject}: {exc}") from exc
