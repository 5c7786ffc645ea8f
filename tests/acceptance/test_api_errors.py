"""API.md §5: the error hierarchy, and bad network input never disturbing the server."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import msgpack
import pytest
from acceptance_helpers import TIMEOUT, Connect, Recorder
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

import hotstate_rx
from hotstate_rx import (
    Disconnected,
    HotstateError,
    PatchError,
    RpcError,
    RpcTimeout,
    Server,
    SubscriptionError,
)

# -- the hierarchy -------------------------------------------------------------------


@pytest.mark.parametrize(
    "error", [PatchError, RpcError, RpcTimeout, Disconnected, SubscriptionError]
)
def test_every_error_derives_from_hotstate_error(error: type[Exception]) -> None:
    assert issubclass(error, HotstateError)
    assert issubclass(HotstateError, Exception)
    assert getattr(hotstate_rx, error.__name__) is error


def test_patch_error_is_a_value_error() -> None:
    assert issubclass(PatchError, ValueError)
    from hotstate_rx.draft import apply_patches

    with pytest.raises(ValueError):
        apply_patches({}, [{"op": "remove", "path": "/x"}])


def test_errors_are_exported_from_hotstate_rx() -> None:
    for name in (
        "HotstateError",
        "PatchError",
        "RpcError",
        "RpcTimeout",
        "Disconnected",
        "SubscriptionError",
        "Hotstate",
        "Server",
    ):
        assert name in hotstate_rx.__all__, name


# -- bad input from the network -------------------------------------------------------------


@pytest.fixture
async def loop_errors() -> AsyncIterator[list[dict[str, Any]]]:
    """Everything that reaches the loop's exception handler during the test."""
    loop = asyncio.get_running_loop()
    seen: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: seen.append(context))
    yield seen
    loop.set_exception_handler(previous)


@pytest.fixture
async def raw(url: str) -> AsyncIterator[Callable[..., Any]]:
    """``await raw(hello=True)`` -> a bare websocket to the server, closed at teardown."""
    sockets: list[ClientConnection] = []

    async def open_raw(hello: bool = True) -> ClientConnection:
        ws = await ws_connect(url, ping_interval=None, max_size=None)
        sockets.append(ws)
        if hello:  # the handshake of PROTOCOL.md, so the garbage lands after it
            await ws.send(msgpack.packb({"t": "hello", "pv": 1}))
            await asyncio.wait_for(ws.recv(), TIMEOUT)
        return ws

    yield open_raw
    for ws in sockets:
        await ws.close()


async def _answered_or_closed(ws: ClientConnection) -> None:
    """The offending peer gets an error or is closed (either is fine), in time."""
    with contextlib.suppress(ConnectionClosed):
        await asyncio.wait_for(ws.recv(), TIMEOUT)


GARBAGE: list[Any] = [
    pytest.param(b"\xc1", id="invalid-msgpack"),
    pytest.param(b"", id="empty-frame"),
    pytest.param("text frame", id="text-frame"),
    pytest.param(msgpack.packb([1, 2, 3]), id="not-a-map"),
    pytest.param(msgpack.packb({"t": "teleport"}), id="unknown-type"),
    pytest.param(msgpack.packb({"x": 1}), id="no-type"),
    pytest.param(msgpack.packb({"t": "sub"}), id="sub-without-store"),
    pytest.param(msgpack.packb({"t": "sub", "s": 42}), id="sub-store-not-str"),
    pytest.param(msgpack.packb({"t": "rpc", "i": "x", "n": "ping"}), id="rpc-bad-id"),
    pytest.param(msgpack.packb({"t": "rpc", "i": 1, "n": None}), id="rpc-bad-name"),
    pytest.param(msgpack.packb({"t": "rpc", "i": 1, "n": "ping", "a": b"bin"}), id="rpc-bin-arg"),
    pytest.param(
        msgpack.packb({"t": "rpc", "i": 1, "n": "ping", "a": float("nan")}), id="rpc-nan-arg"
    ),
    pytest.param(msgpack.packb({"t": "hello", "pv": 1}), id="second-hello"),
    pytest.param(b"\x00" * (2 * 1024 * 1024), id="oversized-frame"),
]


