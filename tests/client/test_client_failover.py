"""``Client(urls=[...])`` over real sockets: single-node servers on loopback
stand for the nodes of a cluster. They do not share sessions, so a client
that fails over starts a fresh session on the next node (``recovered`` is
False) and shows that node's state; the cluster's own tests cover resuming
across nodes. The rotation and backoff rules are in test_core_failover.py."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import pytest
from client_helpers import (
    TIMEOUT,
    CuttingProxy,
    FakeServer,
    MakeClient,
    Recorder,
    StartServer,
    closed_ports,
    errors_of,
)
from websockets.asyncio.server import ServerConnection, serve

from hotstate_rx import CertificateError, Disconnected, RpcTimeout, Server
from hotstate_rx.client import Client, Connected
from hotstate_rx.protocol import Snapshot, Subscribe

if TYPE_CHECKING:
    from conftest import Certificates

Proxy = Callable[[int], Awaitable[tuple[CuttingProxy, str]]]


def node(label: str, start: int, runs: Recorder | None = None) -> Callable[[Server], None]:
    """A node: ``Counter`` {n: start}; ``where()`` answers ``label``; ``slow()``
    records ``label`` in ``runs`` when it starts and never answers."""

    def setup(server: Server) -> None:
        server.create_store("Counter", {"n": start})
        server.handle("where", lambda _args: label)

        @server.handle("slow")
        async def slow(_args: object) -> None:
            if runs is not None:
                runs(label)
            await asyncio.Event().wait()

    return setup


def dead_urls(count: int) -> list[str]:
    return [f"ws://127.0.0.1:{port}" for port in closed_ports(count)]


def watch(client: Client) -> tuple[Recorder, Recorder]:
    """Recorders of ``client``'s ``"connected"`` and ``"reconnecting"`` events."""
    connected, reconnecting = Recorder(), Recorder()
    client.on("connected", connected)
    client.on("reconnecting", reconnecting)
    return connected, reconnecting


async def test_a_refused_first_url_is_left_for_the_second_without_a_backoff(
    start_server: StartServer, make_client: MakeClient
) -> None:
    """A 60 s backoff would outlast the test: the second node is reached
    because the move to it does not wait."""
    [dead] = dead_urls(1)
    _, live = await start_server(node("B", 0))
    client = make_client(urls=[dead, live], reconnect_delay=60.0, reconnect_max=60.0)
    connected, reconnecting = watch(client)
    await asyncio.wait_for(client.ready(), TIMEOUT)
    assert client.url == live and client.urls == (dead, live)
    assert reconnecting.values == [
        {
            "attempt": 1,
            "delay": 0.0,
            "reason": f"could not connect to {dead}: connection refused (is the server running?)",
            "url": live,
        }
    ]
    assert connected.values == [Connected(client.client_id or "", recovered=False, url=live)]
    assert await client.call("where") == "B"


async def test_a_stopped_node_is_left_for_the_next_and_back(
    start_server: StartServer, make_client: MakeClient
) -> None:
    """A stops: the client lands on B, subscribes again and shows B's state,
    in a fresh session. A comes back and B stops: back to A."""
    a, a_url = await start_server(node("A", 1))
    b, b_url = await start_server(node("B", 100))
    client = make_client(urls=[a_url, b_url], reconnect_delay=60.0, reconnect_max=60.0)
    connected, _ = watch(client)
    statuses, states = Recorder(), Recorder()
    client.status.subscribe(statuses)
    client.subscribe("Counter", states)
    await states.value({"n": 1})
    first = client.client_id

    await a.close()
    await states.value({"n": 100})
    await connected.until(lambda v: len(v) == 2)
    assert connected.values[1] == Connected(client.client_id or "", recovered=False, url=b_url)
    assert client.client_id != first and client.url == b_url
    assert b.stores["Counter"].subscriber_count() == 1
    assert await client.call("where") == "B"
    b.stores["Counter"].update(lambda d: d.update(n=101))
    await states.value({"n": 101})  # B's changes reach it: subscribed there

    a_again, _ = await start_server(node("A", 7), port=a.port)
    await b.close()
    await states.value({"n": 7})
    await connected.until(lambda v: len(v) == 3)
    assert connected.values[2].url == a_url and client.url == a_url
    assert await client.call("where") == "A"
    assert a_again.stores["Counter"].subscriber_count() == 1
    assert [s["n"] for s in states.values] == [1, 100, 101, 7]  # no state that did not exist
    assert statuses.values == [
        "connecting",
        "connected",
        "reconnecting",
        "connected",
        "reconnecting",
        "connected",
    ]


