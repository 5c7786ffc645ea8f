"""A TCP proxy on loopback that a test cuts, holds and points elsewhere:
a failing network, or a load balancer in front of nodes that come and go
(here, beside the root ``conftest.py``, so every test directory imports it)."""

from __future__ import annotations

import asyncio


class CuttingProxy:
    """A TCP proxy on loopback whose connections a test can cut, as a network
    would: :meth:`cut` aborts both sides of every pair (no close frame, no
    FIN handshake); while :meth:`hold` is on, new connections are refused.
    What it forwards is kept, as an eavesdropper on the path would see it:
    :attr:`upstream` (client to server) and :attr:`downstream`.
    :meth:`fail_over` sends new connections elsewhere (a load balancer in
    front of a cluster whose node vanished)."""

    def __init__(self, target_port: int) -> None:
        self.target = target_port
        self._pairs: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._holding = False
        self._server: asyncio.Server | None = None
        self.connections = 0
        self.port = 0
        self.url = ""
        """``ws://`` to this proxy, once started."""
        self.upstream = bytearray()
        self.downstream = bytearray()

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        self.url = f"ws://127.0.0.1:{self.port}"
        return self.url

    def cut(self, *, hold: bool = False) -> int:
        """Abort every open pair; with ``hold``, refuse new ones until :meth:`release`."""
        self._holding = self._holding or hold
        pairs, self._pairs = self._pairs, set()
        for a, b in pairs:
            a.transport.abort()
            b.transport.abort()
        return len(pairs)

    def fail_over(self, port: int, *, hold: bool = False) -> int:
        """New connections go to ``port``; every open pair is cut (as :meth:`cut`)."""
        self.target = port
        return self.cut(hold=hold)

    def release(self) -> None:
        self._holding = False

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._holding:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            writer.transport.abort()
            return
        self.connections += 1
        pair = (writer, up_writer)
        self._pairs.add(pair)
        for source, sink, tap in (
            (reader, up_writer, self.upstream),
            (up_reader, writer, self.downstream),
        ):
            task = asyncio.get_running_loop().create_task(_pipe(source, sink, tap))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter, tap: bytearray) -> None:
    try:
        while data := await source.read(65536):
            tap += data
            sink.write(data)
            await sink.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        sink.transport.abort()
