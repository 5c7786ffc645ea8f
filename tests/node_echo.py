"""A node for ``tests/test_node_proc.py``: a hotstate server that follows
the ``NodeProcess`` contract (``--port P``; prints ``ready URL``).

    python tests/node_echo.py --port P [--fail-at-start | --silent]

Functions: ``echo``; ``pid`` (which process answered); ``chatter`` (prints
``n`` lines on stdout and on stderr, more than a pipe holds, then
``chatter done``). SIGTERM closes it cleanly (exit status 0).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys

from hotstate_rx import Hotstate


def chatter(n: int) -> int:
    for i in range(n):
        print(f"line {i} " + "x" * 100)
        print(f"err {i} " + "y" * 100, file=sys.stderr)
    print("chatter done", flush=True)
    return n


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--fail-at-start", action="store_true")
    parser.add_argument("--silent", action="store_true", help="serve but never say ready")
    options = parser.parse_args()
    if options.fail_at_start:
        raise ValueError("this node was told to fail at start")
    server = Hotstate()
    server.handle("echo", lambda args: args)
    server.handle("pid", lambda args: os.getpid())
    server.handle("chatter", chatter)
    await server.listen(port=options.port, host="127.0.0.1", heartbeat=0)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    if not options.silent:
        print("ready", f"ws://127.0.0.1:{server.port}", flush=True)
    await stop.wait()
    await server.close()
    print("closed", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
