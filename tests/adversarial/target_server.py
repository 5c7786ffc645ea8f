"""The server the attacks run against, in a process of its own (so its RSS is its own).

    python tests/adversarial/target_server.py [--asgi] [--heartbeat S] [--option=value ...]

Prints ``ready <url>`` once it accepts connections and serves until its
stdin closes. Its stores and functions are what the attacks need:

- ``Big``: a static store of about 1 MB (the slow reader's food);
- ``Ticker``: with ``--ticker``, a 16 KB value replaced every 5 ms (so a
  subscriber that stops reading falls behind by 3 MB/s);
- ``Room:*``: dynamic, with the README's ``on_idle`` → ``reset`` pattern;
- ``echo`` (sync) for the healthy client, ``never`` (async, never returns);
- ``stats``: what the tests assert on: connections, sessions (parked ones
  included), asyncio tasks, instances, running calls, and the process's
  resident memory.

Server options are passed as ``--name=value`` (``--max_instances=1000``,
``--close_timeout=1``, ``--rate_limit=none``, ``--resume_window=1``); the rest
keep their defaults.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import Any

from hotstate_rx import Hotstate, RateLimit

BIG = 1 << 20
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss() -> int:
    """Resident bytes of this process (``/proc/self/statm``)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE


def option(text: str) -> tuple[str, Any]:
    name, _, value = text.removeprefix("--").partition("=")
    if name == "rate_limit":
        if value == "none":
            return name, None
        rate, burst = value.split(",")
        return name, RateLimit(float(rate), int(burst))
    return name, None if value == "none" else float(value) if "." in value else int(value)


def build(options: dict[str, Any]) -> Hotstate:
    server = Hotstate(**options)
    server.create_store("Big", {"blob": "x" * BIG})
    rooms = server.create_store("Room:*", {"messages": []})
    rooms.on_idle(lambda key: rooms.reset(key))
    server.handle("echo", lambda args: args)

    @server.handle("never")
    async def never(args: Any) -> None:
        await asyncio.Event().wait()

    @server.handle("stats")
    def stats(args: Any) -> dict[str, int]:
        hub = server._hub
        return {
            "connections": len(hub.connections),
            "sessions": len(hub._records),
            "tasks": len(asyncio.all_tasks()),
            "instances": len(server.list_stores()),
            "running_calls": sum(len(record.running) for record in hub._records.values()),
            "rss": rss(),
        }

    return server


async def serve_websockets(server: Hotstate, heartbeat: float) -> str:
    await server.listen(port=0, host="127.0.0.1", heartbeat=heartbeat)
    return f"ws://127.0.0.1:{server.port}"


async def serve_asgi(server: Hotstate, heartbeat: float) -> tuple[str, Any]:
    import socket

    import uvicorn
    from starlette.applications import Starlette

    class Uvicorn(uvicorn.Server):
        ready = asyncio.Event()

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            self.ready.set()

    app = Starlette()
    server.attach(app, path="/ws", heartbeat=heartbeat)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, ws="websockets-sansio", log_level="error", lifespan="off")
    uv = Uvicorn(config)
    task = asyncio.get_running_loop().create_task(uv.serve(sockets=[sock]))
    await uv.ready.wait()
    return f"ws://127.0.0.1:{sock.getsockname()[1]}/ws", (uv, task)


async def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--asgi", action="store_true")
    parser.add_argument("--heartbeat", type=float, default=30.0)
    parser.add_argument("--ticker", action="store_true")
    args, rest = parser.parse_known_args(argv)
    server = build(dict(map(option, rest)))
    if args.ticker:
        ticker = server.create_store("Ticker", {"n": 0, "pad": ""})

        async def tick() -> None:
            n = 0
            while True:
                n += 1
                ticker.set({"n": n, "pad": str(n % 10) * 16_000})
                await asyncio.sleep(0.005)

        ticking = asyncio.get_running_loop().create_task(tick())
    uvicorn_server = None
    if args.asgi:
        url, uvicorn_server = await serve_asgi(server, args.heartbeat)
    else:
        url = await serve_websockets(server, args.heartbeat)
    print("ready", url, flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until stdin closes
    if args.ticker:
        ticking.cancel()
    if uvicorn_server is not None:
        uv, task = uvicorn_server
        uv.should_exit = True
        await task
    await server.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
