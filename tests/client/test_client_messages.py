"""What a person reads when something is wrong: errors that name the URL,
the function and the cause, a warning once per outage, and one report per
error (never none, never two)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest
from client_helpers import (
    TIMEOUT,
    MakeClient,
    Recorder,
    ServeClient,
    StartServer,
    closed_ports,
    errors_of,
)

from hotstate_rx import Disconnected, RpcError, RpcTimeout, Server, SubscriptionError

DRIVER = "hotstate_rx.client.connection"


@pytest.fixture
def closed_port() -> int:
    """A loopback port nobody listens on."""
    [port] = closed_ports(1)
    return port


@pytest.fixture
async def http_only() -> AsyncIterator[str]:
    """A plain HTTP server that answers every request with 404: not a WebSocket server."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    yield f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/ws"
    server.close()
    await server.wait_closed()


class Hanging:
    """Sets a server up with ``hang``, a function that never answers;
    ``await running.wait()`` returns once a call of it runs on the server."""

    def __init__(self) -> None:
        self.running = asyncio.Event()

    def __call__(self, server: Server) -> None:
        async def hang(_args: object) -> None:
            self.running.set()
            await asyncio.Event().wait()

        server.handle("hang", hang)


async def test_no_server_is_named_with_its_url_and_cause(
    make_client: MakeClient, closed_port: int
) -> None:
    url = f"ws://127.0.0.1:{closed_port}"
    client = make_client(url, reconnect=False)
    with pytest.raises(Disconnected) as caught:
        await client.ready()
    assert str(caught.value) == (
        f"Disconnected: could not connect to {url}: connection refused (is the server running?)"
    )


async def test_a_call_without_a_server_times_out_saying_why(
    make_client: MakeClient, closed_port: int
) -> None:
    url = f"ws://127.0.0.1:{closed_port}"
    client = make_client(url)
    retried = Recorder()
    client.on("reconnecting", retried)
    await retried.until(lambda values: len(values) >= 1)
    with pytest.raises(RpcTimeout) as caught:
        await client.call("todos.add", {"text": "x"}, timeout=0.2)
    assert str(caught.value) == (
        "RPC timeout: no answer to 'todos.add' within 0.2 s; "
        f"could not connect to {url}: connection refused (is the server running?)"
    )
    assert caught.value.function == "todos.add"
    assert retried.values[0]["reason"] == (
        f"could not connect to {url}: connection refused (is the server running?)"
    )


async def test_an_outage_is_one_warning_and_its_retries_are_info(
    make_client: MakeClient, closed_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=DRIVER)
    client = make_client(f"ws://127.0.0.1:{closed_port}")
    retried = Recorder()
    client.on("reconnecting", retried)
    await retried.until(lambda values: len(values) >= 3)
    records = [r for r in caplog.records if r.name == DRIVER]
    assert [r.levelno for r in records[:3]] == [logging.WARNING, logging.INFO, logging.INFO]
    assert "connection refused" in records[0].getMessage()
    assert "retrying in" in records[0].getMessage()


async def test_a_server_that_is_not_a_websocket_server_is_named(
    make_client: MakeClient, http_only: str
) -> None:
    client = make_client(http_only, reconnect=False)
    with pytest.raises(Disconnected, match="answered HTTP 404 instead of a WebSocket upgrade"):
        await client.ready()


async def test_a_dropped_connection_fails_calls_saying_who_closed_it(
    start_server: StartServer, make_client: MakeClient
) -> None:
    hanging = Hanging()
    server, url = await start_server(hanging)
    client = make_client(url)
    retried = Recorder()
    client.on("reconnecting", retried)
    call = asyncio.create_task(client.call("hang"))
    await asyncio.wait_for(hanging.running.wait(), TIMEOUT)
    await server.close()
    with pytest.raises(Disconnected) as caught:
        await call
    message = str(caught.value)
    assert message.startswith(f"Disconnected: the connection to {url} was lost: ")
    assert "closed by the server with 1001" in message
    await retried.until(lambda values: len(values) >= 1)
    assert "closed by the server with 1001" in retried.values[0]["reason"]


async def test_a_closed_client_says_so(serve_client: ServeClient) -> None:
    hanging = Hanging()
    _, client = await serve_client(hanging)
    call = asyncio.create_task(client.call("hang"))
    await asyncio.wait_for(hanging.running.wait(), TIMEOUT)
    client.destroy()
    with pytest.raises(Disconnected, match=r"^Disconnected: the client was closed \(ws://"):
        await call
    with pytest.raises(Disconnected, match="the client was closed"):
        await client.call("hang")


async def test_rpc_error_names_the_function(serve_client: ServeClient) -> None:
    def fail(args: object) -> None:
        raise RpcError("no such todo")  # on purpose: its message reaches the caller

    _, client = await serve_client(lambda server: server.handle("todos.remove", fail))
    with pytest.raises(RpcError) as caught:
        await client.call("todos.remove", {"id": 7})
    assert str(caught.value) == "no such todo"  # the server's message, as the API says
    assert caught.value.function == "todos.remove"
    with pytest.raises(RpcError) as unknown:
        await client.call("nope")
    assert unknown.value.function == "nope"


async def test_an_error_raised_by_ready_is_not_logged_again(
    serve_client: ServeClient, caplog: pytest.LogCaptureFixture
) -> None:
    """The README's pattern: subscribe with an ``on_change``, await ``ready()``."""
    _, client = await serve_client()
    handle = client.subscribe("Nope", lambda state: None)
    with pytest.raises(SubscriptionError, match="unknown store 'Nope'"):
        await handle.ready()
    await client.close()
    assert [r.getMessage() for r in caplog.records if r.name.startswith("hotstate_rx")] == []


async def test_an_error_nobody_hears_is_logged_once(
    serve_client: ServeClient, caplog: pytest.LogCaptureFixture
) -> None:
    _, client = await serve_client()
    observed = Recorder()
    client.subscribe("Nope").subscribe(on_next=observed)  # an observer without on_error
    other = client.subscribe("Other")
    with pytest.raises(SubscriptionError):
        await other.ready()  # answered after Nope's error: that one was handled by now
    logged = [r for r in caplog.records if r.name.startswith("hotstate_rx")]
    assert [r.getMessage() for r in logged] == [
        "client error with no 'error' listener: unknown store 'Nope'"
    ]
    assert logged[0].levelno == logging.WARNING and logged[0].exc_info is None


async def test_an_error_listener_hears_every_error(serve_client: ServeClient) -> None:
    _, client = await serve_client()
    errors = errors_of(client)
    handle = client.subscribe("Nope")
    with pytest.raises(SubscriptionError):
        await handle.ready()
    await errors.until(lambda values: len(values) == 1)
    assert str(errors.values[0]) == "unknown store 'Nope'"


async def test_a_refused_origin_is_named(serve_client: ServeClient) -> None:
    """The origin check answers 403 before the upgrade (a page of another site)."""
    _, client = await serve_client(reconnect=False, headers={"Origin": "https://elsewhere.example"})
    with pytest.raises(Disconnected) as caught:
        await client.ready()
    assert str(caught.value).endswith(
        "the server answered HTTP 403 instead of a WebSocket upgrade (an Origin it does not allow?)"
    )
