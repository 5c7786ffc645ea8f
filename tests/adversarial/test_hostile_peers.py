"""Hostile input over real sockets against an in-process server (so its
``"error"`` event and its tables can be watched), and a hostile server
against the real client: every limit's answer is what the README says the
client sees, the offender's connection stays usable where it should, and
nothing escapes to the loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import msgpack
import pytest
from websockets.asyncio.server import ServerConnection, serve

from hotstate_rx import ProtocolError, RateLimit, RpcError, Server, SubscriptionError
from hotstate_rx.client import Client
from hotstate_rx.protocol import (
    Call,
    ErrorMessage,
    Ping,
    Pong,
    Result,
    ServerHello,
    decode_client_message,
    encode,
)

if TYPE_CHECKING:
    from conftest import Connect, RawClient  # fixture types only: several conftest modules exist

TIMEOUT = 5.0

Serve = Callable[..., Awaitable[tuple[Server, str]]]


@pytest.fixture
async def serve_limited() -> AsyncIterator[Serve]:
    """``server, url = await serve_limited(**options)``; closed at teardown."""
    servers: list[Server] = []

    async def start(**options: Any) -> tuple[Server, str]:
        server = Server(**options)
        servers.append(server)
        await server.listen(port=0, host="127.0.0.1")
        return server, f"ws://127.0.0.1:{server.port}"

    yield start
    for server in servers:
        await server.close()


def deep_call(depth: int, call_id: int = 1) -> bytes:
    """An ``rpc`` of ``echo`` whose args nest ``depth`` arrays (by hand: msgpack's
    own encoder refuses such depths)."""
    head = b"\x84" + b"".join(map(msgpack.packb, ("t", "rpc", "i", call_id, "n", "echo", "a")))
    return head + b"\x91" * depth + b"\x00"


async def test_deep_arguments_are_a_bad_frame_the_error_event_fires_and_the_connection_stays(
    server: Server, url: str, raw_connect: Connect, loop_errors: list[dict[str, Any]]
) -> None:
    errors: list[tuple[object, str | None]] = []
    server.on("error", lambda exc, cid: errors.append((exc, cid)))
    server.handle("echo", lambda args: args)
    client = await raw_connect(url)
    for depth in (300, 1000, 1024, 5000):
        await client.send_raw(deep_call(depth))
        reply = await client.recv()
        assert isinstance(reply, ErrorMessage) and reply.code == "bad_message", depth
    await client.send(Call(2, "echo", [[["fine"]]]))
    assert await client.recv() == Result(2, [[["fine"]]])
    assert [(type(e), cid) for e, cid in errors] == [(ProtocolError, client.client_id)] * 4
    assert loop_errors == []


async def test_bad_frames_between_good_ones_still_close_1008(
    url: str, raw_connect: Connect
) -> None:
    client = await raw_connect(url)
    for _ in range(10):  # main reset the count on every good frame: 1008 never came
        await client.send_raw(b"\xc1")
        await client.send(Ping())
    assert await client.closed() == 1008


async def test_a_duplicate_call_id_is_refused_and_the_first_call_is_answered(
    server: Server, url: str, raw_connect: Connect
) -> None:
    release = asyncio.Event()

    @server.handle("wait")
    async def wait(args: Any) -> str:
        await release.wait()
        return "first"

    client = await raw_connect(url)
    await client.send(Call(1, "wait"))
    await client.send(Call(1, "wait"))
    reply = await client.recv()
    assert isinstance(reply, ErrorMessage) and "call id 1 is already running" in reply.message
    release.set()
    assert await client.recv() == Result(1, "first")


async def test_a_handler_past_call_timeout_is_cancelled_and_its_caller_gets_timeout(
    serve_limited: Serve,
) -> None:
    server, url = await serve_limited(call_timeout=0.2)
    cancelled = asyncio.get_running_loop().create_future()

    @server.handle("stuck")
    async def stuck(args: Any) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set_result(True)
            raise

    async with Client(url) as client:
        with pytest.raises(RpcError, match=r"^timeout$"):
            await client.call("stuck")
        assert await asyncio.wait_for(cancelled, TIMEOUT)
        assert not server._driver._calls


async def test_what_the_client_sees_at_each_cap(serve_limited: Serve) -> None:
    server, url = await serve_limited(max_subscriptions=1, max_pending_calls=1, max_instances=1)
    server.create_store("Room:*", {})
    started, release = asyncio.Event(), asyncio.Event()

    @server.handle("wait")
    async def wait(args: Any) -> None:
        started.set()
        await release.wait()

    async with Client(url) as client:
        await client.subscribe("Room:a").ready()
        with pytest.raises(SubscriptionError, match="too many subscriptions"):
            await client.subscribe("Room:b").ready()
        with pytest.raises(SubscriptionError, match="invalid store name: control characters"):
            await client.subscribe("Room:\x07").ready()
        first = asyncio.ensure_future(client.call("wait"))
        await asyncio.wait_for(started.wait(), TIMEOUT)
        with pytest.raises(RpcError, match=r"^limit: too many pending calls$"):
            await client.call("wait")
        release.set()
        await first
        async with Client(url) as other:  # while Room:a lives: it is the one instance allowed
            with pytest.raises(SubscriptionError, match="too many instances"):
                await other.subscribe("Room:b").ready()


async def test_a_client_over_its_rate_is_slowed_down_not_cut(serve_limited: Serve) -> None:
    server, url = await serve_limited(rate_limit=RateLimit(rate=1000, burst=10))
    server.handle("echo", lambda args: args)
    async with Client(url) as client:
        loop = asyncio.get_running_loop()
        start = loop.time()
        results = await asyncio.gather(*(client.call("echo", n) for n in range(300)))
        elapsed = loop.time() - start
    assert results == list(range(300))
    assert elapsed >= (300 - 10) / 1000 * 0.95  # never faster than the rate allows


async def test_a_deep_result_from_a_hostile_server_fails_that_call_only() -> None:
    """main popped the call, then ``thaw`` raised: the connection died and the
    call hung until its timeout."""
    deep_result = b"\x83" + b"".join(map(msgpack.packb, ("t", "res", "i", 1, "r")))
    deep_result += b"\x91" * 1000 + b"\x00"

    async def hostile(ws: ServerConnection) -> None:
        decode_client_message(await ws.recv())  # hello
        await ws.send(encode(ServerHello("victim", 0.0)))
        async for frame in ws:
            msg = decode_client_message(frame)
            if isinstance(msg, Call) and msg.id == 1:
                await ws.send(deep_result)
            elif isinstance(msg, Call):
                await ws.send(encode(Result(msg.id, "fine")))
            elif isinstance(msg, Ping):
                await ws.send(encode(Pong()))

    async with serve(hostile, "127.0.0.1", 0) as fake:
        port = next(iter(fake.sockets)).getsockname()[1]
        async with Client(f"ws://127.0.0.1:{port}") as client:
            errors: list[BaseException] = []
            client.on("error", errors.append)
            with pytest.raises(ProtocolError, match="nested deeper than 256"):
                await asyncio.wait_for(client.call("deep"), TIMEOUT)
            assert await client.call("other") == "fine"  # same connection, still up
            assert client.status.value == "connected"
            assert [type(e) for e in errors] == [ProtocolError]


async def test_an_aborted_flood_is_not_served_after_its_sender_left(
    serve_limited: Serve, raw_connect: Connect
) -> None:
    server, url = await serve_limited(rate_limit=RateLimit(rate=100, burst=1), resume_window=0)
    ran: list[int] = []
    server.handle("count", lambda args: ran.append(args))
    gone = asyncio.get_running_loop().create_future()
    server.on("disconnect", gone.set_result)
    client: RawClient = await raw_connect(url)
    for n in range(200):  # read by websockets at once; the session takes 100 a second
        await client.send(Call(n, "count", n))
    await client.recv()
    client.ws.transport.abort()
    await asyncio.wait_for(gone, TIMEOUT)
    assert len(ran) < 20  # the rest was dropped, not served for two more seconds
