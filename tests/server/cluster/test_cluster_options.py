"""``Server(cluster=...)``'s options, where the node starts listening, and what
stays a node's own (the inspector)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from redis_server import RedisServer, free_port
from replicas import TIMEOUT, Nodes, Seen, reach, redis_client

from hotstate_rx import ClusterUnavailable, Server
from hotstate_rx.client import Client
from hotstate_rx.protocol import Snapshot, Subscribe


def test_cluster_and_storage_together_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cluster= keeps every store in Redis"):
        Server(cluster="redis://127.0.0.1:1/0", storage=f"sqlite:///{tmp_path}/x.db")


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"cluster": "http://127.0.0.1:6379"}, "unsupported cluster URL 'http://127.0.0.1:6379'"),
        ({"cluster": 6379}, "cluster must be a Redis URL string, not int"),
        ({"cluster_namespace": "a:b"}, "cluster_namespace must be a non-empty str without ':'"),
        ({"cluster_timeout": 0}, "cluster_timeout must be seconds > 0, got 0"),
    ],
)
def test_bad_cluster_options_name_the_problem(options: dict[str, Any], problem: str) -> None:
    options = {"cluster": "redis://127.0.0.1:1/0", **options}
    with pytest.raises((ValueError, TypeError), match=problem):
        Server(**options)


def test_a_redis_that_does_not_answer_fails_the_server_at_once() -> None:
    port = free_port()  # nothing listens there
    started = time.monotonic()
    with pytest.raises(ClusterUnavailable, match=f"127.0.0.1:{port}.*read the epoch"):
        Server(cluster=f"redis://127.0.0.1:{port}/0", cluster_timeout=1.0)
    assert time.monotonic() - started < 1.0 + 2.0  # the timeout, with headroom


async def test_a_node_served_through_asgi_joins_the_bus_on_its_first_connection(
    nodes: Nodes, serve_app: Any
) -> None:
    (a,) = await nodes.listening(1, lambda s: s.create_store("Counter", {"n": 0}))
    b = nodes.server(lambda s: s.create_store("Counter", {"n": 0}))
    port = await serve_app(b.asgi)
    client = Client(f"ws://127.0.0.1:{port}", reconnect_delay=0.02)
    try:
        seen = Seen()
        await asyncio.wait_for(client.subscribe("Counter", seen).ready(), TIMEOUT)
        a.stores["Counter"].update(lambda d: d.__setitem__("n", 7))
        await seen.until(lambda s: s == {"n": 7})
    finally:
        await client.close()


async def test_the_inspector_is_each_nodes_own(
    nodes: Nodes, shared_redis: RedisServer, raw_connect: Any
) -> None:
    a, b = await nodes.listening(2, lambda s: s.create_store("Counter", {"n": 0}), inspect=True)
    readers = [await raw_connect(f"ws://127.0.0.1:{s.port}") for s in (a, b)]
    for reader in readers:
        await reader.send(Subscribe("$inspect:clients"))
    shown = [await reader.recv() for reader in readers]
    assert all(isinstance(m, Snapshot) for m in shown)
    assert [list(m.data) for m in shown] == [[r.client_id] for r in readers]  # type: ignore[union-attr]
    keys = {k.decode() for k in redis_client(shared_redis).keys("*")}
    assert not any("$inspect" in k for k in keys), keys
    assert a.list_stores() == b.list_stores() == ["Counter"]


async def test_a_node_closed_and_listening_again_hears_the_bus_again(nodes: Nodes) -> None:
    a, b = await nodes.listening(2, lambda s: s.create_store("Counter", {"n": 0}))
    await b.close()
    await b.listen(0, "127.0.0.1")
    a.stores["Counter"].update(lambda d: d.__setitem__("n", 5))
    await reach(b, lambda: b.stores["Counter"].get() == {"n": 5})