async def test_a_node_lost_mid_call_fails_the_call_when_the_next_cannot_resume(
    start_server: StartServer, make_client: MakeClient, proxy: Proxy
) -> None:
    """The network to A fails (no close frame: the session could resume) with
    a call running there. B does not know the session: the call fails with
    ``Disconnected`` and is not run again on B."""
    runs = Recorder()
    a, _ = await start_server(node("A", 1, runs))
    _, b_url = await start_server(node("B", 100, runs))
    cutter, a_url = await proxy(a.port or 0)
    client = make_client(urls=[a_url, b_url], reconnect_delay=60.0, reconnect_max=60.0)
    connected, _ = watch(client)
    await asyncio.wait_for(client.ready(), TIMEOUT)
    call = asyncio.ensure_future(client.call("slow", timeout=30.0))
    await runs.value("A")  # the call is running on A
    cutter.cut(hold=True)  # A is unreachable from now on
    with pytest.raises(Disconnected):
        await asyncio.wait_for(call, TIMEOUT)
    await connected.until(lambda v: len(v) == 2)
    assert connected.values[1].url == b_url and connected.values[1].recovered is False
    assert runs.values == ["A"]


async def test_the_next_node_is_asked_to_resume_with_the_versions_held(
    start_server: StartServer,
    make_client: MakeClient,
    proxy: Proxy,
    fake_server: Callable[..., Awaitable[FakeServer]],
) -> None:
    """What the client tells the node it fails over to: A's resume token and
    the version and epoch of each copy it holds, so a node of a cluster can
    resume the session and send only what was missed."""
    a, _ = await start_server(node("A", 1))
    cutter, a_url = await proxy(a.port or 0)
    fake = await fake_server()
    client = make_client(urls=[a_url, fake.url])
    states = Recorder()
    client.subscribe("Counter", states)
    await states.value({"n": 1})
    token = client._core.resume_token
    assert token is not None
    cutter.cut(hold=True)
    await fake.connected()
    assert fake.hellos[0].resume == token
    sub = await asyncio.wait_for(fake.received.get(), TIMEOUT)
    assert isinstance(sub, Subscribe) and sub.epoch  # A's epoch: only A can match it
    assert sub == Subscribe("Counter", a.stores["Counter"].version(), sub.epoch)
    await fake.send(Snapshot("Counter", 3, {"n": 50}))  # a fresh session's snapshot
    await states.value({"n": 50})
    assert client.url == fake.url


async def test_a_token_function_is_asked_before_each_attempt_whichever_the_node(
    start_server: StartServer, make_client: MakeClient
) -> None:
    [dead] = dead_urls(1)
    seen: list[str | None] = []

    def check(info: Any) -> str:
        seen.append(info.token)
        return "user"

    _, live = await start_server(node("B", 0), authenticate=check)
    asked: list[int] = []

    def token() -> str:
        asked.append(len(asked) + 1)
        return f"token {len(asked)}"

    client = make_client(urls=[dead, live], token=token)
    await asyncio.wait_for(client.ready(), TIMEOUT)
    assert asked == [1, 2]  # for the dead node, then for the live one
    assert seen == ["token 2"]


async def test_every_url_dead_backs_off_per_round(make_client: MakeClient) -> None:
    """Both nodes down: the client alternates between them, moves to the
    second at once and waits its backoff (20 ms, doubling up to 100 ms) only
    once per round; ``ready()`` waits and calls time out saying why."""
    first, second = dead_urls(2)
    client = make_client(urls=[first, second])
    _, reconnecting = watch(client)
    retries = await reconnecting.until(lambda v: len(v) >= 8)
    assert [r["url"] for r in retries[:8]] == [second, first] * 4
    assert [r["attempt"] for r in retries[:8]] == list(range(1, 9))
    hops, backoffs = retries[0:8:2], retries[1:8:2]
    assert [r["delay"] for r in hops] == [0.0] * 4
    for n, retry in enumerate(backoffs):
        assert 0.0 <= retry["delay"] < min(0.1, 0.02 * 2**n)  # full jitter under the ceiling
    assert client.status.value == "reconnecting"
    with pytest.raises(
        RpcTimeout, match=r"could not connect to ws://127\.0\.0\.1:\d+: connection refused"
    ):
        await client.call("where", timeout=0.2)


async def test_without_reconnect_each_url_is_tried_once(make_client: MakeClient) -> None:
    first, second = dead_urls(2)
    client = make_client(urls=[first, second], reconnect=False)
    _, reconnecting = watch(client)
    with pytest.raises(Disconnected, match=f"could not connect to {second}"):
        await asyncio.wait_for(client.ready(), TIMEOUT)
    assert [r["url"] for r in reconnecting.values] == [second]
    assert client.status.value == "disconnected"


