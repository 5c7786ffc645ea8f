"""The ASGI transport under a real uvicorn on a loopback port: ``attach`` on a
Starlette app sharing its port with an HTTP route, and ``server.asgi``
(``serve_app`` is in ``tests/conftest.py``)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from unittest.mock import ANY

import httpx
import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from hotstate_rx import Server
from hotstate_rx.protocol import Call, ErrorMessage, PatchMessage, Result, Snapshot, Subscribe

if TYPE_CHECKING:
    from conftest import Connect  # fixture types only: several conftest modules exist


TIMEOUT = 5.0


async def exercise(server: Server, url: str, raw_connect: Connect) -> None:
    """Subscribe, mutate, call, and see bad input answered, over ``url``."""
    todos = server.create_store("Todos", {"items": []})
    server.handle("add", lambda args: todos.update(lambda d: d["items"].append(args)))
    a, b = await raw_connect(url), await raw_connect(url)
    for c in (a, b):
        await c.send(Subscribe("Todos"))
        assert await c.recv() == Snapshot("Todos", 1, {"items": []}, ANY)
    await a.send(Call(1, "add", "milk"))
    assert isinstance(await a.recv(), PatchMessage)
    assert await a.recv() == Result(1, None)
    patch = await b.recv()
    assert patch == PatchMessage(
        "Todos", 2, [{"op": "add", "path": "/items/-", "value": "milk"}], cause=ANY
    )
    assert isinstance(patch, PatchMessage) and patch.cause is not None
    assert patch.cause[1] == 1  # the call that made it (for the caller's optimistic view)
    assert a.frames[-2] == b.frames[-1]
    await b.send_raw(b"\xc1")
    reply = await b.recv()
    assert isinstance(reply, ErrorMessage) and reply.code == "bad_message"


async def test_attach_to_starlette_shares_the_port_with_http(
    server: Server, serve_app: Callable[[Any], Awaitable[int]], raw_connect: Connect
) -> None:
    app = Starlette(routes=[Route("/api/health", lambda request: JSONResponse({"ok": True}))])
    server.attach(app, path="/ws", heartbeat=0)
    port = await serve_app(app)
    async with httpx.AsyncClient() as http:
        response = await http.get(f"http://127.0.0.1:{port}/api/health")
    assert response.json() == {"ok": True}
    await exercise(server, f"ws://127.0.0.1:{port}/ws", raw_connect)


async def test_attach_to_fastapi_and_oversized_frames(
    server: Server, serve_app: Callable[[Any], Awaitable[int]], raw_connect: Connect
) -> None:
    app = FastAPI()
    server.attach(app, path="/live")
    port = await serve_app(app)
    client = await raw_connect(f"ws://127.0.0.1:{port}/live", max_size=None)
    await client.send_raw(b"\x00" * ((1 << 20) + 1))
    assert await client.closed() == 1009


async def test_plain_asgi_app(
    server: Server, serve_app: Callable[[Any], Awaitable[int]], raw_connect: Connect
) -> None:
    port = await serve_app(server.asgi)
    async with httpx.AsyncClient() as http:
        assert (await http.get(f"http://127.0.0.1:{port}/")).status_code == 426
    await exercise(server, f"ws://127.0.0.1:{port}/", raw_connect)


async def test_server_close_closes_asgi_connections(
    server: Server, serve_app: Callable[[Any], Awaitable[int]], raw_connect: Connect
) -> None:

    port = await serve_app(server.asgi)
    client = await raw_connect(f"ws://127.0.0.1:{port}/")
    await server.close()
    assert await client.closed() == 1001


def test_attach_refuses_other_apps(server: Server) -> None:
    with pytest.raises(TypeError, match="Starlette-family"):
        server.attach(object())


async def test_a_slow_asgi_client_is_closed_1013_without_blocking_the_sender() -> None:
    from hotstate_rx.server.limits import Limits
    from hotstate_rx.server.transports.asgi import AsgiPeer

    sent: list[dict[str, Any]] = []
    first_send = asyncio.Event()
    unblock = asyncio.Event()

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        first_send.set()
        await unblock.wait()  # the client reads nothing until we say so

    peer = AsgiPeer(send, Limits(max_send_buffer=1000))
    try:
        peer.send(b"x" * 10)
        await asyncio.wait_for(first_send.wait(), TIMEOUT)
        for _ in range(200):
            peer.send(b"y" * 10)  # never blocks; over 1000 queued bytes closes
        unblock.set()
        await asyncio.wait_for(peer._task, TIMEOUT)
    finally:
        await peer.aclose()
    assert sent[0] == {"type": "websocket.send", "bytes": b"x" * 10}
    assert sent[-1] == {"type": "websocket.close", "code": 1013, "reason": "client too slow"}
    assert len(sent) == 2
