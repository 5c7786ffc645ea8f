"""Abusive clients of a cluster beside healthy ones: a flood of calls that
make every node emit, a flood of forged resume tokens. Each is refused or
slowed cleanly; the healthy clients' calls stay prompt."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from cluster_helpers import TIMEOUT, MakeClient, StartNode
from websockets.asyncio.client import connect

from hotstate_rx import Server
from hotstate_rx.protocol import (
    Call,
    ClientHello,
    Result,
    ServerHello,
    decode_server_message,
    encode,
)
from hotstate_rx.server.hub import TOO_MANY_CALLS

BOUND = 2.0
"""Seconds a healthy call may take under attack (loopback, 2 shared cores:
ample headroom; an unbounded queue behind the flood would take far longer)."""


def shouting(server: Server) -> None:
    server.handle("shout", lambda args: server.emit("noise", args))
    server.handle("ping", lambda args: args)


async def healthy_calls(url: str, make_client: MakeClient, stop: asyncio.Event) -> list[float]:
    client = make_client(url)
    await client.ready()
    took = []
    while not stop.is_set():
        started = time.perf_counter()
        assert await client.call("ping", 1) == 1
        took.append(time.perf_counter() - started)
        await asyncio.sleep(0.01)
    return took


async def test_a_flood_of_emitting_calls_is_refused_cleanly(
    start_server: StartNode, make_client: MakeClient
) -> None:
    a, b = await start_server(shouting), await start_server(shouting)
    stop = asyncio.Event()
    watchers = [
        asyncio.ensure_future(healthy_calls(f"ws://127.0.0.1:{n.port}", make_client, stop))
        for n in (a, b)
    ]
    answers: list[Any] = []
    async with connect(f"ws://127.0.0.1:{a.port}") as ws:
        await ws.send(encode(ClientHello()))
        assert isinstance(decode_server_message(await ws.recv()), ServerHello)
        flood = 800
        for i in range(flood):
            await ws.send(encode(Call(i + 1, "shout", i)))
        async with asyncio.timeout(TIMEOUT * 4):
            while len(answers) < flood:
                message = decode_server_message(await ws.recv())
                if isinstance(message, Result):
                    answers.append(message)
    stop.set()
    latencies = [t for w in await asyncio.gather(*watchers) for t in w]
    refused = [r for r in answers if r.error == TOO_MANY_CALLS]
    assert all(r.error in (None, TOO_MANY_CALLS) for r in answers)
    assert len(answers) == flood and refused  # some ran, the excess was refused
    assert latencies and max(latencies) < BOUND


async def test_forged_resume_tokens_get_fresh_sessions_and_cost_others_nothing(
    start_server: StartNode, make_client: MakeClient
) -> None:
    a, b = await start_server(shouting), await start_server(shouting)
    victim = make_client(f"ws://127.0.0.1:{a.port}")
    await victim.ready()
    stop = asyncio.Event()
    watcher = asyncio.ensure_future(healthy_calls(f"ws://127.0.0.1:{b.port}", make_client, stop))

    async def forge(i: int) -> ServerHello:
        async with connect(f"ws://127.0.0.1:{b.port}") as ws:
            token = f"{victim.client_id}.forged{i}" if i % 2 else f"c{i}.guess"
            await ws.send(encode(ClientHello(resume=token, last_event=0)))
            hello = decode_server_message(await asyncio.wait_for(ws.recv(), TIMEOUT))
            assert isinstance(hello, ServerHello)
            return hello

    hellos = await asyncio.gather(*(forge(i) for i in range(100)))
    stop.set()
    latencies = await watcher
    assert not any(h.recovered for h in hellos)
    assert victim.client_id not in {h.client_id for h in hellos}
    assert a.context(victim.client_id or "") is not None  # the victim keeps its session
    assert await victim.call("ping", 2) == 2
    assert latencies and max(latencies) < BOUND
