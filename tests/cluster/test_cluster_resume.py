"""Resume on another node (API §8 across nodes): a client whose node vanished
reconnects, through a balancer, to another node and keeps its session."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import redis.asyncio
from cluster_helpers import TIMEOUT, Balancer, MakeClient, Recorder, StartNode
from websockets.asyncio.client import connect

from hotstate_rx import RpcError, Server
from hotstate_rx.protocol import ClientHello, ServerHello, decode_server_message, encode
from hotstate_rx.server.hub import OUTCOME_UNKNOWN


def counting(redis_url: str, release: asyncio.Event | None = None) -> Any:
    """``bump(k)`` counts its runs in Redis (``runs:{k}``: every node adds to
    one count); with ``release``, it waits for it before answering."""

    def setup(server: Server) -> None:
        @server.handle("bump")
        async def bump(k: int) -> int:
            async with redis.asyncio.Redis.from_url(redis_url) as r:
                await r.incr(f"runs:{k}")
            if release is not None:
                await release.wait()
            return k

    return setup


async def runs(redis_url: str, k: int) -> int:
    async with redis.asyncio.Redis.from_url(redis_url) as r:
        return int(await r.get(f"runs:{k}") or 0)


async def started(redis_url: str, k: int) -> None:
    """Wait (polled: the count is in Redis, bounded) until ``bump(k)`` ran."""
    async with asyncio.timeout(TIMEOUT):
        while await runs(redis_url, k) == 0:
            await asyncio.sleep(0.01)


async def test_a_client_fails_over_and_resumes_its_session(
    redis_url: str,
    start_server: StartNode,
    make_client: MakeClient,
    balancer: Any,
) -> None:
    a = await start_server(counting(redis_url))
    b = await start_server(counting(redis_url))
    lb: Balancer = await balancer(a.port or 0)
    client = make_client(lb.url)
    connected, notes = Recorder(), Recorder()
    client.on("connected", connected)
    client.on("note", notes)
    await client.ready()
    first = client.client_id
    assert first is not None
    a.emit("note", "before")
    await notes.until(lambda v: v == ["before"])
    assert await client.call("bump", 1) == 1

    lb.fail_over(b.port or 0)  # node A vanishes from the client's view
    a.emit("note", "while away", client_id=first)
    b.emit("note", "to everyone")
    await connected.until(lambda v: len(v) == 2)
    assert [(c.client_id, c.recovered) for c in connected.values] == [(first, False), (first, True)]
    await notes.until(lambda v: len(v) == 3)
    assert notes.values == ["before", "while away", "to everyone"]
    assert b.context(first) is not None  # B serves the session now
    async with asyncio.timeout(TIMEOUT):  # and A let go of it
        while a.context(first) is not None:
            await asyncio.sleep(0.01)


async def test_a_call_answered_while_away_is_not_run_again_on_the_new_node(
    redis_url: str, start_server: StartNode, make_client: MakeClient, balancer: Any
) -> None:
    release = asyncio.Event()
    a = await start_server(counting(redis_url, release))
    b = await start_server(counting(redis_url))
    lb: Balancer = await balancer(a.port or 0)
    client = make_client(lb.url)
    connected = Recorder()
    client.on("connected", connected)
    await client.ready()
    call = asyncio.ensure_future(client.call("bump", 7))
    await started(redis_url, 7)
    lb.fail_over(b.port or 0)
    release.set()  # A answers while its caller is away: the answer is kept in Redis
    assert await asyncio.wait_for(call, TIMEOUT) == 7
    assert connected.values[-1].recovered is True
    assert await runs(redis_url, 7) == 1


async def test_a_call_whose_node_stopped_mid_call_is_never_run_twice(
    redis_url: str, start_server: StartNode, make_client: MakeClient, balancer: Any
) -> None:
    never = asyncio.Event()
    a = await start_server(counting(redis_url, never))  # its handler never ends
    b = await start_server(counting(redis_url))
    lb: Balancer = await balancer(a.port or 0)
    client = make_client(lb.url)
    await client.ready()
    call = asyncio.ensure_future(client.call("bump", 9))
    await started(redis_url, 9)
    lb.fail_over(b.port or 0)
    try:
        await asyncio.wait_for(call, TIMEOUT)
    except RpcError as exc:
        assert str(exc) == OUTCOME_UNKNOWN
    else:
        raise AssertionError("the resent call was answered as if it ran")
    assert await runs(redis_url, 9) == 1


async def test_a_forged_token_gets_a_fresh_session(
    start_server: StartNode, make_client: MakeClient
) -> None:
    a, b = await start_server(), await start_server()
    victim = make_client(f"ws://127.0.0.1:{a.port}")
    await victim.ready()
    assert victim.client_id is not None
    for token in (f"{victim.client_id}.forged", "no-dot", "x" * 200 + ".y", ".", "a."):
        async with connect(f"ws://127.0.0.1:{b.port}") as ws:
            await ws.send(encode(ClientHello(resume=token, last_event=0)))
            hello = decode_server_message(await asyncio.wait_for(ws.recv(), TIMEOUT))
            assert isinstance(hello, ServerHello)
            assert not hello.recovered and hello.client_id != victim.client_id
    assert a.context(victim.client_id) is not None  # the victim's session is untouched


def stores(server: Server) -> None:
    server.create_store("Counter", {"n": 0})
    server.create_store("Room:*", {"n": 0})


def steps(states: list[Any]) -> list[int]:
    values = [s["n"] for s in states]
    return [b - a for a, b in itertools.pairwise(values)]


async def test_the_changes_missed_while_failing_over_are_replayed_not_snapshotted(
    start_server: StartNode, make_client: MakeClient, balancer: Any
) -> None:
    a, b = await start_server(stores), await start_server(stores)
    lb: Balancer = await balancer(a.port or 0)
    client = make_client(lb.url)
    counter, room, connected = Recorder(), Recorder(), Recorder()
    client.on("connected", connected)
    client.subscribe("Counter", counter)
    client.subscribe("Room:x", room)  # resident on A only
    await counter.until(len)
    await room.until(len)
    bump = lambda d: d.update(n=d["n"] + 1)  # noqa: E731

    lb.fail_over(b.port or 0, hold=True)
    for _ in range(3):
        b.stores["Counter"].update(bump)  # changed on the node the client goes to
        a.stores["Room:*"].update("x", bump)  # and on the node it left
    lb.release()
    await connected.until(lambda v: len(v) == 2)
    assert connected.values[-1].recovered is True
    await counter.until(lambda v: v[-1] == {"n": 3})
    await room.until(lambda v: v[-1] == {"n": 3})
    assert steps(counter.values) == [1, 1, 1]  # every missed version, in order
    assert steps(room.values) == [1, 1, 1]


async def test_a_node_that_leaves_hands_its_clients_over(
    redis_url: str, start_server: StartNode, make_client: MakeClient, balancer: Any
) -> None:
    idle: list[str | None] = []

    def setup(server: Server) -> None:
        stores(server)
        server.stores["Room:*"].on_idle(idle.append)

    a, b = await start_server(setup), await start_server(setup)
    lb: Balancer = await balancer(a.port or 0)
    client = make_client(lb.url)
    connected, room = Recorder(), Recorder()
    client.on("connected", connected)
    client.subscribe("Room:x", room)
    await room.until(len)
    first = client.client_id

    lb.target = b.port or 0  # new connections go to B; A's stay until it closes
    await a.close()  # 1012: resume elsewhere
    await connected.until(lambda v: len(v) == 2)
    assert (connected.values[-1].client_id, connected.values[-1].recovered) == (first, True)
    b.stores["Room:*"].update("x", lambda d: d.update(n=1))
    await room.until(lambda v: v[-1] == {"n": 1})
    async with redis.asyncio.Redis.from_url(redis_url) as r, asyncio.timeout(TIMEOUT):
        while await r.zcard("hotstate:nodes") != 1:  # A's heartbeat lapsed: B removed it
            await asyncio.sleep(0.05)
    assert b.stores["Room:*"].subscriber_count("x") == 1
    assert idle == []  # its client was counted on B before A was removed


async def test_a_client_of_a_killed_node_resumes_on_another(
    redis_url: str,
    start_server: StartNode,
    make_client: MakeClient,
    balancer: Any,
    spawn_node: Any,
) -> None:
    doomed = await spawn_node()  # node_main.py: Room:*, bump, stall
    survivor = await start_server(counting(redis_url))  # the same application as node_main
    survivor.create_store("Room:*", {"n": 0}, presence=True)
    survivor.handle("stall", lambda k: None)
    lb: Balancer = await balancer(doomed.port)
    client = make_client(lb.url)
    connected, notes, room = Recorder(), Recorder(), Recorder()
    client.on("connected", connected)
    client.on("note", notes)
    client.subscribe("Room:x", room)
    await room.until(len)
    first = client.client_id
    assert await client.call("bump", 1) == 1
    stalled = asyncio.ensure_future(client.call("stall", 2))
    await started(redis_url, 2)

    lb.fail_over(survivor.port or 0, hold=True)
    doomed.kill()  # SIGKILL, mid-call
    await doomed.wait()
    survivor.emit("note", "while away", client_id=first)
    for _ in range(3):
        survivor.stores["Room:*"].update("x", lambda d: d.update(n=d["n"] + 1))
    lb.release()

    await connected.until(lambda v: len(v) == 2)
    assert (connected.values[-1].client_id, connected.values[-1].recovered) == (first, True)
    await notes.until(lambda v: v == ["while away"])
    await room.until(lambda v: v[-1] == {"n": 3})
    assert steps(room.values) == [1, 1, 1]  # the missed patches, not a snapshot
    try:
        await asyncio.wait_for(stalled, TIMEOUT)
    except RpcError as exc:
        assert str(exc) == OUTCOME_UNKNOWN
    else:
        raise AssertionError("a call whose node died was answered as if it ran")
    assert await runs(redis_url, 1) == 1 and await runs(redis_url, 2) == 1


async def test_a_client_given_every_node_fails_over_by_itself(
    redis_url: str, start_server: StartNode, make_client: MakeClient, spawn_node: Any
) -> None:
    doomed = await spawn_node()
    survivor = await start_server(counting(redis_url))
    survivor.create_store("Room:*", {"n": 0}, presence=True)
    client = make_client(urls=[doomed.url, f"ws://127.0.0.1:{survivor.port}"])
    connected, room = Recorder(), Recorder()
    client.on("connected", connected)
    client.subscribe("Room:x", room)
    await room.until(len)
    first = client.client_id

    doomed.kill()
    await doomed.wait()
    survivor.stores["Room:*"].update("x", lambda d: d.update(n=1))
    await connected.until(lambda v: len(v) == 2)
    assert connected.values[-1].url == f"ws://127.0.0.1:{survivor.port}"
    assert (connected.values[-1].client_id, connected.values[-1].recovered) == (first, True)
    await room.until(lambda v: v[-1] == {"n": 1})
    assert await client.call("bump", 5) == 5
