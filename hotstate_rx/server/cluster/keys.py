"""The names of the cluster's Redis keys (pure): one place, so the layout
documented in ``docs/CLUSTER.md`` is the layout the code uses."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Keys"]


@dataclass(frozen=True, slots=True)
class Keys:
    """Every key of one cluster, under ``namespace`` (``Server(cluster_namespace=...)``)."""

    namespace: str = "hotstate"

    @property
    def epoch(self) -> str:
        """The cluster's epoch (a string, set once)."""
        return f"{self.namespace}:epoch"

    @property
    def names(self) -> str:
        """The set of every instance name that exists."""
        return f"{self.namespace}:names"

    @property
    def bus(self) -> str:
        """The pub/sub channel of commits, deletions and events."""
        return f"{self.namespace}:bus"

    @property
    def events(self) -> str:
        """The stream of emitted events (bounded), for resume on another node."""
        return f"{self.namespace}:events"

    @property
    def nodes(self) -> str:
        """The sorted set of live nodes: node id -> heartbeat deadline."""
        return f"{self.namespace}:nodes"

    def instance(self, name: str) -> str:
        """The hash of one instance (version, lifetime, snapshot, claims)."""
        return f"{self.namespace}:i:{name}"

    def log(self, name: str) -> str:
        """The stream of one instance's changes, entry id ``0-{version}``."""
        return f"{self.namespace}:l:{name}"

    def subscribers(self, node: str) -> str:
        """One node's subscriber counts: instance name -> count."""
        return f"{self.namespace}:subs:{node}"

    def session(self, client_id: str) -> str:
        """One client's session record."""
        return f"{self.namespace}:s:{client_id}"

    def calls(self, client_id: str) -> str:
        """One client's claimed calls and their results."""
        return f"{self.namespace}:calls:{client_id}"

    def presence(self, node: str) -> str:
        """One node's presence entries: ``"store\\0client_id"`` -> 1."""
        return f"{self.namespace}:presence:{node}"
