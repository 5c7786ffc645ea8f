"""The multi-process harness (tests/node_proc.py) against a real hotstate
node (tests/node_echo.py): ready with a deadline, SIGKILL and a restart on
the same port, a clean SIGTERM, failures that say why, no pipe deadlock,
no process left behind."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from node_proc import NodeProcess
from redis_server import gone

from hotstate_rx.client import Client

if TYPE_CHECKING:
    from conftest import StartNode

ECHO = Path(__file__).with_name("node_echo.py")
TIMEOUT = 10.0


async def call(url: str, name: str, args: object = None) -> object:
    """One call on a fresh client (connect, call, close)."""
    client = Client(reconnect=False)
    client.connect(url)
    try:
        return await client.call(name, args, timeout=TIMEOUT)
    finally:
        await client.close()


async def test_a_node_serves_at_the_url_it_announced(start_node: StartNode) -> None:
    node = await start_node(ECHO)
    assert node.url == f"ws://127.0.0.1:{node.port}"
    assert await call(node.url, "echo", {"hi": [1]}) == {"hi": [1]}
    assert await call(node.url, "pid") == node.pid


async def test_sigkill_then_a_restart_on_the_same_port(start_node: StartNode) -> None:
    node = await start_node(ECHO)
    first = node.pid
    assert first is not None
    node.kill()
    assert await node.wait() == -signal.SIGKILL
    assert gone(first) and node.pid is None
    await node.start()
    assert node.pid != first
    assert await call(node.url, "pid") == node.pid


async def test_sigterm_is_a_clean_stop(start_node: StartNode) -> None:
    node = await start_node(ECHO)
    assert await node.stop() == 0
    assert await node.next_line() == "closed"


async def test_a_node_that_fails_at_start_says_why(start_node: StartNode) -> None:
    with pytest.raises(RuntimeError, match=r"(?s)exited with status 1 before 'ready'.*"
                       r"ValueError: this node was told to fail at start"):  # fmt: skip
        await start_node(ECHO, args=["--fail-at-start"])


async def test_a_node_that_never_says_ready_is_killed_at_the_deadline() -> None:
    node = NodeProcess(ECHO, args=["--silent"], startup=1.0)
    with pytest.raises(TimeoutError, match=r"did not print 'ready' within 1\.0 s"):
        await node.start()
    assert node.pid is None and node.returncode == -signal.SIGKILL


async def test_a_chatty_node_never_blocks_on_a_full_pipe(start_node: StartNode) -> None:
    """Two MB on each of stdout and stderr, far more than a pipe holds: the
    call returns only if the harness keeps reading both."""
    node = await start_node(ECHO)
    assert await call(node.url, "chatter", 20_000) == 20_000
    assert (await node.next_line()).startswith("line 0 ")
    assert node.stderr_tail().endswith("err 19999 " + "y" * 100)
    assert len(node.stderr_tail().splitlines()) <= 41  # a tail, not everything


async def test_no_process_survives_a_failing_test() -> None:
    with pytest.raises(ZeroDivisionError):
        async with NodeProcess(ECHO) as node:
            pid = node.pid
            assert pid is not None
            1 / 0  # noqa: B018 - the test body failing
    assert gone(pid)
