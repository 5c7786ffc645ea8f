"""Functions and events over real sockets."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any
from unittest.mock import ANY

import pytest

from hotstate_rx import CallContext, RpcError, Server
from hotstate_rx.protocol import Call, EventMessage, PatchMessage, Result, Snapshot, Subscribe

if TYPE_CHECKING:
    from conftest import Connect, RawClient  # fixture types only: several conftest modules exist


TIMEOUT = 5.0


async def call(client: RawClient, name: str, args: Any = None, id_: int = 1) -> Result:
    await client.send(Call(id_, name, args))
    reply = await client.recv()
    assert isinstance(reply, Result), reply
    return reply


async def test_plain_and_async_functions_with_and_without_ctx(
    server: Server, client: RawClient
) -> None:
    server.handle("echo", lambda args: args)

    @server.handle("whoami")
    async def whoami(args: Any, ctx: CallContext) -> dict[str, Any]:
        assert ctx.server is server
        return {"id": ctx.client_id}

    assert await call(client, "echo", {"a": [1]}) == Result(1, {"a": [1]})
    assert await call(client, "whoami") == Result(1, {"id": client.client_id})


async def test_unknown_function(server: Server, client: RawClient) -> None:
    assert await call(client, "nope") == Result(1, error="unknown function 'nope'")


async def test_a_raising_function_is_an_error_result_and_an_error_event(
    server: Server, client: RawClient
) -> None:
    errors: list[tuple[str, str | None]] = []
    server.on("error", lambda exc, cid: errors.append((repr(exc), cid)))

    @server.handle("fail")
    async def fail(args: Any) -> None:
        raise RpcError("no such todo")

    assert await call(client, "fail") == Result(1, error="no such todo")
    assert errors == [("RpcError('no such todo')", client.client_id)]


async def test_a_non_json_result_is_an_error_result(
    server: Server, client: RawClient, caplog: pytest.LogCaptureFixture
) -> None:
    server.handle("bad", lambda args: {"when": object()})
    server.handle("huge", lambda args: 2**80)
    for name in ("bad", "huge"):
        reply = await call(client, name)
        assert reply.error is not None and reply.error.startswith("internal error (ref ")
        assert f"function '{name}' returned a value that is not JSON-like" in caplog.text


async def test_registration_errors(server: Server) -> None:
    server.handle("a", lambda args: None)
    with pytest.raises(ValueError, match="already registered"):
        server.handle("a", lambda args: None)
    with pytest.raises(TypeError, match="callable"):
        server.handle("b", 42)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match=r"\(args\) or \(args, ctx\)"):
        server.handle("c", lambda a, b, c: None)


async def test_patches_of_a_call_arrive_before_its_result(
    server: Server, client: RawClient
) -> None:
    todos = server.create_store("Todos", {"items": []})

    @server.handle("add")
    async def add(args: Any) -> int:
        # Mutate from another thread, then answer at once: the patch still goes first.
        await asyncio.to_thread(todos.update, lambda d: d["items"].append(args))
        return len(todos.get()["items"])

    await client.send(Subscribe("Todos"))
    assert isinstance(await client.recv(), Snapshot)
    await client.send(Call(1, "add", "x"))
    assert isinstance(await client.recv(), PatchMessage)
    assert await client.recv() == Result(1, 1)


async def test_async_calls_of_one_client_run_concurrently(
    server: Server, client: RawClient
) -> None:
    release = asyncio.Event()

    @server.handle("wait")
    async def wait(args: Any) -> str:
        await release.wait()
        return "waited"

    server.handle("now", lambda args: "now")
    await client.send(Call(1, "wait"))
    assert await call(client, "now", id_=2) == Result(2, "now")
    release.set()
    assert await client.recv() == Result(1, "waited")


@pytest.mark.server_options(resume_window=0.2)
async def test_a_client_killed_mid_call_has_its_call_cancelled_when_its_session_ends(
    server: Server, url: str, raw_connect: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    started, release = asyncio.Event(), asyncio.Event()
    cancelled = asyncio.get_running_loop().create_future()
    counter = server.create_store("Counter", {"n": 0})

    @server.handle("slow")
    async def slow(args: Any) -> str:
        started.set()
        try:
            await release.wait()
        except asyncio.CancelledError:
            cancelled.set_result(True)
            raise
        counter.update(lambda d: d.__setitem__("n", 1))
        return "late"

    gone = asyncio.get_running_loop().create_future()
    server.on("disconnect", gone.set_result)
    victim = await raw_connect(url)
    await victim.send(Call(1, "slow"))
    await asyncio.wait_for(started.wait(), TIMEOUT)
    caplog.clear()
    victim.ws.transport.abort()  # killed: no closing handshake
    await asyncio.wait_for(gone, TIMEOUT)
    assert await asyncio.wait_for(cancelled, TIMEOUT)
    release.set()
    other = await raw_connect(url)
    server.handle("ping", lambda args: "pong")
    assert await call(other, "ping") == Result(1, "pong")
    assert counter.get() == {"n": 0}
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_emit_broadcast_and_targeted(server: Server, url: str, raw_connect: Connect) -> None:
    a, b = await raw_connect(url), await raw_connect(url)
    server.emit("note", {"title": "all"})
    assert await a.recv() == EventMessage("note", {"title": "all"}, ANY)
    assert await b.recv() == EventMessage("note", {"title": "all"}, ANY)
    assert b.client_id is not None
    server.emit("alert", {"to": "b"}, client_id=b.client_id)
    server.emit("note", "after")
    assert await a.recv() == EventMessage("note", "after", ANY)
    assert await b.recv() == EventMessage("alert", {"to": "b"}, ANY)
    server.emit("alert", None, client_id="nobody")  # ignored quietly


async def test_emit_validates_at_the_call(server: Server) -> None:
    with pytest.raises(TypeError, match="when"):
        server.emit("note", {"when": object()})
    with pytest.raises(TypeError, match="channel"):
        server.emit("", 1)
    with pytest.raises(TypeError, match="client_id must be a non-empty str"):
        server.emit("note", 1, client_id=42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="positional"):
        server.emit("note", 1, "cid")  # type: ignore[misc]
    for reserved in ("error", "store_deleted", "storeDeleted", "Connected"):
        with pytest.raises(ValueError, match="reserved for the client's lifecycle events"):
            server.emit(reserved, 1)


async def test_events_validate_names_and_survive_raising_listeners(
    server: Server, url: str, raw_connect: Connect, caplog: pytest.LogCaptureFixture
) -> None:

    with pytest.raises(ValueError, match="unknown server event"):
        server.on("connect", print)
    seen: list[str] = []
    server.on("connection", lambda cid: 1 / 0)
    off = server.on("connection", seen.append)
    await raw_connect(url)
    off()
    await raw_connect(url)
    assert len(seen) == 1
    assert "ZeroDivisionError" in caplog.text


async def test_plain_functions_take_ctx_and_raise_like_async_ones(
    server: Server, client: RawClient
) -> None:
    def fail(args: Any) -> None:
        raise RpcError("the todo does not exist")  # raised at the call, not in a task

    async def double(args: Any) -> Any:
        return args * 2

    assert server.handle("fail", fail) is fail
    server.handle("double", double)

    @server.handle("whoami")
    def whoami(args: Any, ctx: CallContext) -> str:
        return ctx.client_id

    assert whoami(None, CallContext("me", server)) == "me"  # the decorator gives it back
    assert await call(client, "fail") == Result(1, error="the todo does not exist")
    assert await call(client, "double", 21) == Result(1, 42)
    assert await call(client, "whoami") == Result(1, client.client_id)
