"""The inspector's built-in ``$inspect`` stores over real sockets: closed unless
``Server(inspect=...)`` allows the connection, read-only, reserved, and a
client flooding them does not disturb a healthy one."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest

from hotstate_rx import Server
from hotstate_rx.protocol import (
    Call,
    ClientHello,
    ErrorMessage,
    PatchMessage,
    Result,
    ServerHello,
    Snapshot,
    Subscribe,
    Unsubscribe,
)

if TYPE_CHECKING:
    from conftest import Connect, RawClient

TIMEOUT = 5.0


async def hello_as(raw_connect: Connect, url: str, token: str) -> RawClient:
    client = await raw_connect(url, hello=False)
    await client.send(ClientHello(token=token))
    assert isinstance(await client.recv(), ServerHello)
    return client


async def subscribe(client: RawClient, store: str) -> Snapshot | ErrorMessage:
    await client.send(Subscribe(store))
    replies = await client.recv_until(lambda m: isinstance(m, Snapshot | ErrorMessage))
    answer = replies[-1]
    assert isinstance(answer, Snapshot | ErrorMessage)
    return answer


async def serve(server: Server) -> str:
    server.create_store("Todos", {"items": []})
    server.handle("echo", lambda args: args)
    await server.listen(port=0, host="127.0.0.1")
    return f"ws://127.0.0.1:{server.port}"


@pytest.fixture
async def servers() -> Any:
    made: list[Server] = []

    def make(**options: Any) -> Server:
        made.append(Server(**options))
        return made[-1]

    yield make
    for server in made:
        await server.close()


async def test_closed_by_default_forbidden_and_nothing_created(
    servers: Any, raw_connect: Connect
) -> None:
    server = servers()
    url = await serve(server)
    client = await raw_connect(url)
    for key in ("clients", "instances", "functions", "state:Todos"):
        answer = await subscribe(client, f"$inspect:{key}")
        assert answer == ErrorMessage("subscribe", "forbidden", f"$inspect:{key}")
    assert server.list_stores() == ["Todos"]
    assert not server.has_store("$inspect:clients")


async def test_a_rule_allows_some_connections_only(servers: Any, raw_connect: Connect) -> None:
    server = servers(
        authenticate=lambda info: {"name": info.token, "admin": info.token == "root"},
        inspect=lambda ctx: ctx.user["admin"],
    )
    url = await serve(server)
    user = await hello_as(raw_connect, url, "ann")
    admin = await hello_as(raw_connect, url, "root")
    refused = await subscribe(user, "$inspect:clients")
    assert isinstance(refused, ErrorMessage) and refused.message == "forbidden"
    allowed = await subscribe(admin, "$inspect:clients")
    assert isinstance(allowed, Snapshot)
    users = {c["user"] for c in allowed.data.values()}
    assert users == {"ann", "root"}
    assert all(c["address"].startswith("127.0.0.1:") for c in allowed.data.values())


async def test_live_views_of_clients_instances_functions_and_one_state(
    servers: Any, raw_connect: Connect
) -> None:
    server = servers(inspect=True)
    url = await serve(server)
    server._inspection._interval = 0.05  # sample fast in the test
    client = await raw_connect(url)
    await client.send(Call(1, "echo", {"x": 1}))
    await client.send(Call(2, "nope", None))
    await client.recv_until(lambda m: isinstance(m, Result) and m.id == 2)
    state = await subscribe(client, "$inspect:state:Todos")
    assert isinstance(state, Snapshot)
    assert state.data == {"name": "Todos", "version": 0, "state": {"items": []}, "log": []}
    server.stores["Todos"].update(lambda d: d["items"].append("milk"))
    patch = (await client.recv_until(lambda m: isinstance(m, PatchMessage)))[-1]
    assert isinstance(patch, PatchMessage) and patch.store == "$inspect:state:Todos"
    functions = await subscribe(client, "$inspect:functions")
    assert isinstance(functions, Snapshot)
    echo = functions.data["functions"]["echo"]
    assert echo["calls"] == 1 and echo["errors"] == 0 and echo["p50"] >= 0
    instances = await subscribe(client, "$inspect:instances")
    assert isinstance(instances, Snapshot)
    assert instances.data["Todos"]["version"] == 2 and instances.data["Todos"]["size"] > 0
    await client.send(Call(3, "echo", 2))
    await client.recv_until(  # sampled again: the new call shows
        lambda m: (
            isinstance(m, PatchMessage)
            and m.store == "$inspect:functions"
            and any(op.get("path") == "/functions/echo/calls" and op["value"] == 2 for op in m.ops)
        )
    )
    await client.send(Unsubscribe("$inspect:functions"))
    await client.send(Unsubscribe("$inspect:state:Todos"))
    await client.send(Unsubscribe("$inspect:instances"))
    await client.send(Call(4, "echo", 3))
    await client.recv_until(lambda m: isinstance(m, Result) and m.id == 4)
    assert not server.has_store("$inspect:functions")  # no reader: gone from memory


async def test_built_in_stores_are_reserved_and_read_only(
    servers: Any, raw_connect: Connect
) -> None:
    server = servers(inspect=True)
    with pytest.raises(ValueError, match="built in"):
        server.create_store("$inspect:mine", {})
    url = await serve(server)
    client = await raw_connect(url)
    await client.send(Call(1, "$inspect:clients", {"evil": True}))
    answer = (await client.recv_until(lambda m: isinstance(m, Result)))[-1]
    assert isinstance(answer, Result) and answer.error == "unknown function '$inspect:clients'"
    bad = await subscribe(client, "$inspect:state:Nowhere")
    assert isinstance(bad, ErrorMessage) and "nothing to inspect" in bad.message
    itself = await subscribe(client, "$inspect:state:$inspect:clients")
    assert isinstance(itself, ErrorMessage)
    assert not server.has_store("Nowhere")  # inspecting creates nothing


@pytest.mark.parametrize("allowed", [False, True])
async def test_a_flood_of_inspect_subscriptions_beside_a_healthy_client(
    servers: Any, raw_connect: Connect, allowed: bool
) -> None:
    server = servers(inspect=allowed, authenticate=lambda info: {"n": info.token})
    url = await serve(server)
    healthy = await hello_as(raw_connect, url, "ok")
    assert isinstance(await subscribe(healthy, "Todos"), Snapshot)
    flooder = await hello_as(raw_connect, url, "flood")
    for i in range(300):
        key = ("clients", "instances", f"state:Nope{i}", "state:Todos")[i % 4]
        await flooder.send(Subscribe(f"$inspect:{key}"))
        await flooder.send(Unsubscribe(f"$inspect:{key}"))
    for n in range(5):  # the healthy client is served all along
        server.stores["Todos"].update(lambda d, n=n: d["items"].append(n))
        await healthy.recv_until(lambda m, n=n: isinstance(m, PatchMessage) and m.version == n + 2)
    await healthy.send(Call(9, "echo", "still here"))
    answer = (await healthy.recv_until(lambda m: isinstance(m, Result)))[-1]
    assert answer == Result(9, "still here")
    await flooder.send(Call(10, "echo", None))  # the flood was all answered, in order
    await asyncio.wait_for(
        flooder.recv_until(lambda m: isinstance(m, Result) and m.id == 10), TIMEOUT
    )
    leftovers = [n for n in server._registry.names() if n.startswith("$inspect:")]
    assert leftovers == []
