"""A cluster node in its own process, for the tests that kill one with SIGKILL
(the ``NodeProcess`` contract of ``tests/node_proc.py``):

    python tests/cluster/node_main.py --port P REDIS_URL

serves ``Room:*`` (presence on), ``bump(k)`` (counts its runs in Redis) and
``stall(k)`` (counts its run, then never answers), prints ``ready URL``, and
runs until killed."""

from __future__ import annotations

import argparse
import asyncio

import redis.asyncio

from hotstate_rx import Server


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("redis_url")
    options = parser.parse_args()
    url = options.redis_url
    server = Server(cluster=url, cluster_timeout=0.5)
    server.create_store("Room:*", {"n": 0}, presence=True)

    @server.handle("bump")
    async def bump(k: int) -> int:
        async with redis.asyncio.Redis.from_url(url) as r:
            await r.incr(f"runs:{k}")
        return k

    @server.handle("stall")
    async def stall(k: int) -> None:
        await bump(k)
        await asyncio.Event().wait()

    await server.listen(port=options.port, host="127.0.0.1")
    print(f"ready ws://127.0.0.1:{server.port}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