@pytest.mark.parametrize("frame", GARBAGE)
async def test_bad_frame_after_hello_leaves_other_clients_working(
    server: Server,
    url: str,
    connect: Connect,
    raw: Callable[..., Any],
    loop_errors: list[dict[str, Any]],
    frame: bytes | str,
) -> None:
    todos = server.create_store("Todos", {"n": 0})
    server.handle("ping", lambda args: "pong")
    healthy = await connect()
    seen = Recorder()
    h = healthy.subscribe("Todos", seen)
    await h.ready()

    bad = await raw()
    await bad.send(frame)
    await _answered_or_closed(bad)

    todos.update(lambda d: d.__setitem__("n", 1))
    await seen.until(lambda s: s == {"n": 1})
    assert await healthy.call("ping") == "pong"
    assert loop_errors == []


@pytest.mark.parametrize("frame", [b"\xc1", "text", msgpack.packb({"t": "sub", "s": "Todos"})])
async def test_bad_first_frame_instead_of_hello(
    server: Server,
    url: str,
    connect: Connect,
    raw: Callable[..., Any],
    loop_errors: list[dict[str, Any]],
    frame: bytes | str,
) -> None:
    server.create_store("Todos", {})
    server.handle("ping", lambda args: "pong")
    healthy = await connect()
    bad = await raw(hello=False)
    await bad.send(frame)
    await _answered_or_closed(bad)
    assert await healthy.call("ping") == "pong"
    assert loop_errors == []


async def test_wrong_protocol_version_is_refused(
    server: Server, url: str, connect: Connect, raw: Callable[..., Any]
) -> None:
    server.handle("ping", lambda args: "pong")
    bad = await raw(hello=False)
    await bad.send(msgpack.packb({"t": "hello", "pv": 999}))
    with pytest.raises(ConnectionClosed):
        while True:
            await asyncio.wait_for(bad.recv(), TIMEOUT)
    healthy = await connect()
    assert await healthy.call("ping") == "pong"


async def test_not_even_websocket(
    server: Server, url: str, connect: Connect, loop_errors: list[dict[str, Any]]
) -> None:
    server.handle("ping", lambda args: "pong")
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GARBAGE / NOT-HTTP\r\n\r\n\x00\xff" * 10)
    await writer.drain()
    await asyncio.wait_for(reader.read(), TIMEOUT)  # the server closes it
    writer.close()
    await writer.wait_closed()
    healthy = await connect()
    assert await healthy.call("ping") == "pong"
    assert loop_errors == []


async def test_abrupt_disconnect_mid_call_disturbs_no_one(
    server: Server,
    url: str,
    connect: Connect,
    raw: Callable[..., Any],
    loop_errors: list[dict[str, Any]],
) -> None:
    entered = Recorder()
    release = asyncio.Event()

    async def slow(args: Any) -> str:
        entered(args)
        await release.wait()
        return "late"

    server.handle("slow", slow)
    server.handle("ping", lambda args: "pong")
    healthy = await connect()
    doomed = await raw()
    await doomed.send(msgpack.packb({"t": "rpc", "i": 1, "n": "slow", "a": None}))
    await entered.until()
    doomed.transport.abort()
    release.set()
    assert await healthy.call("ping") == "pong"
    assert loop_errors == []


# -- bad input from the user's own code: a clear error at the call ---------------------------


async def test_user_errors_raise_at_the_call(server: Server) -> None:
    with pytest.raises(TypeError):
        server.create_store("Bad", {"x": {1, 2}})
    todos = server.create_store("Todos", {"items": []})
    with pytest.raises(TypeError) as info:
        todos.update(lambda d: d["items"].append(object()))
    assert "items" in str(info.value)
    with pytest.raises(TypeError):
        server.emit("channel", {"x": {1}})
    with pytest.raises(KeyError):
        server.stores["Unknown"]
    assert todos.get() == {"items": []}


async def test_emit_to_an_unknown_client_is_harmless(
    server: Server, url: str, connect: Connect
) -> None:
    client = await connect()
    got = Recorder()
    client.on("n", got)
    server.emit("n", 1, client_id="no-such-client")
    server.emit("n", 2)
    assert await got.until() == 2


async def test_unknown_server_event_name_is_refused_at_the_call(server: Server) -> None:
    with pytest.raises(ValueError, match="conection"):
        server.on("conection", lambda client_id: None)


async def test_on_create_returning_bad_data_raises_at_the_use(server: Server) -> None:
    server.create_store("A:*", {}).on_create(lambda key: [1])
    server.create_store("B", {}).on_create(lambda key: {"bad": {1}})
    with pytest.raises(TypeError):
        server.stores["A:*"].init("k")
    with pytest.raises(TypeError):
        server.stores["B"].init()
