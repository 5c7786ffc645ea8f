"""Chaos (issue 15, API §10): three node processes on one Redis
(``chaos_node.py``), 20 clients each given every node's URL in its own order,
subscribed to a static and two dynamic instances and a ticker; every client
calls ``add`` back to back (one change and one run counted in Redis per
call), every node writes the ticker and emits ``tick`` on a timer. Mid-run
one node is SIGKILLed. Then: its clients resumed elsewhere, every client
holds what Redis and the surviving nodes hold at the same versions, no
acknowledged change is lost, no handler ran twice, and the survivors count
the clients once the dead node is removed."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis.asyncio
from cluster_helpers import MakeClient, Recorder
from node_proc import NodeProcess

from hotstate_rx import RpcError
from hotstate_rx.client import Client, SubscriptionHandle
from hotstate_rx.server.hub import OUTCOME_UNKNOWN

NODE = Path(__file__).with_name("chaos_node.py")
CLIENTS = 20
CALLED = ("Counter", "Log:a", "Log:b")
WATCHED = (*CALLED, "Ticks")
EXISTING = sorted(["Control", *WATCHED])
PROGRESS = 100
"""Calls acknowledged before the kill, and again after the failover: the
kill lands mid-run (each client with a call in flight), and the survivors
are seen to serve."""
DEADLINE = 15.0
"""Seconds any one phase may take (a loaded two-core machine)."""


@dataclass
class Call:
    """One ``add`` call: where it was sent and what came of it."""

    uid: str
    name: str
    node: str | None
    """The node the client was connected to when it made the call (None:
    between connections)."""
    before_kill: bool
    outcome: str = "pending"
    """``"ok"``, ``"unknown"`` (OUTCOME_UNKNOWN), or the unexpected error."""


@dataclass
class Caller:
    """One client and what it saw."""

    client: Client
    handles: dict[str, SubscriptionHandle] = field(default_factory=dict)
    connected: Recorder = field(default_factory=Recorder)
    ticks: dict[str, list[int]] = field(default_factory=dict)
    """Node port -> the ``n`` of every ``tick`` event it emitted, as received."""
    calls: list[Call] = field(default_factory=list)

    def tick(self, event: dict[str, Any]) -> None:
        self.ticks.setdefault(event["node"], []).append(event["n"])

    def version(self, name: str) -> int | None:
        """The version of ``name`` this client holds (the client has no public
        reader of it; the test compares it with Redis's)."""
        store = self.client._core._stores.get(name)
        return None if store is None else store.version


class Progress:
    """A count of acknowledged calls that can be awaited."""

    def __init__(self) -> None:
        self.count = 0
        self._changed = asyncio.Event()

    def add(self) -> None:
        self.count += 1
        self._changed.set()

    async def reach(self, count: int, what: str) -> None:
        try:
            async with asyncio.timeout(DEADLINE):
                while self.count < count:
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            raise AssertionError(f"{what}: {self.count} of {count} calls acknowledged") from None


async def eventually(condition: Callable[[], Awaitable[bool]], what: Callable[[], str]) -> None:
    """Poll ``condition`` (state held by other processes) until it holds, or
    fail with ``what()`` after :data:`DEADLINE`."""
    deadline = time.monotonic() + DEADLINE
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(what())
        await asyncio.sleep(0.02)


async def call_on(
    caller: Caller, i: int, stop: asyncio.Event, killed: asyncio.Event, acked: Progress
) -> None:
    """Call ``add`` back to back (one in flight) until ``stop``; record every outcome."""
    client = caller.client
    for k in itertools.count():
        if stop.is_set():
            return
        node = client.url if client.status.value == "connected" else None
        call = Call(f"c{i}-{k}", CALLED[(i + k) % len(CALLED)], node, not killed.is_set())
        caller.calls.append(call)
        try:
            assert await client.call("add", [call.name, call.uid]) == call.uid
            call.outcome = "ok"
            acked.add()
        except RpcError as exc:
            call.outcome = (
                "unknown" if str(exc) == OUTCOME_UNKNOWN else f"{type(exc).__name__}: {exc}"
            )
        except Exception as exc:  # recorded, then asserted absent with the others
            call.outcome = f"{type(exc).__name__}: {exc}"


def ticks_printed(lines: list[str]) -> list[int]:
    return [int(line.removeprefix("tick ")) for line in lines]


async def test_sigkill_one_of_three_nodes_mid_run(
    redis_url: str, start_node: Callable[..., Awaitable[NodeProcess]], make_client: MakeClient
) -> None:
    nodes = await asyncio.gather(*(start_node(NODE, args=[redis_url]) for _ in range(3)))
    urls = [node.url for node in nodes]
    doomed, survivors = nodes[0], nodes[1:]
    orders = list(itertools.permutations(urls))
    callers = []
    for i in range(CLIENTS):
        caller = Caller(make_client(urls=list(orders[i % len(orders)]), rpc_timeout=DEADLINE))
        caller.client.on("connected", caller.connected)
        caller.client.on("tick", caller.tick)
        caller.handles = {name: caller.client.subscribe(name) for name in WATCHED}
        callers.append(caller)
    async with asyncio.timeout(DEADLINE):
        await asyncio.gather(*(h.ready() for c in callers for h in c.handles.values()))

    # the run: calls back to back, SIGKILL mid-run, failover, more calls
    stop, killed, acked = asyncio.Event(), asyncio.Event(), Progress()
    loops = [asyncio.create_task(call_on(c, i, stop, killed, acked)) for i, c in enumerate(callers)]
    try:
        await acked.reach(PROGRESS, "before the kill")
        moved = [c for c in callers if c.connected.values[-1].url == doomed.url]
        assert moved, "no client was on the node to kill: the URL orders should put some there"
        killed.set()
        doomed.kill()
        await doomed.close()  # collected, and everything it printed read
        for caller in moved:
            await caller.connected.until(lambda v: len(v) == 2, DEADLINE)
        await acked.reach(acked.count + PROGRESS, "after the failover")
        stop.set()
        async with asyncio.timeout(DEADLINE):
            await asyncio.gather(*loops)
    finally:
        for loop in loops:
            loop.cancel()
        await asyncio.gather(*loops, return_exceptions=True)

    # every client of the killed node resumed on another; the others never dropped
    for caller in callers:
        if caller not in moved:
            assert len(caller.connected.values) == 1, caller.connected.values
            continue
        assert len(caller.connected.values) == 2, caller.connected.values  # one failover
        first, again = caller.connected.values
        assert again.url != doomed.url and again.url in urls, again
        assert again.client_id == first.client_id and again.recovered, (
            f"{again}: expected a resumed session (recovered=True, same client_id): its session "
            "was recorded in Redis before its hello, the resume window (60 s) had not passed and "
            "the events stream still held every event after its last; a fresh session here "
            "means the resume on another node failed"
        )

    # the writers stop; the dead node is removed; everyone settles on Redis's versions
    probes = {node.url: make_client(node.url) for node in survivors}
    await probes[survivors[0].url].call("halt")
    printed = {str(doomed.port): ticks_printed(doomed.printed())}
    for node in survivors:
        lines = []
        while (line := await node.next_line(DEADLINE)) != "stopped":
            lines.append(line)
        printed[str(node.port)] = ticks_printed(lines)
    calls = [call for caller in callers for call in caller.calls]
    held: dict[str, Any] = {}
    db = redis.asyncio.Redis.from_url(redis_url)
    try:

        async def reaped() -> bool:
            return await db.zcard("hotstate:nodes") == 2

        await eventually(reaped, lambda: "the killed node was never removed from hotstate:nodes")
        versions = {n: int(await db.hget(f"hotstate:i:{n}", "v") or -1) for n in WATCHED}

        async def settled() -> bool:
            for url, probe in probes.items():
                held[url] = await probe.call("dump", list(WATCHED))
            return (
                all(h[n][1:] == [versions[n], CLIENTS] for h in held.values() for n in WATCHED)
                and all(c.version(n) == versions[n] for c in callers for n in WATCHED)
                and all(
                    c.ticks[str(node.port)][-1] == printed[str(node.port)][-1]
                    for c in callers
                    for node in survivors
                )
            )

        await eventually(
            settled,
            lambda: (
                f"not settled at Redis's versions {versions} with {CLIENTS} subscribers: "
                f"nodes hold (version, subscriber_count) "
                f"{ {u: {n: h[n][1:] for n in WATCHED} for u, h in held.items()} }; clients hold "
                f"{sorted({(n, c.version(n)) for c in callers for n in WATCHED}, key=str)}"
            ),
        )
        runs = [int(r or 0) for r in await db.mget([f"runs:{c.uid}" for c in calls])]
        stray = {key async for key in db.scan_iter("runs:*")}
    finally:
        await db.aclose()

    # one state everywhere: every survivor, every client, at Redis's version
    final = held[survivors[0].url]
    for url, dump in held.items():
        assert dump["stores"] == EXISTING, (url, dump["stores"])
        for name in WATCHED:
            assert dump[name] == final[name], (url, name, dump[name], final[name])
    for caller in callers:
        for name, handle in caller.handles.items():
            assert handle.get_server_state() == final[name][0], (caller.client, name)

    # no acknowledged change lost, no handler run twice
    by_uid = {c.uid: (c, n) for c, n in zip(calls, runs, strict=True)}
    stray -= {f"runs:{c.uid}".encode() for c in calls}
    assert not stray, f"runs counted for ids no client called: {sorted(stray)[:5]}"
    for name in CALLED:
        state = final[name][0]
        assert len(set(state["ids"])) == len(state["ids"]) == state["n"], (name, "an id twice")
        for uid in state["ids"]:
            call, count = by_uid[uid]
            assert call.name == name, f"{uid} is in {name}, not where it was called: {call}"
            assert count == 1, f"ran {count} times: {call}"
    outcomes = {c.outcome for c in calls}
    assert outcomes <= {"ok", "unknown"}, f"unexpected call errors: {outcomes - {'ok', 'unknown'}}"
    for call, count in by_uid.values():
        if call.outcome == "ok":
            assert call.uid in final[call.name][0]["ids"], f"acknowledged, then lost: {call}"
            assert count == 1, f"acknowledged, run {count} times: {call}"
        else:  # its handler was running when its node died: it ran once, or not at all
            assert count in (0, 1), f"outcome unknown, run {count} times: {call}"
            assert call.node == doomed.url and call.before_kill, (
                f"outcome unknown for a call that was not in flight on the killed node: {call}"
            )
    unknown = [c for c in calls if c.outcome == "unknown"]
    assert len(unknown) <= len(moved), f"more unknown outcomes than calls in flight: {unknown}"

    # the writers: every printed tick committed; each client's tick events in order, none twice
    ticks = final["Ticks"][0]
    assert ticks["n"] == sum(ticks["by"].values())
    for port, seq in printed.items():
        assert seq == list(range(1, len(seq) + 1)), (port, seq)
    for node in survivors:
        assert ticks["by"][str(node.port)] == len(printed[str(node.port)]), "a tick lost"
    last = len(printed[str(doomed.port)])
    assert last <= ticks["by"][str(doomed.port)] <= last + 1, "a tick lost, or made up"
    for caller in callers:
        for port, seen in caller.ticks.items():
            assert seen == list(range(seen[0], seen[0] + len(seen))), (port, "tick events", seen)
        assert caller.ticks[str(doomed.port)][-1] >= last, "a tick event of the killed node lost"
