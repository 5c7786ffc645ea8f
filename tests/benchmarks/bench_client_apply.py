"""Client apply: patches per second the Python client applies to a 100,000-item store.

Measured through the client's real receive path: a helper process
(``_serve bare-patches``) speaks the wire protocol from pre-encoded frames —
``hello``, a snapshot of ``{"items": [0 .. 99,999]}``, then :data:`PATCHES`
one-item patches as fast as the socket takes them — and a real
``hotstate_rx.client.Hotstate`` in this process subscribes. The clock runs
from the snapshot's ``on_change`` to the last patch's, so it counts the socket,
``websockets``, decoding, the version check, applying the patch and notifying.
The baseline is the floor of that work: ``apply_patches`` alone on the same
already-decoded patches, in a loop, with no I/O.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from hotstate_rx.client import Client
from hotstate_rx.frozen import freeze
from hotstate_rx.patch import apply_patches
from hotstate_rx.protocol import PatchMessage, decode_server_message

from ._harness import Row, emit, spawn
from ._serve import BIG_STORE, big_patches, big_state

PATCHES = 3000


async def through_client() -> float:
    async with spawn("_serve", "bare-patches", str(PATCHES)) as server:
        url = (await server.recv())["url"]
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        seen = 0
        start = 0.0

        def on_change(state: Any) -> None:
            nonlocal seen, start
            if seen == 0:
                start = time.perf_counter()
            seen += 1
            if seen == PATCHES + 1 and not done.done():
                done.set_result(time.perf_counter() - start)

        client = Client()
        client.subscribe(BIG_STORE, on_change=on_change)
        client.connect(url)
        try:
            elapsed = await asyncio.wait_for(done, 120)
        finally:
            await client.close()
    return PATCHES / elapsed


def floor() -> float:
    """``apply_patches`` alone on decoded patches: what any client must at least spend."""
    state = freeze(big_state())
    ops = []
    for frame in big_patches(PATCHES, 2):
        msg = decode_server_message(frame)
        if not isinstance(msg, PatchMessage):
            raise TypeError(f"expected a patch frame, got {msg!r}")
        ops.append(msg.ops)
    start = time.perf_counter()
    for patch in ops:
        state = apply_patches(state, patch)
    return PATCHES / (time.perf_counter() - start)


async def main() -> None:
    bare = floor()
    rate = await through_client()
    emit(
        [
            Row(
                "client apply",
                "100,000 items, one-item patches",
                "patches applied (the client's whole receive path)",
                rate,
                "/s",
                bare,
                against="apply_patches alone on the same patches",
            )
        ]
    )


if __name__ == "__main__":
    asyncio.run(main())
