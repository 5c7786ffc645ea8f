"""Connection lifecycle: status, events, reconnect and resync, heartbeat, teardown."""

from __future__ import annotations

import asyncio

import pytest
from client_helpers import (
    TIMEOUT,
    FakeServer,
    MakeClient,
    Recorder,
    ServeClient,
    StartServer,
    errors_of,
)

from hotstate_rx import Disconnected, ProtocolError, Server
from hotstate_rx.client import Client, Connected, ConnectionStatus
from hotstate_rx.protocol import Ping, Pong, Subscribe


def counter_server(start: int):
    def setup(server: Server) -> None:
        server.create_store("Counter", {"n": start})

    return setup


async def test_status_starts_with_the_current_value_and_follows_the_connection(
    start_server: StartServer, make_client: MakeClient
) -> None:
    _, url = await start_server()
    client = make_client()
    statuses = Recorder()
    client.status.subscribe(on_next=statuses, on_completed=statuses.on_completed)
    assert client.status.value is ConnectionStatus.DISCONNECTED
    client.connect(url)
    await client.ready()
    assert client.status.value == "connected" and client.client_id
    await client.close()
    assert statuses.values == ["disconnected", "connecting", "connected", "disconnected"]
    assert statuses.completed
    late = Recorder()
    client.status.subscribe(late)
    assert late.values == ["disconnected"]  # even after the end, the current value first


async def test_server_events_broadcast_and_targeted(
    start_server: StartServer, make_client: MakeClient
) -> None:
    server, url = await start_server()
    first, second = make_client(url), make_client(url)
    await first.ready()
    await second.ready()
    notes, alerts, streamed = Recorder(), Recorder(), Recorder()
    first.on("notification", notes)
    off = first.on("alert", alerts)
    second.events("notification").subscribe(streamed)
    server.emit("notification", {"title": "Deployed"})
    server.emit("alert", {"msg": "yours"}, client_id=first.client_id)
    server.emit("alert", {"msg": "theirs"}, client_id=second.client_id)
    await notes.value({"title": "Deployed"})
    await streamed.value({"title": "Deployed"})
    await alerts.value({"msg": "yours"})
    off()
    server.emit("alert", {"msg": "after off"}, client_id=first.client_id)
    server.emit("notification", {"title": "last"})
    await notes.value({"title": "last"})
    assert alerts.values == [{"msg": "yours"}]


async def test_a_raising_handler_is_logged_and_the_client_carries_on(
    serve_client: ServeClient, caplog: pytest.LogCaptureFixture
) -> None:
    server, client = await serve_client(counter_server(0))

    def broken(state: object) -> None:
        raise RuntimeError("bug in a UI callback")

    good, news = Recorder(), Recorder()
    client.subscribe("Counter", broken)
    client.subscribe("Counter", good)
    client.on("news", lambda: (_ for _ in ()).throw(RuntimeError("bug in a handler")))
    client.on("news", news)
    await good.value({"n": 0})
    server.emit("news", 1)
    server.stores["Counter"].set({"n": 1})
    await good.value({"n": 1})
    await news.value(1)
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("hotstate_rx.client")]
    assert any("store 'Counter'" in m for m in messages)
    assert any("event channel 'news'" in m for m in messages)


async def test_lifecycle_channels(serve_client: ServeClient) -> None:
    server, client = await serve_client()
    connected, disconnected, reconnecting = Recorder(), Recorder(), Recorder()
    client.on("connected", connected)
    client.on("disconnected", lambda: disconnected())
    client.events("reconnecting").subscribe(reconnecting)
    await connected.until(lambda v: len(v) == 1)
    url = client.url
    assert url is not None and client.urls == (url,)
    assert connected.values == [Connected(client.client_id or "", recovered=False, url=url)]
    await server.close()
    await reconnecting.until(lambda v: len(v) >= 1)
    assert disconnected.values == [None]
    assert reconnecting.values[0]["attempt"] == 1 and reconnecting.values[0]["delay"] >= 0
    assert reconnecting.values[0]["url"] == url  # one URL: always the same


async def test_server_restart_reconnects_and_resyncs_with_fresh_state(
    start_server: StartServer, make_client: MakeClient
) -> None:
    server, url = await start_server(counter_server(1))
    client = make_client(url)
    statuses, states = Recorder(), Recorder()
    client.status.subscribe(statuses)
    counter = client.subscribe("Counter", states)
    await counter.ready()
    await server.close()
    await statuses.value("reconnecting")
    assert counter.get_state() == {"n": 1}  # stale but consistent while away
    await start_server(counter_server(100), port=server.port)
    await states.value({"n": 100})
    await statuses.until(lambda v: v[-1] == "connected")
    assert statuses.values == ["connecting", "connected", "reconnecting", "connected"]
    assert counter.get_state() == {"n": 100}


