"""A cluster node in its own process, for the tests that kill one with SIGKILL:
``python node_main.py REDIS_URL`` serves ``Room:*`` (presence on) and
``bump(k)`` (counts its runs in Redis), prints its port, and runs until killed."""

from __future__ import annotations

import asyncio
import sys

import redis.asyncio

from hotstate_rx import Server


async def main(url: str) -> None:
    server = Server(cluster=url, cluster_timeout=0.3)
    server.create_store("Room:*", {"n": 0}, presence=True)

    @server.handle("bump")
    async def bump(k: int) -> int:
        async with redis.asyncio.Redis.from_url(url) as r:
            await r.incr(f"runs:{k}")
        return k

    await server.listen(port=0, host="127.0.0.1")
    print(server.port, flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
