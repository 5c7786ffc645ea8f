"""Function calls against the real server: results, errors, timeouts, optimism."""

from __future__ import annotations

import asyncio
from typing import Any, NamedTuple

import pytest
from client_helpers import TIMEOUT, MakeClient, Recorder, StartServer

from hotstate_rx import Disconnected, RpcError, RpcTimeout, Server
from hotstate_rx.client import Client, SubscriptionHandle


class Functions:
    """A server with a Todos store and functions, plus a gate that lets tests
    hold a call in flight for as long as they need."""

    def __init__(self, server: Server) -> None:
        self.gate = asyncio.Event()
        self.entered = asyncio.Event()
        self.todos = server.create_store("Todos", {"items": []})
        server.handle("echo", lambda args: args)
        server.handle("whoami", lambda args, ctx: ctx.client_id)
        server.handle("todos.add", self.add)
        server.handle("todos.add_later", self.add_later)
        server.handle("fail", self.fail)
        server.handle("hang", self.hang)

    def add(self, args: dict[str, Any]) -> dict[str, int]:
        self.todos.update(lambda d: d["items"].append(args["text"]))
        return {"id": len(self.todos.get()["items"])}

    async def add_later(self, args: dict[str, Any]) -> dict[str, int]:
        self.entered.set()
        await self.gate.wait()
        return self.add(args)

    async def fail(self, args: Any) -> None:
        self.entered.set()
        await self.gate.wait()
        raise RpcError("no such todo")

    async def hang(self, args: Any) -> None:
        self.entered.set()
        await asyncio.Event().wait()


@pytest.fixture
async def served(start_server: StartServer) -> tuple[Functions, str]:
    holder: list[Functions] = []
    _, url = await start_server(lambda server: holder.append(Functions(server)))
    yield holder[0], url
    holder[0].gate.set()


Calling = tuple[Functions, Client]


@pytest.fixture
async def calling(served: tuple[Functions, str], make_client: MakeClient) -> Calling:
    """``served``'s functions and a client of them, connecting (not waited for)."""
    functions, url = served
    return functions, make_client(url)


class Caller(NamedTuple):
    functions: Functions
    client: Client
    todos: SubscriptionHandle


@pytest.fixture
async def caller(calling: Calling) -> Caller:
    """:func:`calling`, with a handle on ``Todos`` that has its first snapshot."""
    functions, client = calling
    todos = client.subscribe("Todos")
    await todos.ready()
    return Caller(functions, client, todos)


def add_temp(state: dict[str, Any]) -> dict[str, Any]:
    return {**state, "items": [*state["items"], "temp"]}


async def test_results_and_server_errors(calling: Calling) -> None:
    _, client = calling
    await client.ready()
    assert await client.call("echo", {"a": [1, 2]}) == {"a": [1, 2]}
    assert await client.call("echo") is None
    assert await client.call("whoami") == client.client_id
    with pytest.raises(RpcError, match="unknown function 'missing'"):
        await client.call("missing")


async def test_a_handler_rpc_error_message_reaches_the_caller(calling: Calling) -> None:
    functions, client = calling
    functions.gate.set()
    with pytest.raises(RpcError, match="no such todo"):
        await client.call("fail")


async def test_a_call_made_before_the_socket_is_open_waits_for_it(calling: Calling) -> None:
    _, client = calling
    assert client.status.value == "connecting"
    assert await client.call("echo", 42) == 42


async def test_a_call_that_never_connects_times_out(make_client: MakeClient) -> None:
    client = make_client()
    with pytest.raises(RpcTimeout, match="RPC timeout"):
        await client.call("echo", 1, timeout=0.05)


async def test_no_answer_in_time_raises_rpc_timeout(
    served: tuple[Functions, str], make_client: MakeClient
) -> None:
    _, url = served
    client = make_client(url, rpc_timeout=0.1)
    with pytest.raises(RpcTimeout, match="RPC timeout"):
        await client.call("hang")


async def test_each_call_times_out_at_its_own_deadline(calling: Calling) -> None:
    """One timer serves every pending call: a shorter timeout made after a
    longer one still ends on time, and the longer one is not cut short."""
    _, client = calling
    await client.ready()
    loop = asyncio.get_running_loop()
    long = asyncio.ensure_future(client.call("hang", timeout=TIMEOUT))
    started = loop.time()
    with pytest.raises(RpcTimeout, match=r"'hang' within 0\.2 s from ws://"):
        await client.call("hang", timeout=0.2)
    assert loop.time() - started < TIMEOUT / 2, "not kept waiting for the longer deadline"
    shortest = asyncio.ensure_future(client.call("hang", timeout=0.05))
    middle = asyncio.ensure_future(client.call("hang", timeout=0.3))
    with pytest.raises(RpcTimeout):
        await shortest
    assert not middle.done() and not long.done()
    with pytest.raises(RpcTimeout, match=r"within 0\.3 s"):
        await middle
    assert not long.done(), "its own deadline has not come"
    assert await client.call("echo", 7) == 7  # the connection is as good as ever
    long.cancel()


