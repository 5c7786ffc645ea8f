"""What a clustered hub asks of Redis, performed: the driver's cluster port.

The hub (:mod:`..hub`, sans I/O) decides; its cluster actions
(:class:`~..hub.FetchSession`, :class:`~..hub.ClaimCall`, ...) come here from
the driver, and their outcomes go back to the hub (:meth:`~..hub.HubCore.fetched`,
:meth:`~..hub.HubCore.claimed`, :meth:`~..hub.HubCore.idle`, ...), whose
actions the driver performs in turn. Events, sessions and membership each
have their module; this one owns their shared pieces (the bus handlers on
the :class:`~.node.ClusterNode`'s link, the :class:`Batch`) and their start
and stop. The node starts and closes the link; this starts after it and
stops before it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..hub import (
    ClaimCall,
    ClusterAction,
    CountSubscriber,
    DropSession,
    FetchSession,
    HubAction,
    HubCore,
    RecordSession,
    SaveResult,
)
from .batch import Batch
from .events import EventLog
from .members import Membership
from .sessions import SessionStore

if TYPE_CHECKING:
    from ..presence import Presence
    from ..store import Change, StoreRegistry
    from .node import ClusterNode

__all__ = ["ClusterServing"]

log = logging.getLogger(__name__)

Report = Callable[[list[HubAction[Any]]], None]


class ClusterServing:
    """One node's side of the cluster for its hub (see the module docstring).
    ``window``: the resume window, how long a session's record outlives its
    node."""

    def __init__(
        self,
        node: ClusterNode,
        hub: HubCore[Any],
        registry: StoreRegistry,
        presence: Presence,
        *,
        window: float,
    ) -> None:
        link = node.link
        self._node = node
        self.link = link
        self._hub = hub
        self._registry = registry
        self._presence = presence
        self._report: Report = _unbound
        self._now: Callable[[], float] = _unbound_clock
        self._batch = Batch(link)
        self._answers = Batch(link)
        self.events = EventLog(link, self._deliver)
        self.sessions = SessionStore(link, self._batch, self._answers, self.events, window)
        self.members = Membership(
            link,
            self._batch,
            idle=self._idle,
            gone=self._gone,
            back=self._back,
            refresh=self._refresh,
            refresh_every=self.sessions.refresh_every,
        )
        link.on("taken", self._taken)
        registry.subscribers_elsewhere = self.members.elsewhere
        presence.noted = self.members.present
        node.on_foreign = self._foreign
        self._started: asyncio.Task[None] | None = None

    def connect(self, report: Report, now: Callable[[], float]) -> None:
        """The driver: where the hub's answers go, and its clock."""
        self._report, self._now = report, now

    # -- running ------------------------------------------------------------------

    def bind(self) -> None:
        """The driver bound its loop: connect to Redis there (once)."""
        if self._started is None:
            self._started = asyncio.get_running_loop().create_task(self._start())

    async def ready(self) -> None:
        """Wait until connected (raises if Redis cannot be reached at start)."""
        self.bind()
        assert self._started is not None
        await self._started

    async def _start(self) -> None:
        await self._node.start()
        self._batch.ready.set()
        self._answers.ready.set()
        self.members.start()

    async def close(self) -> None:
        """Send what is queued and leave the cluster (the node closes the link)."""
        started, self._started = self._started, None
        if started is not None and not started.done():
            started.cancel()
        await self._batch.close()
        await self._answers.close()
        await self.members.close()

    # -- the hub's actions -----------------------------------------------------------

    def perform(self, action: ClusterAction[Any]) -> None:
        hub, sessions = self._hub, self.sessions
        match action:
            case ClaimCall(invoked):
                sessions.claim(
                    action,
                    lambda answer, failure: self._report(hub.claimed(invoked, answer, failure)),
                )
            case SaveResult(client_id, call_id, frame):
                sessions.save(client_id, call_id, frame)
            case CountSubscriber(store, delta):
                self.members.count(store, delta)
            case FetchSession(conn):
                sessions.fetch(
                    action, lambda remote: self._report(hub.fetched(conn, remote, self._now()))
                )
            case RecordSession():
                sessions.record(action)
            case DropSession(client_id):
                sessions.drop(client_id)

    def emit(self, channel: str, packed: bytes, client_id: str | None) -> None:
        """``server.emit`` in a cluster: into the cluster's event log (blocking,
        within ``cluster_timeout``); every node delivers it from the bus."""
        self.events.emit(channel, packed, client_id)

    # -- what the cluster tells this node ---------------------------------------------

    def _deliver(self, channel: str, packed: bytes, client_id: str | None, seq: int) -> None:
        """An event heard on the bus: through the registry's queue, in order
        with the store changes."""
        self._registry.schedule(self._hub.emit, channel, packed, client_id, seq)

    def _foreign(self, change: Change) -> None:
        """A change of an instance not in memory here: into the hub's history."""
        self._report(self._hub.heard(change))

    def _taken(self, node: str, client_id: Any) -> None:
        if node != self.link.node and isinstance(client_id, str):
            self._report(self._hub.taken(client_id))

    def _idle(self, name: str) -> None:
        self._report(self._hub.idle(name))

    def _gone(self, node: str, entries: list[tuple[str, str]]) -> None:
        """``node`` was removed: its clients leave the presence boards, but
        for those whose session another node serves now (they resumed there
        and joined again)."""
        keys = self.link.keys
        try:
            pipe = self.link.sync.pipeline(transaction=False)
            for _, client_id in entries:
                pipe.hget(keys.session(client_id), "n")
            servers = pipe.execute()
        except Exception as exc:  # Redis unavailable: no board can change anyway
            log.warning("cannot remove the presence of node %s: %s", node, exc)
            return
        for (store, client_id), server in zip(entries, servers, strict=True):
            if server is not None and server.decode() != node:
                continue
            try:
                self._presence.left(store, client_id)
            except Exception:
                log.exception("removing %s from the presence of %r failed", client_id, store)

    def _back(self, entries: list[tuple[str, str]]) -> None:
        """This node was taken for dead and its presence entries removed: the
        clients it serves are still here."""
        for store, client_id in entries:
            try:
                self._presence.joined(store, client_id)
            except Exception:
                log.exception("putting %s back in the presence of %r failed", client_id, store)

    def _refresh(self) -> None:
        self.sessions.refresh(self._hub.sessions())


def _unbound(actions: list[HubAction[Any]]) -> None:
    raise RuntimeError("the cluster port is not connected to a driver")


def _unbound_clock() -> float:
    raise RuntimeError("the cluster port is not connected to a driver")
