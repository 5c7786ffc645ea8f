"""The cluster: many server processes sharing every store through Redis.

``Server(cluster="redis://...")`` (see ``docs/CLUSTER.md`` for the design).
This package is the only place that imports ``redis``; the rules it serves
(the registry's replication interface, the hub's sessions) stay sans-I/O.
"""

from __future__ import annotations

from .keys import Keys
from .link import BusHandler, RedisLink, parse_cluster_url

__all__ = ["BusHandler", "Keys", "RedisLink", "parse_cluster_url"]
