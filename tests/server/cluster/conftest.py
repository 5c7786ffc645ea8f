"""The fixtures of the replicated-store tests (defined in :mod:`replicas`, whose
name, unlike ``conftest``, is unique on ``sys.path``)."""

from replicas import clients, nodes, own_nodes

__all__ = ["clients", "nodes", "own_nodes"]
