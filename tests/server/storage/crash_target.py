"""The server the crash test kills: ``python crash_target.py DB``.

One store, ``Ledger`` (``{"ids": [...]}``), and one function, ``append(n)``,
which appends ``n`` and answers ``n`` once it is durable. Prints
``PORT EPOCH`` when it accepts connections, then serves until killed.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from hotstate_rx import Server


async def main(db: str) -> None:
    server = Server(storage=f"sqlite://{db}")
    ledger = server.create_store("Ledger", {"ids": []})

    @server.handle("append")
    def append(n: Any) -> Any:
        ledger.update(lambda d: d["ids"].append(n))
        return n

    await server.listen(port=0, host="127.0.0.1")
    print(server.port, server.epoch, flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
