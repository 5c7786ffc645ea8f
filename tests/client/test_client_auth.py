"""Client credentials: the core's rules fed by hand, then real servers on both
transports (``serve_on``): static and renewable tokens, headers, refusals
raised as ``AuthError`` everywhere a caller waits, and no retry loop on
credentials the server refused."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest
from client_helpers import NODE, TIMEOUT, MakeClient

from hotstate_rx import AuthError, ConnectInfo, RpcError, Server, SubscriptionError, Unauthorized
from hotstate_rx.client.actions import CloseSocket, Emit, EndStore, Settle, StatusChanged, Transmit
from hotstate_rx.client.core import ClientCore
from hotstate_rx.client.status import Connected, ConnectionStatus
from hotstate_rx.protocol import ClientHello, ErrorMessage, ServerHello, Subscribe

if TYPE_CHECKING:
    from conftest import Serve


def refused_core(*, renewable: bool) -> ClientCore:
    """A core whose hello (token "t1", a subscription and a call pending) is refused."""
    core = ClientCore(renewable_token=renewable)
    core.connect([NODE])
    core.subscribe("Todos")
    core.call("add", 1)
    assert core.opened("t1")[0] == Transmit(ClientHello(token="t1"))
    return core


def test_a_static_credential_refused_stops_the_client() -> None:
    core = refused_core(renewable=False)
    actions = core.receive(ErrorMessage("unauthorized", "bad token"))
    error = core.failure
    assert isinstance(error, AuthError) and str(error) == "bad token"
    assert actions == [
        StatusChanged(ConnectionStatus.DISCONNECTED),
        Settle(1, error=error),
        EndStore("Todos", error),
        Emit("error", error),
        CloseSocket(1000, "unauthorized"),
    ]
    assert core.connection_lost(0.5) == []  # no retry: nothing changed to try again with
    with pytest.raises(AuthError, match="bad token"):
        core.call("add", 2)
    assert core.subscribe("Other") == [EndStore("Other", error)]
    core.connect([NODE])  # the user may try again on purpose
    assert core.failure is None


def test_a_renewable_token_is_renewed_not_repeated() -> None:
    core = refused_core(renewable=True)
    [emit] = core.receive(ErrorMessage("unauthorized", "expired"))
    assert isinstance(emit, Emit) and emit.channel == "error"
    assert isinstance(emit.payload, AuthError) and str(emit.payload) == "expired"
    assert core.status is ConnectionStatus.CONNECTING
    assert ConnectionStatus.RECONNECTING in [
        a.status for a in core.connection_lost(0.5) if isinstance(a, StatusChanged)
    ]
    assert core.credentials("t2") == []  # a fresh token: try it
    core.opened("t2")
    core.receive(ServerHello("c1", 30.0))
    assert core.status is ConnectionStatus.CONNECTED


def test_a_renewable_token_that_comes_back_unchanged_stops_the_client() -> None:
    core = refused_core(renewable=True)
    core.receive(ErrorMessage("unauthorized", "expired"))
    core.connection_lost(0.5)
    actions = core.credentials("t1")
    assert StatusChanged(ConnectionStatus.DISCONNECTED) in actions
    assert isinstance(core.failure, AuthError) and str(core.failure) == "expired"


def test_a_refusal_after_acceptance_is_forgotten_once_accepted() -> None:
    core = refused_core(renewable=True)
    core.receive(ErrorMessage("unauthorized", "expired"))
    core.connection_lost(0.5)
    core.opened("t2")
    core.receive(ServerHello("c1", 30.0))
    core.connection_lost(0.5)
    assert core.credentials("t1") == []  # "t1" was refused before t2 got in: not now


def test_a_hello_carries_the_token_and_resubscribes() -> None:
    core = ClientCore()
    core.connect([NODE])
    core.subscribe("Todos")
    assert core.opened(None) == [Transmit(ClientHello()), Transmit(Subscribe("Todos"))]


# -- real servers, both transports ------------------------------------------------------

Tokens = Callable[[], Any]


def guarded(valid: set[str], seen: list[str | None]) -> Server:
    def authenticate(info: ConnectInfo) -> Any:
        seen.append(info.token)
        if info.token not in valid:
            raise Unauthorized("bad token")
        return {"token": info.token}

    server = Server(authenticate=authenticate)
    server.create_store("Todos", {"items": []})
    server.handle("whoami", lambda args, ctx: ctx.user["token"])
    return server


async def test_a_good_token(serve_on: Serve, make_client: MakeClient) -> None:
    url = await serve_on(guarded({"good"}, []))
    client = make_client(url, token="good")
    assert await client.call("whoami") == "good"
    todos = client.subscribe("Todos")
    await asyncio.wait_for(todos.ready(), TIMEOUT)


@pytest.mark.parametrize("token", [None, "bad"])
async def test_a_refused_client_raises_auth_error_everywhere_and_does_not_retry(
    serve_on: Serve, make_client: MakeClient, token: str | None
) -> None:
    seen: list[str | None] = []
    url = await serve_on(guarded({"good"}, seen))
    client = make_client(token=token)
    errors: list[Exception] = []
    retries: list[Any] = []
    client.on("error", errors.append)
    client.on("reconnecting", retries.append)
    todos = client.subscribe("Todos")
    call = asyncio.ensure_future(client.call("whoami"))
    client.connect(url)
    with pytest.raises(AuthError, match="bad token"):
        await asyncio.wait_for(client.ready(), TIMEOUT)
    with pytest.raises(AuthError, match="bad token"):
        await asyncio.wait_for(todos.ready(), TIMEOUT)
    with pytest.raises(AuthError, match="bad token"):
        await call
    with pytest.raises(AuthError):
        await client.call("whoami")
    with pytest.raises(AuthError):
        await client.subscribe("Todos").ready()
    assert [type(e) for e in errors] == [AuthError]
    assert client.status.value == "disconnected" and retries == []
    assert seen == [token]


async def test_an_expiring_token_is_refreshed_across_a_reconnect(
    serve_on: Serve, make_client: MakeClient
) -> None:
    valid = {"v1"}
    seen: list[str | None] = []
    server = guarded(valid, seen)
    url = await serve_on(server)
    versions = itertools.count(1)
    asked: list[str] = []

    async def fresh_token() -> str:  # as a real one would fetch it
        asked.append(token := f"v{next(versions)}")
        return token

    client = make_client(url, token=fresh_token)
    connected: asyncio.Queue[Connected] = asyncio.Queue()
    client.on("connected", connected.put_nowait)
    first = (await asyncio.wait_for(connected.get(), TIMEOUT)).client_id
    assert await client.call("whoami") == "v1"

    valid.clear()  # v1 expires; v2 is what the token service now hands out
    valid.add("v2")
    server.disconnect(first, reason="token expired")
    second = await asyncio.wait_for(connected.get(), TIMEOUT)
    assert second.client_id != first and not second.recovered  # kicked: a new session
    assert await client.call("whoami") == "v2"
    assert asked == ["v1", "v2"] and seen == ["v1", "v2"]


async def test_a_token_refused_then_renewed_gets_in(
    serve_on: Serve, make_client: MakeClient
) -> None:
    seen: list[str | None] = []
    url = await serve_on(guarded({"v2"}, seen))
    tokens = iter(["v1", "v2"])
    client = make_client(url, token=lambda: next(tokens))
    errors: list[Exception] = []
    client.on("error", errors.append)
    await asyncio.wait_for(client.ready(), TIMEOUT)  # waits through the first refusal
    assert await client.call("whoami") == "v2"
    assert seen == ["v1", "v2"] and [type(e) for e in errors] == [AuthError]


async def test_a_token_function_giving_the_refused_token_again_stops(
    serve_on: Serve, make_client: MakeClient
) -> None:
    seen: list[str | None] = []
    url = await serve_on(guarded({"good"}, seen))
    client = make_client(url, token=lambda: "stale")
    with pytest.raises(AuthError, match="bad token"):
        await asyncio.wait_for(client.ready(), TIMEOUT)
    assert seen == ["stale"]  # asked again, same answer: not sent again


async def test_a_token_function_that_raises_is_reported_and_retried(
    serve_on: Serve, make_client: MakeClient
) -> None:
    url = await serve_on(guarded({"good"}, []))
    attempts = itertools.count()

    def flaky() -> str:
        if next(attempts) == 0:
            raise ConnectionError("token service down")
        return "good"

    client = make_client(url, token=flaky)
    errors: list[Exception] = []
    client.on("error", errors.append)
    await asyncio.wait_for(client.ready(), TIMEOUT)
    assert [type(e) for e in errors] == [ConnectionError]


async def test_headers_carry_a_cookie_to_authenticate(
    serve_on: Serve, make_client: MakeClient
) -> None:
    sessions = {"s-42": "ana"}
    server = Server(authenticate=lambda info: sessions.get(info.cookies.get("session", "")))
    server.handle("whoami", lambda args, ctx: ctx.user)
    url = await serve_on(server)
    client = make_client(url, headers={"Cookie": "session=s-42"})
    assert await client.call("whoami") == "ana"
    stranger = make_client(url, headers={"Cookie": "session=forged"})
    with pytest.raises(AuthError, match="unauthorized"):
        await asyncio.wait_for(stranger.ready(), TIMEOUT)


async def test_access_refusals_reach_the_client_as_errors(
    serve_on: Serve, make_client: MakeClient
) -> None:
    server = Server()
    server.create_store("Secrets", {"k": 1}, access=lambda ctx, key: False)
    server.handle("admin.reset", lambda args: None, access=lambda ctx: False)
    client = make_client(await serve_on(server))
    with pytest.raises(SubscriptionError, match="forbidden"):
        await asyncio.wait_for(client.subscribe("Secrets").ready(), TIMEOUT)
    with pytest.raises(RpcError, match="forbidden"):
        await client.call("admin.reset")


def test_bad_credential_options_are_refused_at_construction() -> None:
    from hotstate_rx.client import Client

    with pytest.raises(TypeError, match="token"):
        Client(token=42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="headers"):
        Client(headers={"x": 1})  # type: ignore[dict-item]
    assert "s3cret" not in repr(Client(token="s3cret")._options)
