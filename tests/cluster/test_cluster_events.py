"""Events across nodes: broadcast and targeted, one order and one numbering."""

from __future__ import annotations

from typing import Any

import pytest
from cluster_helpers import MakeClient, Recorder, StartNode

from hotstate_rx import ClusterUnavailable, Server


async def test_a_targeted_event_reaches_its_client_on_another_node(
    start_server: StartNode, make_client: MakeClient
) -> None:
    a, b = await start_server(), await start_server()
    on_a, on_b = make_client(f"ws://127.0.0.1:{a.port}"), make_client(f"ws://127.0.0.1:{b.port}")
    got_a, got_b = Recorder(), Recorder()
    on_a.on("note", got_a)
    on_b.on("note", got_b)
    await on_a.ready()
    await on_b.ready()
    assert on_b.client_id is not None

    a.emit("note", "for b only", client_id=on_b.client_id)
    a.emit("note", "for everyone")
    b.emit("note", "from b")
    await got_b.until(lambda v: len(v) == 3)
    await got_a.until(lambda v: len(v) == 2)
    assert got_b.values == ["for b only", "for everyone", "from b"]
    assert got_a.values == ["for everyone", "from b"]


async def test_event_numbers_are_the_same_on_every_node(
    start_server: StartNode, make_client: MakeClient
) -> None:
    a, b = await start_server(), await start_server()
    clients = [make_client(f"ws://127.0.0.1:{n.port}") for n in (a, b)]
    records = [Recorder(), Recorder()]
    for client, record in zip(clients, records, strict=True):
        client.on("tick", record)
        await client.ready()
    for i in range(20):
        (a if i % 2 else b).emit("tick", i)
    for record in records:
        await record.until(lambda v: len(v) == 20)
    assert records[0].values == records[1].values == list(range(20))
    lasts = [client._core.last_event for client in clients]
    assert lasts[0] == lasts[1] > 0


async def test_emit_without_redis_fails_clearly(redis_server: Any) -> None:
    node = Server(cluster=redis_server.url, cluster_timeout=0.2)
    try:
        await node.listen(port=0, host="127.0.0.1")
        redis_server.kill()
        with pytest.raises(ClusterUnavailable, match="cannot emit 'note'"):
            node.emit("note", 1)
    finally:
        await node.close()
