"""Issue #15, deliverable 4: ``python -m apps cluster-demo`` (what ``python3
tasks.py cluster-demo`` runs) starts a real redis-server and two todo nodes;
a change made through one node shows on the other, and SIGTERM stops all three.

The demo runs as a subprocess from the repository root on free ports, with
the run's redis-server (``$HOTSTATE_REDIS_SERVER``); the test reads the pids
and URLs from its banner. Also the todo server itself as two cluster nodes in
this process: ids stay unique when both nodes add at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from redis_server import RedisServer, free_port, gone

from apps.todo.server import build_server
from hotstate_rx.client import Client

ROOT = Path(__file__).resolve().parents[2]
STARTUP = 90.0
"""Redis and two nodes importing NiceGUI on a loaded two-core machine."""
STOP = 30.0
"""The demo stops its nodes (10 s each at most) then Redis."""
WAIT = 10.0
WAIT_MS = 10_000


@dataclass
class Demo:
    proc: asyncio.subprocess.Process
    lines: list[str] = field(default_factory=list)
    redis_url: str = ""
    pids: dict[str, int] = field(default_factory=dict)
    """``redis``, ``node 1``, ``node 2``: the pids the banner names."""
    pages: list[str] = field(default_factory=list)

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    @property
    def sockets(self) -> list[str]:
        return [f"{page.replace('http://', 'ws://')}/ws" for page in self.pages]

    async def read_banner(self) -> None:
        """Read up to the demo's own ``stop:`` line, noting the pids and URLs."""
        assert self.proc.stdout is not None
        while True:
            raw = await self.proc.stdout.readline()
            if not raw:
                raise AssertionError(f"the demo exited ({self.proc.returncode}):\n{self.output}")
            line = raw.decode(errors="replace").rstrip()
            self.lines.append(line)
            if found := re.match(r"  redis:\s+(redis://\S+)\s+\(pid (\d+)", line):
                self.redis_url, self.pids["redis"] = found.group(1), int(found.group(2))
            elif found := re.match(r"  node (\d): (http://\S+)\s+\(pid (\d+)\)", line):
                self.pages.append(found.group(2))
                self.pids[f"node {found.group(1)}"] = int(found.group(3))
            elif line.startswith("  stop:"):
                return

    async def drain(self) -> None:
        """Keep reading (a full pipe would block the demo) until it exits."""
        assert self.proc.stdout is not None
        async for raw in self.proc.stdout:
            self.lines.append(raw.decode(errors="replace").rstrip())


async def all_gone(pids: dict[str, int]) -> list[str]:
    """Wait (up to :data:`STOP`) for every process of ``pids`` to end; the names
    of those still running then. Polled: a process's end is no event here."""
    deadline = asyncio.get_running_loop().time() + STOP
    while (left := [name for name, pid in pids.items() if not gone(pid)]) and (
        asyncio.get_running_loop().time() < deadline
    ):
        await asyncio.sleep(0.05)
    return left


@contextlib.asynccontextmanager
async def cluster_demo(
    redis_binary: Path, stop: signal.Signals = signal.SIGTERM
) -> AsyncIterator[Demo]:
    """The demo on free ports; at the end ``stop``: after SIGTERM a clean exit,
    after SIGKILL none; either way every one of its processes gone."""
    ports = [free_port(), free_port()]
    # NiceGUI reads PYTEST_CURRENT_TEST as "screen test" and would ignore the port.
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    env["HOTSTATE_REDIS_SERVER"] = str(redis_binary)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "apps", "cluster-demo",
        "--port", str(ports[0]), "--port2", str(ports[1]),
        cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    demo = Demo(proc)
    drain: asyncio.Task[None] | None = None
    try:
        try:
            await asyncio.wait_for(demo.read_banner(), STARTUP)
        except TimeoutError:
            pytest.fail(f"no banner from the cluster demo within {STARTUP} s:\n{demo.output}")
        assert demo.pages == [f"http://127.0.0.1:{port}" for port in ports], demo.output
        assert set(demo.pids) == {"redis", "node 1", "node 2"}, demo.output
        drain = asyncio.create_task(demo.drain())
        yield demo
        proc.send_signal(stop)
        status = await asyncio.wait_for(proc.wait(), STOP)
        await asyncio.wait_for(drain, STOP)
        if stop == signal.SIGTERM:
            assert status == 0, demo.output
            assert demo.lines[-1] == "stopped", demo.output
        left = await all_gone(demo.pids)
        assert not left, f"still running after the demo ended: {left}\n{demo.output}"
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        for pid in demo.pids.values():  # whatever a failure left behind
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if drain is not None and not drain.done():
            drain.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await drain