async def test_bad_arguments_raise_at_the_call(make_client: MakeClient) -> None:
    client = make_client()
    with pytest.raises(TypeError, match="JSON"):
        await client.call("echo", {"when": object()})
    with pytest.raises(ValueError, match="timeout"):
        await client.call("echo", timeout=0)
    with pytest.raises(ValueError, match="store="):
        await client.call("echo", optimistic=add_temp)


async def test_optimistic_view_until_the_answer_then_the_servers_state_without_flicker(
    calling: Calling,
) -> None:
    functions, client = calling
    views = Recorder()
    todos = client.subscribe("Todos", views)
    other = client.subscribe("Todos")
    await todos.ready()
    pending = asyncio.ensure_future(
        client.call("todos.add_later", {"text": "real"}, store="Todos", optimistic=add_temp)
    )
    await asyncio.wait_for(functions.entered.wait(), TIMEOUT)
    assert todos.get_state() == {"items": ["temp"]} == other.get_state()
    assert todos.get_server_state() == {"items": []}
    functions.gate.set()
    assert await asyncio.wait_for(pending, TIMEOUT) == {"id": 1}
    assert todos.get_state() == {"items": ["real"]} == todos.get_server_state()
    after_optimism = [v["items"] for v in views.values[1:]]
    assert after_optimism[0] == ["temp"] and after_optimism[-1] == ["real"]
    assert all(items for items in after_optimism)  # never back to the empty list


async def test_optimistic_view_rolls_back_on_error(caller: Caller) -> None:
    functions, client, todos = caller
    pending = asyncio.ensure_future(client.call("fail", store="Todos", optimistic=add_temp))
    await asyncio.wait_for(functions.entered.wait(), TIMEOUT)
    assert todos.get_state() == {"items": ["temp"]}
    functions.gate.set()
    with pytest.raises(RpcError, match="no such todo"):
        await asyncio.wait_for(pending, TIMEOUT)
    assert todos.get_state() == {"items": []}


async def test_optimistic_view_rolls_back_on_timeout(caller: Caller) -> None:
    _, client, todos = caller
    with pytest.raises(RpcTimeout):
        await client.call("hang", store="Todos", optimistic=add_temp, timeout=0.1)
    assert todos.get_state() == {"items": []}


async def test_stacked_optimistic_calls_fold_in_order(caller: Caller) -> None:
    functions, client, todos = caller
    first = asyncio.ensure_future(
        client.call("todos.add_later", {"text": "a"}, store="Todos", optimistic=add_temp)
    )
    second = asyncio.ensure_future(
        client.call(
            "todos.add_later",
            {"text": "b"},
            store="Todos",
            optimistic=lambda s: {**s, "items": [*s["items"], "temp2"]},
        )
    )
    await asyncio.wait_for(functions.entered.wait(), TIMEOUT)  # both calls have started
    assert todos.get_state() == {"items": ["temp", "temp2"]}
    functions.gate.set()
    await asyncio.wait_for(asyncio.gather(first, second), TIMEOUT)
    assert todos.get_state() == {"items": ["a", "b"]}


async def test_a_server_killed_mid_call_raises_disconnected(
    start_server: StartServer, make_client: MakeClient
) -> None:
    functions: list[Functions] = []
    server, url = await start_server(lambda s: functions.append(Functions(s)))
    client = make_client(url)
    todos = client.subscribe("Todos")
    await todos.ready()
    pending = asyncio.ensure_future(client.call("hang", store="Todos", optimistic=add_temp))
    await asyncio.wait_for(functions[0].entered.wait(), TIMEOUT)
    assert todos.get_state() == {"items": ["temp"]}
    await server.close()
    with pytest.raises(Disconnected, match="Disconnected"):
        await asyncio.wait_for(pending, TIMEOUT)
    assert todos.get_state() == {"items": []}  # the stale overlay is gone


async def test_destroy_rejects_pending_calls(calling: Calling) -> None:
    functions, client = calling
    pending = asyncio.ensure_future(client.call("hang"))
    await asyncio.wait_for(functions.entered.wait(), TIMEOUT)
    client.destroy()
    with pytest.raises(Disconnected):
        await pending
    with pytest.raises(Disconnected):
        await client.call("echo")
