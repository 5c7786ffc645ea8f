"""One node's connections to Redis: a blocking client, an asyncio client, the bus.

The registry commits under its lock from whatever thread mutates, and its
API is synchronous, so commits use the blocking client (:attr:`RedisLink.sync`,
every command bounded by ``timeout``). Everything that may wait (the bus,
heartbeats, session records, call claims) uses :attr:`RedisLink.aio` on the
server's loop.

The bus is one pub/sub channel (:attr:`Keys.bus`) carrying MessagePack
``[kind, node, payload]`` messages: Lua scripts publish them in the same
step as the write they announce, so every node hears every commit in commit
order. :meth:`RedisLink.on` routes a kind to its handler, called on the loop.

:attr:`RedisLink.up` says whether Redis answered lately. When it stops
answering (stopped, paused, unreachable) the link says so at once through
``up`` (writes then fail without waiting), keeps trying with a growing
delay, and when Redis answers again runs every :meth:`RedisLink.on_reconnect`
handler: pub/sub dropped what was published meanwhile, so whoever keeps
replicas checks them then.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import msgpack

from .keys import Keys

if TYPE_CHECKING:
    import redis
    import redis.asyncio

__all__ = ["BusHandler", "RedisLink", "parse_cluster_url"]

log = logging.getLogger(__name__)

BusHandler = Callable[[str, Any], None]
"""``handler(node, payload)`` for one kind of bus message (``node``: who sent it)."""

_SCHEMES = ("redis", "rediss", "unix")


def parse_cluster_url(url: object) -> str:
    """``url`` checked: a ``redis://``, ``rediss://`` (TLS) or ``unix://`` URL,
    as redis-py reads them; anything else raises naming the problem."""
    if not isinstance(url, str):
        raise TypeError(f"cluster must be a Redis URL string, not {type(url).__name__}")
    parts = urlsplit(url)
    if parts.scheme not in _SCHEMES or not (parts.netloc or parts.path):
        raise ValueError(
            f"unsupported cluster URL {url!r}: use 'redis://host:6379/0', "
            "'rediss://host:6380/0' (TLS) or 'unix:///path/to/redis.sock'"
        )
    return url


class RedisLink:
    """The connections of one node (see the module docstring).

    ``timeout`` bounds every blocking command and the time a failure takes
    to be noticed; ``node`` names this node (random by default)."""

    def __init__(
        self,
        url: str,
        *,
        namespace: str = "hotstate",
        timeout: float = 2.0,
        node: str | None = None,
    ) -> None:
        try:
            import redis
        except ImportError:  # pragma: no cover - the extra names itself
            raise ImportError(
                "the cluster needs redis-py: pip install 'hotstate-rx[cluster]'"
            ) from None
        if not isinstance(namespace, str) or not namespace or ":" in namespace:
            problem = f"a non-empty str without ':', got {namespace!r}"
            raise ValueError(f"cluster_namespace must be {problem}")
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
            raise ValueError(f"cluster_timeout must be seconds > 0, got {timeout!r}")
        self.url = parse_cluster_url(url)
        self.keys = Keys(namespace)
        self.timeout = float(timeout)
        self.node = node or secrets.token_hex(6)
        """This node's id in Redis (heartbeats, subscriber counts, claims)."""
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        # No retries: a command that timed out is not sent again (a commit is
        # not idempotent), so ``timeout`` bounds each call.
        self.sync: redis.Redis = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 0)
        )
        self.aio: redis.asyncio.Redis | None = None
        """The asyncio client, once :meth:`start` ran on the loop."""
        self.up = True
        """Redis answered lately (False: writes fail at once)."""
        self._handlers: dict[str, BusHandler] = {}
        self._reconnect: list[Callable[[], Awaitable[None] | None]] = []
        self._lost_handlers: list[Callable[[], None]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._subscribed = asyncio.Event()
        self._missed = False
        """An outage began: what the bus carried meanwhile is lost."""
        self._closing = False
        """close() runs: the listening loops end."""

    def __repr__(self) -> str:
        return f"<RedisLink {self.url} namespace={self.keys.namespace!r} node={self.node}>"

    # -- wiring ----------------------------------------------------------------

    def on(self, kind: str, handler: BusHandler) -> None:
        """Route bus messages of ``kind`` to ``handler`` (one handler per kind)."""
        if kind in self._handlers:
            raise ValueError(f"bus kind {kind!r} already has a handler")
        self._handlers[kind] = handler

    def on_reconnect(self, handler: Callable[[], Awaitable[None] | None]) -> None:
        """Run ``handler`` (plain or async) each time Redis answers again after
        the link lost it."""
        self._reconnect.append(handler)

    def on_lost(self, handler: Callable[[], None]) -> None:
        """Call ``handler`` (on the loop) each time the link finds Redis gone."""
        self._lost_handlers.append(handler)

    @staticmethod
    def message(kind: str, node: str, payload: Any) -> bytes:
        """The bytes of one bus message (what the Lua scripts publish)."""
        return msgpack.packb([kind, node, payload], use_bin_type=True)

    # -- running ----------------------------------------------------------------

    async def start(self) -> None:
        """Connect the asyncio client and listen to the bus; returns once
        subscribed, so nothing published after this returns is missed."""
        import redis.asyncio

        if self.aio is not None:
            return
        self.aio = redis.asyncio.Redis.from_url(
            self.url, socket_timeout=self.timeout, socket_connect_timeout=self.timeout
        )
        self._closing = False
        self._tasks.append(asyncio.create_task(self._listen(), name="hotstate-cluster-bus"))
        self._tasks.append(asyncio.create_task(self._watch(), name="hotstate-cluster-health"))
        await asyncio.wait_for(self._subscribed.wait(), self.timeout * 2)

    async def close(self) -> None:
        """Stop listening and close both clients."""
        tasks, self._tasks = self._tasks, []
        # A cancellation that meets a timeout inside redis-py (or wait_for) can
        # come out as a timeout and be handled as one: the loops also stop on
        # _closing, and the wait is bounded either way.
        self._closing = True
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=2 * self.timeout)
        if self.aio is not None:
            await self.aio.aclose()
            self.aio = None
        self._subscribed.clear()  # a later start() waits for its own subscription
        self.sync.close()

    async def _listen(self) -> None:
        """Hold a subscription to the bus, through every outage of Redis."""
        import redis.exceptions

        assert self.aio is not None
        delay = 0.05
        while not self._closing:
            pubsub = self.aio.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.keys.bus)
                self._subscribed.set()
                await self._recovered()
                delay = 0.05
                while not self._closing:
                    message = await pubsub.get_message(timeout=self.timeout / 2)
                    if message is not None:
                        self._dispatch(message["data"])
            except (redis.exceptions.RedisError, OSError) as exc:
                self._lost(exc)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)

    async def _watch(self) -> None:
        """Ping Redis every ``timeout / 2``: a paused or unreachable Redis is
        noticed within ``timeout`` even while the bus is quiet."""
        import redis.exceptions

        assert self.aio is not None
        while not self._closing:
            await asyncio.sleep(self.timeout / 2)
            try:
                await asyncio.wait_for(self.aio.ping(), self.timeout)
            except (TimeoutError, redis.exceptions.RedisError, OSError) as exc:
                self._lost(exc)
            else:
                await self._recovered()

    def _lost(self, exc: BaseException) -> None:
        if self.up:
            log.warning("lost Redis at %s (%s); retrying", self.url, exc or type(exc).__name__)
            self.up = False
            for handler in self._lost_handlers:
                try:
                    handler()
                except Exception:
                    log.exception("a cluster lost-Redis handler failed")
        self._missed = True

    async def _recovered(self) -> None:
        """Redis answers: after an outage, run the reconnect handlers once."""
        if not self._missed:
            return
        self._missed = False
        self.up = True
        log.warning("Redis at %s answers again", self.url)
        for handler in self._reconnect:
            try:
                result = handler()
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("a cluster reconnect handler failed")

    def _dispatch(self, data: bytes) -> None:
        try:
            kind, node, payload = msgpack.unpackb(data, raw=False)
        except Exception:
            log.error("a malformed message on the bus %s was ignored", self.keys.bus)
            return
        handler = self._handlers.get(kind)
        if handler is None:
            log.debug("bus message of unknown kind %r ignored", kind)
            return
        try:
            handler(node, payload)
        except Exception:
            log.exception("the bus handler of %r failed", kind)
