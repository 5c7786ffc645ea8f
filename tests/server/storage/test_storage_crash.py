"""Crash recovery: a server killed with SIGKILL while a client makes acknowledged
calls as fast as it can loses none of them (TESTING.md, "Crash a server")."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

from hotstate_rx import Disconnected
from hotstate_rx.client import Client
from hotstate_rx.protocol import Snapshot, Subscribe

if TYPE_CHECKING:
    from conftest import Connect

TARGET = Path(__file__).with_name("crash_target.py")
CALLERS = 16
ACKED = 1000
"""Acknowledged calls per round before the kill."""
ROUNDS = 3
"""Kills: each one lands at another moment of the commit cycle."""
STARTUP = 30.0
LOAD = 60.0
"""Bounds for a loaded two-core machine; a round takes about a second."""


@contextlib.asynccontextmanager
async def target(db: Path) -> AsyncIterator[tuple[asyncio.subprocess.Process, str, str]]:
    """The crash target on ``db``: its process, URL and epoch; killed at the end."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(TARGET), str(db), stdout=asyncio.subprocess.PIPE
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), STARTUP)
        port, epoch = line.decode().split()
        yield proc, f"ws://127.0.0.1:{port}", epoch
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


async def hammer_then_kill(proc: asyncio.subprocess.Process, url: str, first: int) -> list[int]:
    """Call ``append`` from CALLERS tasks as fast as answers come; once ACKED
    answers came, SIGKILL the server. Returns the acknowledged numbers."""
    acked: list[int] = []
    refused = 0
    client = Client(reconnect=False)
    client.connect(url)
    await asyncio.wait_for(client.ready(), STARTUP)
    enough = asyncio.Event()

    async def caller(n: int) -> None:
        nonlocal refused
        while True:
            try:
                acked.append(await client.call("append", n))
            except Disconnected:
                refused += 1
                return
            n += CALLERS
            if len(acked) >= ACKED:
                enough.set()

    callers = [asyncio.create_task(caller(first + k)) for k in range(CALLERS)]
    try:
        await asyncio.wait_for(enough.wait(), LOAD)
        proc.send_signal(signal.SIGKILL)  # calls in flight, a commit maybe half-way
        await asyncio.wait_for(asyncio.gather(*callers), LOAD)
    finally:
        for task in callers:
            task.cancel()
        await client.close()
    assert await proc.wait() == -signal.SIGKILL
    assert refused > 0  # the kill did come while calls were running
    return acked


async def test_sigkill_loses_no_acknowledged_call(tmp_path: Path, raw_connect: Connect) -> None:
    db = tmp_path / "state.db"
    acked: list[int] = []
    epochs: list[str] = []
    for round_ in range(ROUNDS + 1):
        async with target(db) as (proc, url, epoch):
            epochs.append(epoch)
            reader = await raw_connect(url)
            await reader.send(Subscribe("Ledger"))
            snap = await reader.recv()
            await reader.ws.close()  # before the kill: closing a dead peer's socket times out
            assert isinstance(snap, Snapshot)
            ids = list(snap.data["ids"])
            lost = set(acked) - set(ids)
            print(f"after {round_} kill(s): {len(acked)} acknowledged, {len(ids)} restored")
            assert not lost, f"{len(lost)} acknowledged calls lost"
            assert len(ids) == len(set(ids)) and snap.version == len(ids) + 1  # one whole state
            if round_ < ROUNDS:
                acked += await hammer_then_kill(proc, url, first=100_000 * round_)
    assert len(set(epochs)) == len(epochs)  # after each crash a new history: clients resync
