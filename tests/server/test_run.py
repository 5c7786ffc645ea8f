"""``server.run()`` as a process manager drives it: a subprocess serving
``wss://`` with SQLite storage is stopped with SIGTERM while clients are
connected and changes are on their way to the disk. It exits 0, every client
sees 1001, and the file holds every change a client saw, closed cleanly (the
epoch goes on). ``loop=`` picks uvloop or asyncio."""

from __future__ import annotations

import asyncio
import importlib.util
import re
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from websockets.exceptions import ConnectionClosed

from hotstate_rx import Server
from hotstate_rx.protocol import Call, PatchMessage, Result, Snapshot, Subscribe
from hotstate_rx.server.loops import loop_factory

if TYPE_CHECKING:
    from conftest import Certificates, Connect, RawClient

TARGET = Path(__file__).with_name("run_target.py")
STARTUP = 30.0
"""Bounds for a loaded two-core machine; the process is up in about a second."""
LISTENING = re.compile(r"listening on (wss://127\.0\.0\.1:\d+)/")
UVLOOP = importlib.util.find_spec("uvloop") is not None


async def listening(proc: asyncio.subprocess.Process) -> str:
    """The URL of the ``listening on`` log line; what came before it is in the error."""
    assert proc.stdout is not None
    seen: list[str] = []
    async with asyncio.timeout(STARTUP):
        while line := (await proc.stdout.readline()).decode():
            seen.append(line)
            if found := LISTENING.search(line):
                return found.group(1)
    raise AssertionError(f"run() did not start: {''.join(seen)}")


async def call(client: RawClient, name: str) -> object:
    await client.send(Call(1, name))
    [*_, result] = await client.recv_until(lambda m: isinstance(m, Result))
    assert isinstance(result, Result) and result.error is None, result
    return result.value


async def last_patch_then_close(client: RawClient) -> tuple[int, int | None]:
    """Read until the server closes: the last version seen and the close code."""
    last = 0
    try:
        while True:
            message = await client.recv()
            if isinstance(message, PatchMessage):
                last = message.version
    except ConnectionClosed as closed:
        return last, None if closed.rcvd is None else closed.rcvd.code


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"] if UVLOOP else ["asyncio"])
async def test_sigterm_closes_with_1001_commits_storage_and_exits_0(
    loop: str, tmp_path: Path, certificates: Certificates, raw_connect: Connect
) -> None:
    db = tmp_path / "state.db"
    files = [str(certificates.certfile), str(certificates.keyfile)]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(TARGET), str(db), loop, *files, stdout=asyncio.subprocess.PIPE
    )
    try:
        url = await listening(proc)
        context = certificates.client_context()
        watcher, other = [await raw_connect(url, ssl=context) for _ in range(2)]
        assert await call(other, "loop") == loop
        epoch = await call(other, "epoch")
        await watcher.send(Subscribe("Counter"))
        first = await watcher.recv()
        assert isinstance(first, Snapshot)
        # The ticker runs: changes are being made, sent, and committed.
        await watcher.recv_until(
            lambda m: isinstance(m, PatchMessage) and m.version > first.version + 5
        )

        proc.send_signal(signal.SIGTERM)
        (last, watcher_code), (_, other_code) = await asyncio.gather(
            last_patch_then_close(watcher), last_patch_then_close(other)
        )
        assert (watcher_code, other_code) == (1001, 1001)
        assert await asyncio.wait_for(proc.wait(), STARTUP) == 0
        assert proc.stdout is not None
        assert b"run() returned" in await proc.stdout.read()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()

    reopened = Server(storage=f"sqlite://{db}")
    try:
        assert reopened.epoch == epoch  # closed cleanly: the same history goes on
        counter = reopened.create_store("Counter", 0)
        assert counter.version() >= last  # every change a client saw was committed
    finally:
        await reopened.close()


def test_loop_choices(monkeypatch: pytest.MonkeyPatch) -> None:
    assert loop_factory("asyncio") is None
    with pytest.raises(ValueError, match="loop must be one of 'auto', 'uvloop', 'asyncio'"):
        loop_factory("trio")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="loop must be one of"):
        Server().run(loop="trio")  # type: ignore[arg-type]  # before anything starts
    monkeypatch.setitem(sys.modules, "uvloop", None)  # as if not installed
    assert loop_factory("auto") is None
    with pytest.raises(ImportError, match=r"pip install 'hotstate-rx\[speed\]'"):
        loop_factory("uvloop")
