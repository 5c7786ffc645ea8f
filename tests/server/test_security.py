"""Security over real sockets, each test on both transports (``serve_on``:
standalone ``listen`` and ``attach`` under uvicorn): authentication, access
rules, origins, private failures, ``disconnect``. Hostile clients are raw
protocol clients; a healthy one runs beside them where it matters."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import TYPE_CHECKING, Any
from unittest.mock import ANY

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from hotstate_rx import CallContext, ConnectInfo, Server, Unauthorized
from hotstate_rx.protocol import (
    Call,
    ClientHello,
    ErrorMessage,
    EventMessage,
    Ping,
    Result,
    ServerHello,
    Snapshot,
    Subscribe,
)

if TYPE_CHECKING:
    from conftest import Connect, RawClient, Serve

TIMEOUT = 5.0
USERS = {"t-ana": {"name": "ana", "admin": True, "rooms": ["a"]}, "t-bob": {"name": "bob"}}


def lookup(info: ConnectInfo) -> Any:
    """The ``authenticate`` of these tests: a known token is a user, else out."""
    if info.token is None:
        return None
    user = USERS.get(info.token)
    if user is None:
        raise Unauthorized("bad token")
    return user


def secured(**options: Any) -> Server:
    """A server with ``lookup``, a guarded store, room store and function."""
    server = Server(authenticate=options.pop("authenticate", lookup), **options)
    server.create_store("Public", {"hello": "world"})
    server.create_store("Secrets", {"api_key": "k-123"}, access=lambda ctx, key: ctx.user["admin"])
    server.handle("whoami", lambda args, ctx: ctx.user["name"])
    return server


async def knock(raw_connect: Connect, url: str, token: str | None) -> RawClient:
    client = await raw_connect(url, hello=False)
    await client.send(ClientHello(token=token))
    return client


async def admitted(raw_connect: Connect, url: str, token: str) -> RawClient:
    client = await knock(raw_connect, url, token)
    hello = await client.recv()
    assert isinstance(hello, ServerHello)
    client.client_id = hello.client_id
    return client


# -- authentication -------------------------------------------------------------------


@pytest.mark.parametrize(("token", "reason"), [(None, "unauthorized"), ("forged", "bad token")])
async def test_no_token_or_a_bad_token_is_refused_4401(
    serve_on: Serve, raw_connect: Connect, token: str | None, reason: str
) -> None:
    server = secured()
    connections: list[str] = []
    server.on("connection", connections.append)
    url = await serve_on(server)
    client = await knock(raw_connect, url, token)
    assert await client.recv() == ErrorMessage("unauthorized", reason)
    assert await client.closed() == 4401
    assert connections == []


async def test_a_good_token_is_in_and_ctx_user_is_what_authenticate_returned(
    serve_on: Serve, raw_connect: Connect
) -> None:
    server = secured()
    url = await serve_on(server)
    client = await admitted(raw_connect, url, "t-bob")
    await client.send(Call(1, "whoami"))
    assert await client.recv() == Result(1, "bob")
    assert client.client_id is not None
    context = server.context(client.client_id)
    assert context is not None and context.user == USERS["t-bob"]


async def test_authenticate_sees_the_upgrade_request(serve_on: Serve, raw_connect: Connect) -> None:
    seen: list[ConnectInfo] = []

    def remember(info: ConnectInfo) -> Any:
        seen.append(info)
        return "someone"

    url = await serve_on(secured(authenticate=remember))
    await raw_connect(
        url + "?room=a",
        hello=True,
        additional_headers={"Cookie": "session=s-1; theme=dark", "Authorization": "Bearer x"},
    )
    [info] = seen
    assert info.token is None and info.cookies == {"session": "s-1", "theme": "dark"}
    assert info.headers["authorization"] == "Bearer x"
    assert (info.path, info.query, info.origin) == ("/ws", {"room": "a"}, None)
    assert info.remote_address is not None and info.remote_address[0] == "127.0.0.1"


async def test_nothing_is_served_before_an_async_authenticate_accepts(
    serve_on: Serve, raw_connect: Connect
) -> None:
    asked, verdict = asyncio.Event(), asyncio.Event()

    async def slow(info: ConnectInfo) -> Any:
        asked.set()
        await verdict.wait()
        return lookup(info)

    server = secured(authenticate=slow)
    created: list[str | None] = []
    server.create_store("Room:*", {"n": 0}).on_create(lambda key: created.append(key))
    events: list[Any] = []
    for name in ("connection", "subscribe"):
        server.on(name, lambda *args, name=name: events.append((name, *args)))
    url = await serve_on(server)
    client = await raw_connect(url, hello=False)
    for message in (ClientHello(token="t-bob"), Subscribe("Room:x"), Call(1, "whoami"), Ping()):
        await client.send(message)  # pipelined: all before any answer
    await asyncio.wait_for(asked.wait(), TIMEOUT)
    server.emit("news", "for members only")  # broadcast while the client waits
    assert created == [] and events == []
    verdict.set()
    assert isinstance(await client.recv(answer_pings=False), ServerHello)  # nothing before it
    rest = [await client.recv(answer_pings=False) for _ in range(3)]
    assert {type(m).__name__ for m in rest} == {"Snapshot", "Result", "Pong"}
    assert Snapshot("Room:x", 1, {"n": 0}, ANY) in rest and Result(1, "bob") in rest
    assert all(not isinstance(m, EventMessage) for m in rest)
    assert created == ["x"]


async def test_authenticate_failing_closes_1011_without_the_secret(
    serve_on: Serve, raw_connect: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(info: ConnectInfo) -> Any:
        raise RuntimeError("db error: postgres://admin:hunter2@10.0.0.5/prod")

    url = await serve_on(secured(authenticate=broken))
    client = await knock(raw_connect, url, "t-ana")
    assert await client.closed() == 1011
    assert client.ws.close_reason is not None
    match = re.fullmatch(r"internal error \(ref ([0-9a-f]{8})\)", client.ws.close_reason)
    assert match is not None and match[1] in caplog.text
    assert all(b"hunter2" not in frame for frame in client.frames)


async def test_a_flood_before_the_verdict_is_closed_and_a_healthy_client_carries_on(
    serve_on: Serve, raw_connect: Connect
) -> None:
    verdict = asyncio.Event()

    async def slow(info: ConnectInfo) -> Any:
        if info.token == "t-ana":
            await verdict.wait()
        return lookup(info)

    url = await serve_on(secured(authenticate=slow))
    hostile = await knock(raw_connect, url, "t-ana")
    for _ in range(1100):
        await hostile.send(Subscribe("Public"))
    assert await hostile.closed() == 1008
    verdict.set()
    healthy = await admitted(raw_connect, url, "t-bob")
    await healthy.send(Subscribe("Public"))
    assert await healthy.recv() == Snapshot("Public", 1, {"hello": "world"}, ANY)


async def test_a_hello_with_a_malformed_token_is_a_protocol_error(
    serve_on: Serve, raw_connect: Connect
) -> None:
    import msgpack

    url = await serve_on(secured())
    hostile = await raw_connect(url, hello=False)
    await hostile.send_raw(msgpack.packb({"t": "hello", "pv": 1, "tk": {"$ne": None}}))
    reply = await hostile.recv()
    assert isinstance(reply, ErrorMessage) and reply.code == "protocol"
    assert await hostile.closed() == 1002
    healthy = await admitted(raw_connect, url, "t-bob")
    await healthy.send(Call(1, "whoami"))
    assert await healthy.recv() == Result(1, "bob")


async def test_a_pending_authenticate_is_cancelled_when_the_client_leaves(
    serve_on: Serve, raw_connect: Connect
) -> None:
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def forever(info: ConnectInfo) -> Any:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    url = await serve_on(secured(authenticate=forever))
    client = await knock(raw_connect, url, "t-ana")
    await asyncio.wait_for(started.wait(), TIMEOUT)
    await client.ws.close()
    await asyncio.wait_for(cancelled.wait(), TIMEOUT)


# -- access ---------------------------------------------------------------------------


async def test_access_on_a_static_store(serve_on: Serve, raw_connect: Connect) -> None:
    url = await serve_on(secured())
    bob, ana = await admitted(raw_connect, url, "t-bob"), await admitted(raw_connect, url, "t-ana")
    await bob.send(Subscribe("Secrets"))
    assert await bob.recv() == ErrorMessage("subscribe", "forbidden", "Secrets")
    await ana.send(Subscribe("Secrets"))
    assert await ana.recv() == Snapshot("Secrets", 1, {"api_key": "k-123"}, ANY)
    assert all(b"k-123" not in frame for frame in bob.frames)
    await bob.send(Subscribe("Public"))  # a refusal costs the client nothing else
    assert await bob.recv() == Snapshot("Public", 1, {"hello": "world"}, ANY)


async def test_a_refused_dynamic_subscription_creates_nothing(
    serve_on: Serve, raw_connect: Connect
) -> None:
    server = secured()
    created: list[str | None] = []
    server.create_store(
        "Room:*", {"n": 0}, access=lambda ctx, key: key in ctx.user.get("rooms", ())
    ).on_create(lambda key: created.append(key))
    url = await serve_on(server)
    before = server.list_stores()
    bob = await admitted(raw_connect, url, "t-bob")
    for key in ("a", "b", "c"):
        await bob.send(Subscribe(f"Room:{key}"))
        assert await bob.recv() == ErrorMessage("subscribe", "forbidden", f"Room:{key}")
    assert server.list_stores() == before and created == []
    ana = await admitted(raw_connect, url, "t-ana")
    await ana.send(Subscribe("Room:a"))
    assert await ana.recv() == Snapshot("Room:a", 1, {"n": 0}, ANY)
    assert created == ["a"]


async def test_access_on_a_function_runs_no_handler(serve_on: Serve, raw_connect: Connect) -> None:
    server = secured()
    resets: list[str] = []

    def reset_all(args: Any, ctx: CallContext) -> str:
        resets.append(ctx.user["name"])
        return "done"

    server.handle("admin.reset_all", reset_all, access=lambda ctx: ctx.user.get("admin"))
    url = await serve_on(server)
    bob, ana = await admitted(raw_connect, url, "t-bob"), await admitted(raw_connect, url, "t-ana")
    await bob.send(Call(1, "admin.reset_all"))
    assert await bob.recv() == Result(1, error="forbidden")
    await ana.send(Call(2, "admin.reset_all"))
    assert await ana.recv() == Result(2, "done")
    assert resets == ["ana"]


# -- origins ----------------------------------------------------------------------------


async def test_a_foreign_origin_is_refused_403_before_the_upgrade(
    serve_on: Serve, raw_connect: Connect
) -> None:
    server = Server()
    connections: list[str] = []
    server.on("connection", connections.append)
    url = await serve_on(server)
    with pytest.raises(InvalidStatus) as refused:
        await asyncio.wait_for(connect(url, origin="https://evil.example"), TIMEOUT)  # type: ignore[arg-type]
    assert refused.value.response.status_code == 403
    same = url.replace("ws://", "http://").removesuffix("/ws")
    await raw_connect(url, origin=same)  # same-origin page
    await raw_connect(url)  # no Origin: not a browser
    assert len(connections) == 2


async def test_allowed_origins_list_and_star(serve_on: Serve, raw_connect: Connect) -> None:
    listed = await serve_on(Server(allowed_origins=["https://app.example"]))
    await raw_connect(listed, origin="https://app.example")
    with pytest.raises(InvalidStatus):
        await asyncio.wait_for(connect(listed, origin="https://evil.example"), TIMEOUT)  # type: ignore[arg-type]
    anyone = await serve_on(Server(allowed_origins=["*"]))
    await raw_connect(anyone, origin="https://evil.example")


# -- failures and disconnect ----------------------------------------------------------------


async def test_an_unexpected_exception_never_reaches_the_client(
    serve_on: Serve, raw_connect: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    server = secured()

    @server.handle("boom")
    async def boom(args: Any) -> None:
        raise RuntimeError("db error: postgres://admin:hunter2@10.0.0.5/prod")

    url = await serve_on(server)
    client = await admitted(raw_connect, url, "t-bob")
    await client.send(Call(1, "boom"))
    reply = await client.recv()
    assert isinstance(reply, Result) and reply.error is not None
    match = re.fullmatch(r"internal error \(ref ([0-9a-f]{8})\)", reply.error)
    assert match is not None, reply.error
    assert all(b"hunter2" not in frame for frame in client.frames)
    [record] = [r for r in caplog.records if match[1] in r.getMessage()]
    assert record.levelno == logging.ERROR and record.exc_info is not None


async def test_expose_errors_is_for_development(serve_on: Serve, raw_connect: Connect) -> None:
    server = Server(expose_errors=True)
    server.handle("boom", lambda args: 1 / 0)
    client = await raw_connect(await serve_on(server))
    await client.send(Call(1, "boom"))
    assert await client.recv() == Result(1, error="division by zero")


async def test_disconnect_closes_the_right_connection_only(
    serve_on: Serve, raw_connect: Connect
) -> None:
    server = secured()
    url = await serve_on(server)
    ana, bob = await admitted(raw_connect, url, "t-ana"), await admitted(raw_connect, url, "t-bob")
    assert bob.client_id is not None
    server.disconnect(bob.client_id, reason="banned")
    assert await bob.closed() == 4000
    assert bob.ws.close_reason == "banned"
    await ana.send(Call(1, "whoami"))
    assert await ana.recv() == Result(1, "ana")
    server.disconnect("nobody")  # unknown ids are ignored
    with pytest.raises(TypeError):
        server.disconnect(None)  # type: ignore[arg-type]
