"""The fixtures of the cluster tests (defined in :mod:`cluster_helpers`, whose
name, unlike ``conftest``, is unique on ``sys.path``)."""

from cluster_helpers import balancer, redis_url, spawn_node, start_server

__all__ = ["balancer", "redis_url", "spawn_node", "start_server"]
