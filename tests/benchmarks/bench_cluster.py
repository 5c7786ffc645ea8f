"""Cluster: updates/s of one hot instance committed through Redis, against one node in memory.

Each update increments one counter of ``{"n": 0, "items": [...]}`` (10 items)
and is committed before ``update()`` returns: in a cluster that is one Lua
compare-and-set round trip to a local ``redis-server`` (started here, on a
free port, without persistence). The figure is updates per wall-clock second
(Redis is another process: its time counts). Cases: one node writing, and
two nodes (two ``Server`` objects in this process, one thread each, sharing
the GIL) writing the same instance at once, where the loser of each race
catches up and runs its recipe again. The baseline is the same loop on a
server without a cluster.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from typing import Any

from hotstate_rx import Hotstate, Server

from ._harness import Row, emit

UPDATES = 3000
AGAINST = "one node in memory"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_redis(directory: str) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    redis_server = shutil.which("redis-server") or "/usr/bin/redis-server"
    args = [redis_server, "--port", str(port), "--bind", "127.0.0.1", "--dir", directory]
    process = subprocess.Popen(
        [*args, "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return process, f"redis://127.0.0.1:{port}/0"
        except OSError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError("redis-server did not start")
        time.sleep(0.02)


def increment(draft: Any) -> None:
    draft["n"] += 1


def hammer(server: Server, count: int, start: threading.Barrier) -> None:
    store = server.stores["Hot"]
    start.wait()
    for _ in range(count):
        store.update(increment)


async def rate(servers: list[Server]) -> float:
    """Updates/s with every server writing ``UPDATES / len(servers)`` in a thread."""
    for server in servers:
        server.create_store("Hot", {"n": 0, "items": list(range(10))})
        await server.listen(0, "127.0.0.1")
    each = UPDATES // len(servers)
    start = threading.Barrier(len(servers) + 1)
    threads = [asyncio.to_thread(hammer, s, each, start) for s in servers]
    running = asyncio.gather(*threads)
    await asyncio.to_thread(start.wait)
    began = time.perf_counter()
    await running
    elapsed = time.perf_counter() - began
    for server in servers:
        await server.close()
    return each * len(servers) / elapsed


async def main() -> None:
    single = await rate([Hotstate()])
    with tempfile.TemporaryDirectory() as directory:
        process, url = start_redis(directory)
        try:
            one = await rate([Hotstate(cluster=url, cluster_namespace="b1")])
            two = await rate([Hotstate(cluster=url, cluster_namespace="b2") for _ in range(2)])
        finally:
            os.kill(process.pid, signal.SIGTERM)
            process.wait(10)
    metric = "update() per second, one hot instance"
    emit(
        [
            Row("cluster", "1 node on Redis", metric, one, "/s", single, against=AGAINST),
            Row(
                "cluster",
                "2 nodes on Redis, both writing",
                metric,
                two,
                "/s",
                single,
                against=AGAINST,
            ),
        ]
    )


if __name__ == "__main__":
    asyncio.run(main())
