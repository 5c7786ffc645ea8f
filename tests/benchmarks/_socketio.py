"""python-socketio, the peer measured in the same run: what Python users pick today.

Its ``AsyncServer`` runs on aiohttp (the asyncio server it names first, and the
library its ``AsyncClient`` needs anyway) with the websocket transport only,
so no long-polling handshake or upgrade is measured. Everything else is its
default: the JSON packet format, a ping every 25 s, and aiohttp's
per-message deflate, which it accepts when a client offers it (the
receivers offer it, as browsers do; hotstate_rx and the bare server decline).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import socketio
from aiohttp import web

RAW_PATH = "/socket.io/?EIO=4&transport=websocket"
"""Where a raw websocket client (``_receiver socketio``) opens an Engine.IO 4 session."""


def server() -> socketio.AsyncServer:
    return socketio.AsyncServer(async_mode="aiohttp", transports=["websocket"])


async def listen(sio: socketio.AsyncServer) -> tuple[str, Callable[[], Awaitable[None]]]:
    """Serve ``sio`` on 127.0.0.1 (a free port); its ``http://`` URL and how to stop it."""
    app = web.Application()
    sio.attach(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    return f"http://{host}:{port}", runner.cleanup


def raw_url(http_url: str) -> str:
    """The ``ws://`` URL a raw websocket client connects to."""
    return http_url.replace("http://", "ws://", 1) + RAW_PATH
