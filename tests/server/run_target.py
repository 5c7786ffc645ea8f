"""The server the ``run()`` tests start and stop: ``python run_target.py DB LOOP CERT KEY``.

``server.run()`` as a deployed program calls it: on ``wss://`` (``CERT``,
``KEY``), on the event loop ``LOOP`` (``run(loop=...)``), with SQLite storage
in ``DB``. One store, ``Counter``, which a thread bumps every millisecond from
the first connection on, so changes are always on their way to the disk;
functions ``loop`` (the running loop's module) and ``epoch``. Logs
``listening on wss://...`` to stdout, and prints ``run() returned`` if it did.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
from typing import Any

from hotstate_rx import Server


def main(db: str, loop: Any, certfile: str, keyfile: str) -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(name)s: %(message)s")
    server = Server(storage=f"sqlite://{db}", resume_window=0)
    counter = server.create_store("Counter", 0)
    server.handle("loop", lambda args: type(asyncio.get_running_loop()).__module__.split(".")[0])
    server.handle("epoch", lambda args: server.epoch)
    stop = threading.Event()

    def tick() -> None:
        while not stop.is_set():
            try:
                counter.update(lambda n: n + 1)
            except Exception:  # closed: StorageError from now on
                return
            time.sleep(0.001)

    ticker = threading.Thread(target=tick, daemon=True)
    server.on("connection", lambda client_id: ticker.ident or ticker.start())
    server.run(port=0, host="127.0.0.1", loop=loop, certfile=certfile, keyfile=keyfile)
    stop.set()
    print("run() returned", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
