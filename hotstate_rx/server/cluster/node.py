"""One server's membership of the cluster: its Redis link, its replicas kept current.

:class:`ClusterNode` owns the :class:`~.link.RedisLink` and the registry's
:class:`~.replica.RedisReplication`. Once the server's loop is bound it
listens to the bus: each ``commit`` heard goes to
:meth:`StoreRegistry.apply_remote` (in version order; a gap is read from the
instance's log), each ``removed`` to :meth:`StoreRegistry.remove_remote`.
Commits of instances not in memory here are handed to :attr:`on_foreign`,
so the hub can keep their history for clients that resume on this node.

After an outage of Redis (the bus drops what was published meanwhile), and
once when the bus starts, every replica is checked against the log; if the
epoch changed (Redis came back without its data) the replicas are dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from ...errors import ClusterError, ClusterUnavailable
from ..replication import Entry
from ..store import Change, StoreRegistry
from .link import BusHandler, RedisLink
from .replica import RedisReplication

__all__ = ["ClusterNode"]

log = logging.getLogger(__name__)


class ClusterNode:
    """The cluster as one server sees it (see the module docstring).

    Constructing it reads (or sets) the cluster's epoch, so a Redis that does
    not answer raises :class:`~hotstate_rx.errors.ClusterUnavailable` here."""

    def __init__(
        self, url: str, *, namespace: str = "hotstate", timeout: float = 2.0, keep: int = 1000
    ) -> None:
        self.link = RedisLink(url, namespace=namespace, timeout=timeout)
        self.replication = RedisReplication(self.link, keep=keep)
        self.on_foreign: Callable[[Change], None] | None = None
        """Told each change committed in the cluster to an instance that is not
        in memory on this node (``state`` is None unless it is a snapshot)."""
        self.on_epoch: Callable[[str], None] | None = None
        """Told the new epoch when Redis came back without its data."""
        self._registry: StoreRegistry | None = None
        self._starting: asyncio.Future[None] | None = None

    def __repr__(self) -> str:
        return f"<ClusterNode {self.link.node} on {self.link.url}>"

    @property
    def node(self) -> str:
        """This node's id in Redis."""
        return self.link.node

    def attach(self, registry: StoreRegistry) -> None:
        """Keep ``registry``'s replicas current from the bus."""
        self._registry = registry
        self.link.on("commit", self._committed)
        self.link.on("removed", self._removed)
        self.link.on_reconnect(self.recheck)

    def on(self, kind: str, handler: BusHandler) -> None:
        """Route the bus messages of ``kind`` to ``handler(node, payload)`` (on the loop)."""
        self.link.on(kind, handler)

    def on_reconnect(self, handler: Callable[[], Awaitable[None] | None]) -> None:
        """Run ``handler`` each time Redis answers again after an outage."""
        self.link.on_reconnect(handler)

    # -- running -----------------------------------------------------------------------

    def start(self) -> asyncio.Future[None]:
        """Listen to the bus from the running loop (once; awaitable: done when
        subscribed and every replica was checked)."""
        if self._starting is None:
            self._starting = asyncio.ensure_future(self._start())
            self._starting.add_done_callback(_log_failure)
        return self._starting

    async def _start(self) -> None:
        try:
            await self.link.start()
        except (TimeoutError, OSError) as exc:
            raise ClusterUnavailable(
                f"cannot listen to the bus of Redis at {self.link.url}: {exc or 'no answer'}"
            ) from exc
        self.recheck()  # what was committed before the bus was heard

    async def close(self) -> None:
        """Stop listening and close the connections to Redis."""
        starting, self._starting = self._starting, None
        if starting is not None and not starting.done():
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await starting
        await self.link.close()

    def recheck(self) -> None:
        """Check the epoch, then every replica, against Redis."""
        registry = self._registry
        if registry is None:
            return
        try:
            epoch = self.replication.read_epoch()
            if epoch != registry.epoch:
                log.warning("the cluster's epoch changed (Redis lost its data): reloading")
                self.replication.epoch = epoch
                registry.rebase(epoch)
                if self.on_epoch is not None:
                    self.on_epoch(epoch)
            else:
                registry.resync()
        except ClusterError as exc:
            log.warning("cannot check the replicas against Redis yet: %s", exc)

    # -- the bus --------------------------------------------------------------------------

    def _committed(self, node: str, payload: Any) -> None:
        registry = self._registry
        if registry is None:
            return
        name, version, (lifetime, initialized, patches, state, cause) = payload
        cause = None if cause is None else (cause[0], cause[1])
        entry = Entry(version, bool(initialized), patches, state, cause)
        try:
            applied = registry.apply_remote(name, lifetime, entry)
        except ClusterError as exc:  # the gap is read on the next recheck
            log.warning("cannot catch up with %r: %s", name, exc)
            return
        resolved = None if applied or self.on_foreign is None else registry.resolve(name)
        if resolved is not None and self.on_foreign is not None:
            epoch = f"{registry.epoch}.{lifetime}"
            self.on_foreign(Change(name, resolved[1], version, state, patches, epoch, cause))

    def _removed(self, node: str, payload: Any) -> None:
        if self._registry is not None:
            name, lifetime = payload
            self._registry.remove_remote(name, lifetime)


def _log_failure(task: asyncio.Future[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("the cluster node did not start: %s", task.exception())
