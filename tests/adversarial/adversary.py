"""The attacker's kit: a target server process, a hostile raw socket, and the
healthy client whose latency every attack is judged by.

- :func:`target` runs ``target_server.py`` in a process of its own (its RSS
  is then the server's alone) and stops it afterwards.
- :class:`RawPeer` is the hostile client: it upgrades by hand on a socket
  with a small receive buffer, writes frames it built itself (masked with a
  zero key, which RFC 6455 allows, so a million of them cost nothing to make)
  and either stops reading for good or only counts the bytes it gets.
- :class:`Healthy` is a well-behaved ``hotstate_rx.client.Client`` beside the
  attack: it calls ``echo`` every :data:`PROBE_INTERVAL`, records each round
  trip and samples the server's RSS; a second client reads the server's
  ``stats`` (one call at a time on the probe's connection: over uvicorn, two
  calls in flight on one connection take ~10 ms each, attack or not, on main
  as well).

Nothing sleeps to synchronise: waits are for events or for a condition on
the server's stats, each bounded by a deadline.
"""

from __future__ import annotations

import asyncio
import base64
import math
import os
import socket
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from hotstate_rx.client import Client
from hotstate_rx.protocol import Message, encode

TARGET = Path(__file__).with_name("target_server.py")
TIMEOUT = 20.0
PROBE_INTERVAL = 0.01
PAGE = os.sysconf("SC_PAGE_SIZE")
MiB = 1 << 20


def masked(payload: bytes) -> bytes:
    """``payload`` as one binary client frame, masked with the key 0 (RFC 6455 §5.3)."""
    size = len(payload)
    if size < 126:
        head = bytes([0x82, 0x80 | size])
    elif size < 1 << 16:
        head = bytes([0x82, 0x80 | 126]) + size.to_bytes(2, "big")
    else:
        head = bytes([0x82, 0x80 | 127]) + size.to_bytes(8, "big")
    return head + b"\0\0\0\0" + payload


def frames(*messages: Message | bytes) -> bytes:
    """Client frames for ``messages`` (protocol messages or raw MessagePack), back to back."""
    return b"".join(masked(m if isinstance(m, bytes) else encode(m)) for m in messages)


class Target:
    """A running target server process."""

    def __init__(self, proc: asyncio.subprocess.Process, url: str) -> None:
        self.proc = proc
        self.url = url

    def rss(self) -> int:
        """The server process's resident memory, in bytes (``/proc/<pid>/statm``)."""
        with open(f"/proc/{self.proc.pid}/statm") as statm:
            return int(statm.read().split()[1]) * PAGE


@asynccontextmanager
async def target(*options: str) -> AsyncIterator[Target]:
    """Run the target server with ``options`` (see ``target_server.py``)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(TARGET),
        *options,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), TIMEOUT)).decode()
        assert line.startswith("ready "), f"the target server did not start: {line!r}"
        yield Target(proc, line.split()[1])
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), TIMEOUT)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise


class RawPeer(asyncio.Protocol):
    """A hostile WebSocket client on a raw socket (see the module docstring)."""

    def __init__(self, read: bool) -> None:
        self._read = read
        self._head = b""
        self._upgraded: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._writable = asyncio.Event()
        self._writable.set()
        self.transport: asyncio.Transport | None = None
        self.received = 0
        """Bytes received after the upgrade (counted when reading)."""
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    @classmethod
    async def open(cls, url: str, *, read: bool, rcvbuf: int = 4096) -> RawPeer:
        """Connect and upgrade; with ``read=False`` nothing is read after the
        101 response, so the server's writes pile up."""
        parts = urlsplit(url)
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)  # before connect: it sticks
        sock.setblocking(False)
        await loop.sock_connect(sock, (parts.hostname, parts.port))
        peer = cls(read)
        await loop.create_connection(lambda: peer, sock=sock)
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {parts.path or '/'} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        assert peer.transport is not None
        peer.transport.write(request.encode())
        await asyncio.wait_for(peer._upgraded, TIMEOUT)
        return peer

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self._upgraded.done():
            self.received += len(data)
            return
        self._head += data
        head, sep, rest = self._head.partition(b"\r\n\r\n")
        if not sep:
            return
        assert head.startswith(b"HTTP/1.1 101"), head[:80]
        self._upgraded.set_result(None)
        self.received += len(rest)
        if not self._read and self.transport is not None:
            self.transport.pause_reading()  # from now on the kernel buffer fills, then TCP stalls

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    async def write(self, data: bytes) -> None:
        """Write ``data``, then wait while our own transport's buffer is full."""
        assert self.transport is not None
        if not self.transport.is_closing():
            self.transport.write(data)
        await self._writable.wait()

    async def flood(self, unit: bytes, seconds: float) -> int:
        """Write ``unit`` over and over for ``seconds``, as fast as the server
        takes it (our buffer is bounded: we wait while it is full); the number
        of units written."""
        assert self.transport is not None
        loop = asyncio.get_running_loop()
        end, count = loop.time() + seconds, 0
        while not self.closed.done() and loop.time() < end:
            self.transport.write(unit)
            count += 1
            try:
                await asyncio.wait_for(self._writable.wait(), end - loop.time())
            except TimeoutError:
                break
        return count

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


@dataclass
class Latency:
    """Round trips of the healthy client, in seconds."""

    samples: list[float]

    def percentile(self, p: float) -> float:
        ordered = sorted(self.samples)
        return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]

    def __str__(self) -> str:
        return (
            f"{len(self.samples)} calls, p50 {self.percentile(50) * 1000:.1f} ms, "
            f"p99 {self.percentile(99) * 1000:.1f} ms, max {max(self.samples) * 1000:.1f} ms"
        )


class Healthy:
    """The healthy client next to an attack (see the module docstring)."""

    def __init__(self, server: Target) -> None:
        self.server = server
        self.client = Client(rpc_timeout=TIMEOUT)
        self.observer = Client(rpc_timeout=TIMEOUT)
        self.rtts: list[float] = []
        self.peak_rss = 0
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Healthy:
        for client in (self.client, self.observer):
            client.connect(self.server.url)
            await asyncio.wait_for(client.ready(), TIMEOUT)
        await self.client.call("echo", 0)  # warm: the first call pays for imports
        self.baseline = await self.stats()
        self._task = asyncio.get_running_loop().create_task(self._probe())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.client.close()
        await self.observer.close()

    async def _probe(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            await self.client.call("echo", 0)
            self.rtts.append(loop.time() - started)
            self.peak_rss = max(self.peak_rss, self.server.rss())
            await asyncio.sleep(PROBE_INTERVAL)  # the probe's pace, not a synchronisation

    def latency(self) -> Latency:
        return Latency(list(self.rtts))

    async def stats(self) -> dict[str, int]:
        """The server's ``stats`` (connections, tasks, instances, running calls, rss)."""
        stats: dict[str, int] = await self.observer.call("stats")
        return stats

    async def until(self, condition: Callable[[dict[str, int]], bool], within: float) -> float:
        """Wait until the server's stats meet ``condition``; the seconds it took.
        Fails (with the last stats) if that takes longer than ``within``."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        stats = await self.stats()
        while not condition(stats):
            assert loop.time() - start < within, f"not within {within} s: {stats}"
            await asyncio.sleep(PROBE_INTERVAL)  # polling another process's stats
            stats = await self.stats()
        return loop.time() - start


def report(name: str, **figures: Any) -> None:
    """One line of measured figures, shown with ``pytest -s`` (and in the report)."""
    shown = ", ".join(f"{k}={v}" for k, v in figures.items())
    print(f"\n[adversarial] {name}: {shown}")
