"""Presence over real sockets: ``create_store(..., presence=...)`` keeps who is
subscribed to each instance in ``"Prefix@presence:key"``, a store clients
observe like any other. It follows sessions (a resumed client stays, an ended
session leaves), the watched store's ``access`` rule, and never lets a client
write it or a bad metadata function refuse a subscription."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from client_helpers import TIMEOUT, CuttingProxy, MakeClient, Recorder, StartServer

from hotstate_rx import CallContext, ConnectInfo, Server, SubscriptionError
from hotstate_rx.server.presence import board_name, default_metadata

Proxy = Callable[[int], Awaitable[tuple[CuttingProxy, str]]]


def named(info: ConnectInfo) -> dict[str, Any]:
    """Tokens are names; ``"eve"`` may not enter room ``"vip"``."""
    return {"name": info.token or "anon"}


def rooms(presence: Any = True) -> Callable[[Server], None]:
    def setup(server: Server) -> None:
        server.create_store(
            "Room:*",
            {"messages": []},
            access=lambda ctx, key: key != "vip" or ctx.user["name"] != "eve",
            presence=presence,
        )
        server.create_store("Lobby", {}, presence=True)

    return setup


def names(state: Any) -> list[str]:
    return sorted(entry.get("name", "?") for entry in (state or {}).values())


def present(expected: list[str]) -> Callable[[list[Any]], bool]:
    """A ``Recorder.until`` predicate: the last state shows exactly these names."""
    return lambda states: bool(states) and names(states[-1]) == expected


def test_board_names_pass_the_name_rules_and_cannot_clash() -> None:
    assert board_name("Room:*") == "Room@presence:*"
    assert board_name("Lobby") == "Lobby@presence"
    server = Server()
    server.create_store("Room@presence:*", {})
    with pytest.raises(ValueError, match=r"'Room@presence:\*' \(the presence of 'Room:\*'\)"):
        server.create_store("Room:*", {}, presence=True)
    assert "Room:*" not in server.stores  # nothing half-registered
    with pytest.raises(TypeError, match="presence must be True, False or a synchronous"):
        server.create_store("Chat:*", {}, presence="yes")  # type: ignore[arg-type]


def test_default_metadata_is_a_name_from_ctx_user() -> None:
    server = Server()
    assert default_metadata(CallContext("c", server, {"name": "ann", "pw": "x"})) == {"name": "ann"}
    assert default_metadata(CallContext("c", server, "bob")) == {"name": "bob"}
    assert default_metadata(CallContext("c", server, None)) == {}


async def test_two_clients_see_each_other_come_and_go(
    start_server: StartServer, make_client: MakeClient
) -> None:
    server, url = await start_server(rooms(), authenticate=named)
    ann, bob = make_client(url, token="ann"), make_client(url, token="bob")
    seen = Recorder()
    ann.subscribe("Room:general")
    ann.subscribe("Room@presence:general", seen)
    await seen.until(present(["ann"]))
    assert list(seen.values[-1]) == [ann.client_id]  # keyed by client_id
    bob_room = bob.subscribe("Room:general")
    await seen.until(present(["ann", "bob"]))
    bob_room.release()  # leaving the room leaves its presence
    await seen.until(present(["ann"]))
    bob.subscribe("Lobby")
    lobby = make_client(url, token="cy").subscribe("Lobby@presence")
    await lobby.ready()
    async with asyncio.timeout(TIMEOUT):
        while names(lobby.get_state()) != ["bob"]:
            await asyncio.sleep(0.01)
    await bob.close()  # a goodbye ends the session at once
    await seen.until(present(["ann"]))
    async with asyncio.timeout(TIMEOUT):
        while lobby.get_state() != {}:
            await asyncio.sleep(0.01)
    assert server.stores["Room@presence:*"].get("general") == {ann.client_id: {"name": "ann"}}


async def test_a_resumed_client_stays_present_and_an_ended_session_leaves(
    start_server: StartServer, make_client: MakeClient, proxy: Proxy
) -> None:
    server, _ = await start_server(rooms(), authenticate=named, resume_window=0.5)
    cutter, url = await proxy(server.port or 0)
    watcher = make_client(f"ws://127.0.0.1:{server.port}", token="ann")
    seen = Recorder()
    watcher.subscribe("Room@presence:general", seen)
    joiner = make_client(url, token="bob")
    joiner.subscribe("Room:general")
    await seen.until(present(["bob"]))
    left = asyncio.Event()
    server.on("disconnect", lambda cid: left.set())
    cutter.cut(hold=True)  # dropped: parked for the window, still present
    await asyncio.sleep(0.05)  # (no event to await: nothing must happen)
    assert names(watcher.subscribe("Room@presence:general").get_state()) == ["bob"]
    await asyncio.wait_for(left.wait(), TIMEOUT)  # the window passed: the session ended
    await seen.until(present([]))
    cutter.release()


async def test_presence_follows_access_and_cannot_be_written(
    start_server: StartServer, make_client: MakeClient
) -> None:
    server, url = await start_server(rooms(), authenticate=named)
    eve = make_client(url, token="eve")
    with pytest.raises(SubscriptionError, match="forbidden"):
        await eve.subscribe("Room@presence:vip").ready()
    board = eve.subscribe("Room@presence:open")
    await board.ready()  # may enter "open": may see who is there
    with pytest.raises(Exception, match="unknown function"):
        await eve.call("Room@presence:open", {"x": 1})
    assert not server.has_store("Room:vip")  # a refused look creates nothing


async def test_a_failing_metadata_function_never_refuses_a_subscription(
    start_server: StartServer, make_client: MakeClient
) -> None:
    def metadata(ctx: CallContext) -> Any:
        if ctx.user["name"] == "bad":
            raise RuntimeError("boom")
        return {"name": ctx.user["name"], "badge": len(ctx.user["name"])}

    errors: list[Exception] = []
    server, url = await start_server(rooms(metadata), authenticate=named)
    server.on("error", lambda exc, cid: errors.append(exc))
    good, bad = make_client(url, token="ann"), make_client(url, token="bad")
    seen = Recorder()
    good.subscribe("Room:x")
    good.subscribe("Room@presence:x", seen)
    await bad.subscribe("Room:x").ready()
    await seen.until(lambda v: bool(v) and len(v[-1]) == 2)
    assert sorted(seen.values[-1].values(), key=len) == [{}, {"name": "ann", "badge": 3}]
    assert [str(e) for e in errors] == ["boom"]


async def test_boards_leave_memory_when_nobody_is_there_or_watching(
    start_server: StartServer, make_client: MakeClient
) -> None:
    server, url = await start_server(rooms(), authenticate=named)
    client = make_client(url, token="ann")
    for key in ("a", "b", "c"):
        handle = client.subscribe(f"Room:{key}")
        await handle.ready()
        handle.release()
    watched = client.subscribe("Room@presence:d")
    await watched.ready()
    watched.release()
    await client.subscribe("Room:e").ready()  # after the releases above, in order
    boards = [n for n in server.list_stores() if n.startswith("Room@presence:")]
    assert boards == ["Room@presence:e"]
