"""Resume after a drop, over real sockets cut by a proxy in the middle.

The proxy aborts both TCP sides at once, as a failing network does: no close
frame, no FIN. The client must come back as the same client, see every
version of a store (the missed ones replayed, none skipped or repeated), get
the events sent while it was away, and have each call run exactly once.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from client_helpers import TIMEOUT, CuttingProxy, MakeClient, Recorder, StartServer

from hotstate_rx import Disconnected, Server
from hotstate_rx.client import Client, Connected
from hotstate_rx.server.history import History

Proxy = Callable[[int], Awaitable[tuple[CuttingProxy, str]]]


def counter_server(
    runs: dict[int, int],
    release: asyncio.Event | None = None,
    started: asyncio.Event | None = None,
) -> Any:
    """``Counter`` {n}, and ``bump(k)``: counts its runs per argument; with
    ``release``, it sets ``started`` and waits for ``release`` before answering."""

    def setup(server: Server) -> None:
        server.create_store("Counter", {"n": 0})

        @server.handle("bump")
        async def bump(k: int) -> int:
            runs[k] = runs.get(k, 0) + 1
            if started is not None:
                started.set()
            if release is not None:
                await release.wait()
            return k

    return setup


def increment(server: Server, times: int = 1) -> None:
    for _ in range(times):
        server.stores["Counter"].update(lambda d: d.update(n=d["n"] + 1))


def steps(states: list[Any]) -> list[int]:
    """The differences between consecutive counter values a client showed."""
    values = [s["n"] for s in states]
    return [b - a for a, b in itertools.pairwise(values)]


async def test_a_short_drop_resumes_the_session(
    start_server: StartServer, make_client: MakeClient, proxy: Proxy
) -> None:
    runs: dict[int, int] = {}
    release, started = asyncio.Event(), asyncio.Event()
    server, _ = await start_server(counter_server(runs, release, started))
    cutter, url = await proxy(server.port or 0)
    client = make_client(url)
    connected, notes, states = Recorder(), Recorder(), Recorder()
    client.on("connected", connected)
    client.on("note", notes)
    client.subscribe("Counter", states)
    await states.until(lambda v: len(v) == 1)
    first = client.client_id
    assert first is not None
    call = asyncio.ensure_future(client.call("bump", 7))
    await asyncio.wait_for(started.wait(), TIMEOUT)

    assert cutter.cut(hold=True) == 1  # the network fails, and stays down a while
    increment(server, 3)
    server.emit("note", "while away", client_id=first)
    server.emit("note", "to everyone")
    release.set()  # the call ends while its caller is away

    cutter.release()
    await connected.until(lambda v: len(v) == 2)
    assert connected.values == [Connected(first, url=url), Connected(first, True, url)]
    assert client.recovered is True and client.client_id == first
    assert await asyncio.wait_for(call, TIMEOUT) == 7
    assert runs == {7: 1}  # answered from the session's cache: run once
    await notes.until(lambda v: len(v) == 2)
    assert notes.values == ["while away", "to everyone"]
    await states.until(lambda v: v[-1] == {"n": 3})
    assert steps(states.values) == [1, 1, 1]  # the missed versions replayed, in order


async def test_a_drop_longer_than_the_window_starts_a_new_session(
    start_server: StartServer, make_client: MakeClient, proxy: Proxy
) -> None:
    runs: dict[int, int] = {}
    release, started, disconnected = asyncio.Event(), asyncio.Event(), asyncio.Event()

    def setup(server: Server) -> None:
        counter_server(runs, release, started)(server)
        server.on("disconnect", lambda cid: disconnected.set())

    server = Server(resume_window=0.05, history=0)
    setup(server)
    await server.listen(port=0, host="127.0.0.1")
    try:
        cutter, url = await proxy(server.port or 0)
        client = make_client(url)
        connected, states = Recorder(), Recorder()
        client.on("connected", connected)
        client.subscribe("Counter", states)
        await states.until(lambda v: len(v) == 1)
        first = client.client_id
        call = asyncio.ensure_future(client.call("bump", 1))
        await asyncio.wait_for(started.wait(), TIMEOUT)
        cutter.cut(hold=True)
        await asyncio.wait_for(disconnected.wait(), TIMEOUT)  # the window passed
        increment(server, 2)
        cutter.release()
        await connected.until(lambda v: len(v) == 2)
        assert connected.values[1].recovered is False
        assert client.client_id != first
        with pytest.raises(Disconnected):  # it may have run: it is not sent again
            await asyncio.wait_for(call, TIMEOUT)
        release.set()
        await states.until(lambda v: v[-1] == {"n": 2})
        assert [s["n"] for s in states.values] == [0, 2]  # a clean snapshot, nothing invented
        assert runs == {1: 1}
    finally:
        await server.close()


async def test_the_optimistic_view_never_shows_both_the_guess_and_the_change(
    start_server: StartServer, make_client: MakeClient
) -> None:
    def setup(server: Server) -> None:
        todos = server.create_store("Todos", {"items": []})

        @server.handle("add")
        def add(text: str) -> None:
            todos.update(lambda d: d["items"].append(text))

    _, url = await start_server(setup)
    client = make_client(url)
    views = Recorder()
    client.subscribe("Todos", views)
    await views.until(lambda v: len(v) == 1)
    for n in range(20):
        await client.call(
            "add",
            f"item {n}",
            store="Todos",
            optimistic=lambda s, n=n: {**s, "items": [*s["items"], f"(adding {n})"]},
        )
    for view in views.values:
        confirmed = {i for i in view["items"] if i.startswith("item")}
        guessed = {i.removeprefix("(adding ").rstrip(")") for i in view["items"] if "(" in i}
        assert not {f"item {g}" for g in guessed} & confirmed, view
    assert views.values[-1] == {"items": [f"item {n}" for n in range(20)]}


async def test_chaos_many_clients_many_drops_nothing_lost_nothing_twice(
    start_server: StartServer, make_client: MakeClient, proxy: Proxy
) -> None:
    """20 clients through a proxy that keeps cutting them, while the server
    increments a counter 5,000 times, each client calls, and the server sends
    each client numbered events of its own."""
    runs: dict[int, int] = {}
    # History enough for the longest drop here: on one loop shared by the
    # server, the proxy and 20 clients, a reconnect can take over 1,000
    # versions of a counter that changes this fast.
    server, _ = await start_server(
        counter_server(runs), history=History(patches=5000, bytes=8 << 20)
    )
    cutter, url = await proxy(server.port or 0)
    rng = random.Random(1234)
    clients: list[Client] = []
    states: list[Recorder] = []
    inbox: list[Recorder] = []
    for _ in range(20):
        client = make_client(url, reconnect_delay=0.005, reconnect_max=0.02, rpc_timeout=30.0)
        recorder, events = Recorder(), Recorder()
        client.subscribe("Counter", recorder)
        client.on("mine", events)
        clients.append(client)
        states.append(recorder)
        inbox.append(events)
    for recorder in states:
        await recorder.until(lambda v: len(v) >= 1)
    ids = [c.client_id for c in clients]
    successes = 0
    sent_events = 0

    async def writer() -> None:
        nonlocal sent_events
        for i in range(5000):
            increment(server)
            if i % 100 == 0:
                for k, client_id in enumerate(ids):
                    server.emit("mine", {"k": k, "i": i}, client_id=client_id)
                sent_events += 1
            if i % 20 == 0:
                await asyncio.sleep(0)  # let the loop deliver; pacing, not synchronisation

    async def caller(k: int, client: Client) -> None:
        nonlocal successes
        for j in range(15):
            call_id = k * 1000 + j
            try:
                assert await client.call("bump", call_id) == call_id
                successes += 1
            except Disconnected:  # only when a resume failed
                pass

    async def chaos() -> int:
        cuts = 0
        for _ in range(25):
            await asyncio.sleep(rng.uniform(0.005, 0.03))
            cuts += cutter.cut()
        return cuts

    cut_task = asyncio.ensure_future(chaos())
    await asyncio.wait_for(
        asyncio.gather(writer(), *(caller(k, c) for k, c in enumerate(clients))), 60
    )
    cuts = await asyncio.wait_for(cut_task, TIMEOUT)
    assert cuts >= 20  # the drops did happen, and often

    final = server.stores["Counter"].get()
    assert final == {"n": 5000}
    for recorder in states:
        await recorder.until(lambda v: v[-1] == final)
        assert set(steps(recorder.values)) == {1}  # every version once: none skipped, none twice
    assert sum(runs.values()) == successes and set(runs.values()) == {1}
    for k, events in enumerate(inbox):
        await events.until(lambda v: len(v) == sent_events)
        assert [e["i"] for e in events.values] == list(range(0, 5000, 100))
        assert {e["k"] for e in events.values} == {k}
    assert [c.client_id for c in clients] == ids  # every session resumed