@pytest.fixture
async def silent_peer() -> AsyncIterator[Callable[[str], Awaitable[tuple[str, asyncio.Event]]]]:
    """``await silent_peer(kind)`` -> (its URL, set when the client hangs up).
    ``"tcp"`` accepts connections and never answers the WebSocket upgrade;
    ``"websocket"`` completes the upgrade and never says hello."""
    servers: list[Any] = []

    async def start(kind: str) -> tuple[str, asyncio.Event]:
        gone = asyncio.Event()
        if kind == "tcp":

            async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
                await reader.read()  # everything, until the client hangs up
                gone.set()
                writer.close()

            server: Any = await asyncio.start_server(hold, "127.0.0.1", 0)
        else:

            async def mute(ws: ServerConnection) -> None:
                await ws.wait_closed()
                gone.set()

            server = await serve(mute, "127.0.0.1", 0, ping_interval=None)
        servers.append(server)
        return f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}", gone

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("tcp", "no WebSocket handshake within 1 s"),
        ("websocket", "the server sent nothing for 1.0 s"),
    ],
)
async def test_a_node_that_never_answers_is_left_after_the_open_timeout(
    start_server: StartServer,
    make_client: MakeClient,
    silent_peer: Callable[[str], Awaitable[tuple[str, asyncio.Event]]],
    kind: str,
    reason: str,
) -> None:
    """The client hangs up on the silent node after ``open_timeout``, moves
    on, and is served by the next one; a client of that node beside it is
    not disturbed."""
    silent, gone = await silent_peer(kind)
    live_server, live = await start_server(node("B", 0))
    beside = make_client(live)
    beside_states = Recorder()
    beside.subscribe("Counter", beside_states)
    await beside_states.value({"n": 0})

    client = make_client(
        urls=[silent, live], open_timeout=1.0, reconnect_delay=60.0, reconnect_max=60.0
    )
    _, reconnecting = watch(client)
    states = Recorder()
    client.subscribe("Counter", states)
    await states.value({"n": 0})
    await asyncio.wait_for(gone.wait(), TIMEOUT)  # the socket to the silent node is closed
    [retry] = reconnecting.values
    assert retry["url"] == live and retry["delay"] == 0.0 and reason in retry["reason"]
    assert await client.call("where") == "B"
    live_server.stores["Counter"].update(lambda d: d.update(n=1))
    await states.value({"n": 1})
    await beside_states.value({"n": 1})
    assert beside.status.value == "connected" and client.status.value == "connected"


@pytest.mark.parametrize(
    ("arguments", "error", "match"),
    [
        ({"url": "ws://a", "urls": ["ws://b"]}, TypeError, "not both"),
        ({}, TypeError, "no server URL"),
        ({"urls": []}, ValueError, "urls is empty"),
        ({"urls": "ws://a"}, TypeError, r"list of URLs, got str \(for one URL, pass it as url\)"),
        ({"urls": {"ws://a"}}, TypeError, "list of URLs, got set"),
        ({"urls": ["ws://a", 4400]}, TypeError, r"urls\[1\] must be a str, got int"),
        ({"urls": ["ws://a", "http://b"]}, ValueError, r"urls\[1\] is not a WebSocket URL"),
        ({"url": "a:4400"}, ValueError, "url is not a WebSocket URL"),
        (
            {"urls": ["ws://a:80/ws", "ws://b", "ws://A/ws"]},
            ValueError,
            r"urls\[2\] \(ws://A/ws\) is the same server as urls\[0\] \(ws://a:80/ws\)",
        ),
    ],
)
async def test_bad_urls_raise_naming_the_problem(
    arguments: dict[str, Any], error: type[Exception], match: str
) -> None:
    client = Client()
    with pytest.raises(error, match=match):
        client.connect(**arguments)
    assert client.status.value == "disconnected" and client.url is None
    if arguments:  # the constructor checks them the same way
        with pytest.raises(error, match=match):
            Client(**arguments)


async def test_ssl_with_an_unencrypted_url_in_the_list_is_refused() -> None:
    context = ssl.create_default_context()
    with pytest.raises(ValueError, match=r"wss://.*ws://b is not encrypted"):
        Client(urls=["wss://a", "ws://b"], ssl=context)


async def test_a_refused_certificate_leaves_that_node_out(
    certificates: Certificates,
    impostor: Certificates,
    start_server: StartServer,
    make_client: MakeClient,
    proxy: Proxy,
) -> None:
    """Node A presents a certificate of a CA the client does not trust: it
    is reported and never dialled again, and the client is served by B with
    the same ``ssl=`` context, also after B restarts."""
    a, _ = await start_server(node("A", 1), tls=impostor)
    b, b_url = await start_server(node("B", 100), tls=certificates)
    counter, a_proxy = await proxy(a.port or 0)
    a_url = a_proxy.replace("ws://", "wss://")
    client = make_client(urls=[a_url, b_url], ssl=certificates.client_context())
    errors = errors_of(client)
    connected, _ = watch(client)
    await asyncio.wait_for(client.ready(), TIMEOUT)
    assert client.url == b_url
    [refused] = errors.values
    assert isinstance(refused, CertificateError) and f"127.0.0.1:{counter.port}" in str(refused)

    await b.close()
    await start_server(node("B", 100), port=b.port, tls=certificates)
    await connected.until(lambda v: len(v) == 2)
    assert [c.url for c in connected.values] == [b_url, b_url]
    assert counter.connections == 1  # A was not dialled again