async def test_no_reconnect_means_disconnected_for_good(serve_client: ServeClient) -> None:
    server, client = await serve_client(reconnect=False)
    await client.ready()
    statuses = Recorder()
    client.status.subscribe(statuses)
    await server.close()
    await statuses.value("disconnected")
    with pytest.raises(Disconnected):
        await client.ready()
    # A call fails at once, naming why, instead of waiting its rpc_timeout
    # for a connection that never comes.
    with pytest.raises(Disconnected, match="was lost"):
        await asyncio.wait_for(client.call("echo", 1), TIMEOUT)


async def test_ready_raises_when_the_only_attempt_fails(make_client: MakeClient) -> None:
    client = make_client("ws://127.0.0.1:9", reconnect=False)  # the discard port: refused
    with pytest.raises(Disconnected):
        await asyncio.wait_for(client.ready(), TIMEOUT)


async def test_protocol_mismatch_is_a_clear_error_without_a_reconnect_loop(
    fake_server, make_client: MakeClient, start_server: StartServer
) -> None:
    fake: FakeServer = await fake_server(version=99)
    client = make_client(fake.url)
    errors = errors_of(client)
    with pytest.raises(ProtocolError, match="version mismatch"):
        await asyncio.wait_for(client.ready(), TIMEOUT)
    assert isinstance(errors.values[0], ProtocolError)
    assert client.status.value == "disconnected"
    with pytest.raises(ProtocolError):
        await client.ready()
    assert fake.connections == 1
    _, url = await start_server(counter_server(7))
    client.connect(url)  # the user may point it elsewhere
    counter = client.subscribe("Counter")
    await counter.ready()
    assert counter.get_state() == {"n": 7}
    await client.close()
    assert fake.connections == 1


async def test_pings_are_answered(fake_server, make_client: MakeClient) -> None:
    fake: FakeServer = await fake_server()
    client = make_client(fake.url)
    await client.ready()
    await fake.send(Ping())
    await fake.expect(Pong())


async def test_a_silent_server_is_treated_as_gone(fake_server, make_client: MakeClient) -> None:
    fake: FakeServer = await fake_server(heartbeat=0.04)  # silent after its hello
    client = make_client(fake.url)
    client.subscribe("Todos")
    await fake.expect(Subscribe("Todos"))
    await fake.connected(2)  # 2.5 x 0.04 s of silence, then a new connection
    await fake.expect(Subscribe("Todos"))


async def test_destroy_is_final_and_stops_everything(
    start_server: StartServer, make_client: MakeClient
) -> None:
    _, url = await start_server(counter_server(0))
    client = make_client(url)
    counter = client.subscribe("Counter")
    states = Recorder()
    counter.subscribe(on_next=states, on_completed=states.on_completed)
    events = Recorder()
    client.events("news").subscribe(on_completed=events.on_completed)
    await counter.ready()
    client.destroy()
    client.destroy()
    assert client.status.value == "disconnected"
    assert states.completed and events.completed and not counter.active
    with pytest.raises(Disconnected):
        await client.ready()
    with pytest.raises(RuntimeError, match="destroyed"):
        client.subscribe("Counter")
    with pytest.raises(RuntimeError, match="destroyed"):
        client.connect(url)
    await client.close()


async def test_destroy_from_a_callback_still_reports_disconnected_first(
    serve_client: ServeClient,
) -> None:
    _, client = await serve_client()
    statuses = Recorder()
    client.status.subscribe(on_next=statuses, on_completed=statuses.on_completed)
    client.on("connected", lambda: client.destroy())
    await statuses.done()
    assert statuses.values == ["connecting", "connected", "disconnected"]


async def test_misuse_raises_clear_errors(make_client: MakeClient) -> None:
    with pytest.raises(RuntimeError, match="running asyncio event loop"):
        await asyncio.to_thread(Client, "ws://127.0.0.1:1")
    with pytest.raises(ValueError, match="reconnect_max"):
        Client(reconnect_delay=5.0, reconnect_max=1.0)
    client = make_client()
    with pytest.raises(ValueError, match="not a WebSocket URL"):
        client.connect("http://example.com")
    with pytest.raises(TypeError, match="on_change"):
        client.subscribe("Todos", on_change="nope")
    with pytest.raises(TypeError, match="handler"):
        client.on("news", None)
    client.connect("ws://127.0.0.1:9")
    with pytest.raises(RuntimeError, match="already"):
        client.connect("ws://127.0.0.1:9")


async def test_async_context_manager_closes(start_server: StartServer) -> None:
    _, url = await start_server()
    async with Client(url) as client:
        await client.ready()
    assert client.status.value == "disconnected"
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("hotstate client")]