async def reach(client: Client, store: str, check: Any) -> None:
    """Wait until ``check(state)`` holds for ``store`` as ``client`` sees it."""
    changed = asyncio.Event()
    handle = client.subscribe(store)
    handle.subscribe(lambda _state: changed.set())
    await asyncio.wait_for(handle.ready(), WAIT)

    async def wait() -> None:
        while not check(handle.get_state()):
            changed.clear()
            await changed.wait()

    await asyncio.wait_for(wait(), WAIT)


@pytest.mark.timeout(180)
async def test_a_todo_added_through_node_1_shows_on_node_2_and_sigterm_stops_everything(
    redis_binary: Path,
) -> None:
    text = f"Water the plants {uuid.uuid4().hex[:6]}"
    async with cluster_demo(redis_binary) as demo:
        one, two = demo.sockets
        async with (
            Client(one, token="Ana", reconnect=False) as ana,
            Client(two, token="Bob", reconnect=False) as bob,
        ):
            seen = bob.subscribe("Todos")
            await asyncio.wait_for(seen.ready(), WAIT)
            assert seen.get_state() == {"items": []}
            answer = await ana.call("todos.add", {"text": text})
            await reach(bob, "Todos", lambda s: [t["text"] for t in s["items"]] == [text])
            assert seen.get_state()["items"] == [{"id": answer["id"], "text": text, "done": False}]
            await bob.call("todos.toggle", {"id": answer["id"]})  # and back the other way
            await reach(ana, "Todos", lambda s: s["items"][0]["done"])


@pytest.mark.timeout(180)
async def test_a_demo_killed_with_sigkill_leaves_no_process_behind(redis_binary: Path) -> None:
    async with cluster_demo(redis_binary, stop=signal.SIGKILL) as demo:
        assert all(not gone(pid) for pid in demo.pids.values())


@pytest.mark.timeout(180)
async def test_a_todo_typed_into_the_page_of_node_1_shows_on_the_page_of_node_2(
    redis_binary: Path, chromium: Any, artifacts: Path
) -> None:
    from playwright.async_api import expect

    text = f"Call the plumber {uuid.uuid4().hex[:6]}"
    async with cluster_demo(redis_binary) as demo:
        context = await chromium.new_context(viewport={"width": 1000, "height": 600})
        try:
            pages = [await context.new_page(), await context.new_page()]
            for page, url, name in zip(pages, demo.pages, ("Ana", "Bob"), strict=True):
                await page.goto(url)
                await page.get_by_placeholder("Your name").fill(name)
                await page.get_by_placeholder("Your name").press("Enter")
            for page in pages:
                await expect(page.get_by_text("● connected")).to_be_visible(timeout=WAIT_MS)
                await expect(page.get_by_text("Nothing to do.")).to_be_visible()
            new_todo = pages[0].get_by_placeholder("What needs doing?")
            await new_todo.fill(text)
            await new_todo.press("Enter")
            for page in pages:
                await expect(page.get_by_text(text, exact=True)).to_be_visible(timeout=WAIT_MS)
            await pages[1].screenshot(path=str(artifacts / "cluster_demo_node_2.png"))
        finally:
            await context.close()


async def test_two_todo_nodes_adding_at_once_never_hand_out_the_same_id_and_share_presence(
    shared_redis: RedisServer,
) -> None:
    nodes = [build_server(cluster=shared_redis.url) for _ in range(2)]
    try:
        for node in nodes:
            await node.listen(0, "127.0.0.1")
        async with (
            Client(f"ws://127.0.0.1:{nodes[0].port}", token="Ana") as ana,
            Client(f"ws://127.0.0.1:{nodes[1].port}", token="Bob") as bob,
        ):
            calls = [
                client.call("todos.add", {"text": f"{client_name} {i}"})
                for i in range(20)
                for client, client_name in ((ana, "ana"), (bob, "bob"))
            ]
            ids = [answer["id"] for answer in await asyncio.gather(*calls)]
            assert sorted(ids) == list(range(1, 41))
            await reach(ana, "Todos", lambda s: len(s["items"]) == 40)
            toggled = [client.call("todos.toggle", {"id": 1}) for client in (ana, bob)]
            assert sorted(a["done"] for a in await asyncio.gather(*toggled)) == [False, True]
            for client in (ana, bob):
                await asyncio.wait_for(client.subscribe("Room:general").ready(), WAIT)
            for client in (ana, bob):  # who is in the room, whichever node they are on
                await reach(client, "Room@presence:general", lambda s: len(s) == 2)
                board = client.subscribe("Room@presence:general").get_state()
                assert sorted(entry["name"] for entry in board.values()) == ["Ana", "Bob"]
    finally:
        for node in nodes:
            await node.close()
