"""Server fixtures and a raw protocol client for tests that must not depend on
``hotstate_rx.client``: it speaks the wire protocol through
``hotstate_rx.protocol`` over a plain ``websockets`` connection."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme
import uvicorn
from node_proc import NodeProcess
from redis_server import HOW_TO_GET_ONE, RedisServer, find_redis_server, in_ci
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from hotstate_rx import Hotstate, Server
from hotstate_rx.client import Client
from hotstate_rx.protocol import (
    ClientHello,
    Message,
    Ping,
    Pong,
    ServerHello,
    ServerMessage,
    decode_server_message,
    encode,
)

TIMEOUT = 5.0
"""Upper bound for anything a test awaits; tests never sleep to synchronise."""

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


@pytest.fixture
async def chromium() -> AsyncIterator[Any]:
    """Debian's headless Chromium through playwright (never a downloaded browser);
    the test skips, saying why, where it is not installed."""
    if not CHROMIUM.exists():
        pytest.skip(
            "Debian's Chromium is not at /usr/bin/chromium (apt-get install chromium; "
            "`python3 tasks.py test` installs it as root)"
        )
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
async def loop_errors() -> AsyncIterator[list[dict[str, Any]]]:
    """Everything that reaches the loop's exception handler during the test
    (a task that died with an exception nobody awaited, for one)."""
    loop = asyncio.get_running_loop()
    seen: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: seen.append(context))
    yield seen
    loop.set_exception_handler(previous)


@pytest.fixture
def artifacts() -> Path:
    """Where browser tests leave their screenshots (git-ignored)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@dataclass(frozen=True)
class Certificates:
    """A throwaway CA and a server certificate it signed for 127.0.0.1 and
    localhost, made at test time (trustme) and written as PEM files."""

    ca: trustme.CA
    certfile: Path
    """The server's certificate and chain."""
    keyfile: Path
    cafile: Path
    """The CA's certificate: what a client trusts."""

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.certfile, self.keyfile)
        return context

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts this CA (and nothing else)."""
        return ssl.create_default_context(cafile=self.cafile)


def issue_certificates(directory: Path) -> Certificates:
    """A new throwaway CA and a server certificate it signed, in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    paths = Certificates(ca, directory / "cert.pem", directory / "key.pem", directory / "ca.pem")
    paths.certfile.write_bytes(b"".join(pem.bytes() for pem in leaf.cert_chain_pems))
    leaf.private_key_pem.write_to_path(paths.keyfile)
    ca.cert_pem.write_to_path(paths.cafile)
    return paths


@pytest.fixture
def certificates(tmp_path: Path) -> Certificates:
    return issue_certificates(tmp_path / "trusted")


@pytest.fixture
def impostor(tmp_path: Path) -> Certificates:
    """Another CA and certificate: a server a client trusting ``certificates`` refuses."""
    return issue_certificates(tmp_path / "impostor")


@pytest.fixture(scope="session")
def redis_binary() -> Path:
    """The ``redis-server`` to run (tests/redis_server.py says where it is
    looked for). Without one the test skips and says how to get one, except
    in CI, where it fails: CI must run the Redis tests."""
    binary = find_redis_server()
    if binary is None:
        if in_ci():
            pytest.fail(f"CI must run the Redis tests, and there is {HOW_TO_GET_ONE}")
        pytest.skip(HOW_TO_GET_ONE)
    return binary


@pytest.fixture
def redis_server(redis_binary: Path) -> Iterator[RedisServer]:
    """A fresh redis-server of this test's own (AOF on, so a restart keeps
    the data): for tests that stop, kill, pause or restart it."""
    with RedisServer(redis_binary, appendonly=True) as redis:
        yield redis


@pytest.fixture(scope="session")
def _shared_redis_process(redis_binary: Path) -> Iterator[RedisServer]:
    with RedisServer(redis_binary) as redis:
        yield redis


@pytest.fixture
def shared_redis(_shared_redis_process: RedisServer) -> RedisServer:
    """One redis-server for the whole run, emptied (FLUSHALL) before each
    test: the cheap one for tests that only use it. Never stop, kill or
    pause it (use ``redis_server`` for that)."""
    if _shared_redis_process.pid is None:  # a test broke the rule: give the next ones a server
        _shared_redis_process.start()
    _shared_redis_process.flushall()
    return _shared_redis_process


StartNode = Callable[..., Awaitable[NodeProcess]]


@pytest.fixture
async def start_node() -> AsyncIterator[StartNode]:
    """``await start_node(target, port=None, args=..., env=...)`` runs a server
    subprocess until it says ``ready`` (tests/node_proc.py); every node it
    started is killed when the test ends, however it ends."""
    started: list[NodeProcess] = []

    async def start(target: str | Path, port: int | None = None, **options: Any) -> NodeProcess:
        node = NodeProcess(target, port, **options)
        started.append(node)
        return await node.start()

    yield start
    await asyncio.gather(*(node.close() for node in started))


class RawClient:
    """A minimal protocol client: send messages or raw frames, receive messages."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.client_id: str | None = None
        self.frames: list[bytes] = []
        """Every raw frame received, in order (to compare bytes across clients)."""

    async def hello(self, version: int | None = None) -> ServerHello:
        await self.send(ClientHello() if version is None else ClientHello(version))
        reply = await self.recv()
        assert isinstance(reply, ServerHello), reply
        self.client_id = reply.client_id
        return reply

    async def send(self, msg: Message) -> None:
        await self.ws.send(encode(msg))

    async def send_raw(self, frame: bytes | str) -> None:
        await self.ws.send(frame)

    async def recv(self, *, answer_pings: bool = True) -> ServerMessage:
        """The next message (pings are answered and skipped unless asked not to)."""
        while True:
            frame = await asyncio.wait_for(self.ws.recv(), TIMEOUT)
            assert isinstance(frame, bytes), f"server sent a text frame: {frame!r}"
            self.frames.append(frame)
            msg = decode_server_message(frame)
            if answer_pings and isinstance(msg, Ping):
                await self.send(Pong())
                continue
            return msg

    async def recv_until(self, predicate: Callable[[ServerMessage], bool]) -> list[ServerMessage]:
        """Messages up to and including the first one matching ``predicate``."""
        seen: list[ServerMessage] = []
        while not seen or not predicate(seen[-1]):
            seen.append(await self.recv())
        return seen

    async def closed(self) -> int | None:
        """Wait until the server closes the connection; return the close code."""
        try:
            while True:
                await asyncio.wait_for(self.ws.recv(), TIMEOUT)
        except ConnectionClosed as exc:
            return exc.rcvd.code if exc.rcvd is not None else None


Connect = Callable[..., Awaitable[RawClient]]


@pytest.fixture
async def make_client() -> AsyncIterator[Callable[..., Client]]:
    """``make_client(url=None, **options)`` -> a client with fast retries,
    closed at teardown; then no client task may be left running."""
    clients: list[Client] = []

    def make(url: str | None = None, **options: Any) -> Client:
        options = {"reconnect_delay": 0.02, "reconnect_max": 0.1, "rpc_timeout": 3.0, **options}
        client = Client(url, **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()
    leftovers = [t for t in asyncio.all_tasks() if t.get_name().startswith("hotstate client")]
    assert leftovers == []


@pytest.fixture
async def server(request: pytest.FixtureRequest) -> AsyncIterator[Server]:
    """A fresh server, closed at teardown; ``@pytest.mark.server_options(...)``
    passes options to it."""
    marker = request.node.get_closest_marker("server_options")
    srv = Hotstate(**(marker.kwargs if marker else {}))
    yield srv
    await srv.close()


@pytest.fixture
async def url(server: Server) -> str:
    """Start ``server`` on a free loopback port; its URL."""
    await server.listen(port=0, host="127.0.0.1")
    return f"ws://127.0.0.1:{server.port}"


@pytest.fixture
async def raw_connect() -> AsyncIterator[Connect]:
    """``await raw_connect(url, hello=True)`` -> RawClient; every one closed at teardown."""
    clients: list[RawClient] = []

    async def open_client(url: str, *, hello: bool = True, **kwargs: Any) -> RawClient:
        ws = await asyncio.wait_for(connect(url, ping_interval=None, **kwargs), TIMEOUT)
        client = RawClient(ws)
        clients.append(client)
        if hello:
            await client.hello()
        return client

    yield open_client
    for client in clients:
        await client.ws.close()


@pytest.fixture
async def client(url: str, raw_connect: Connect) -> RawClient:
    """One raw client that completed the handshake with the listening server."""
    return await raw_connect(url)


class _Uvicorn(uvicorn.Server):
    """uvicorn.Server that reports, through an event, when it accepts connections."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = asyncio.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.ready.set()


ServeApp = Callable[..., Awaitable[int]]


@pytest.fixture
async def serve_app() -> AsyncIterator[ServeApp]:
    """``port = await serve_app(app, **config)``: run ``app`` with uvicorn (``config``:
    more ``uvicorn.Config`` options, TLS files say); stopped at teardown."""
    running: list[tuple[_Uvicorn, asyncio.Task[None]]] = []

    async def start(app: Any, **options: Any) -> int:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        config = uvicorn.Config(app, ws="websockets-sansio", log_level="warning", **options)
        server = _Uvicorn(config)
        task = asyncio.create_task(server.serve(sockets=[sock]))
        running.append((server, task))
        await asyncio.wait_for(server.ready.wait(), TIMEOUT)
        return sock.getsockname()[1]

    yield start
    for server, task in running:
        server.should_exit = True
        await asyncio.wait_for(task, TIMEOUT)


Serve = Callable[[Server], Awaitable[str]]


@pytest.fixture(params=["listen", "attach"])
async def serve_on(request: pytest.FixtureRequest, serve_app: ServeApp) -> AsyncIterator[Serve]:
    """``url = await serve_on(server)``: serve ``server`` on a loopback port, standalone
    (``listen``) or ``attach``-ed to a Starlette app under uvicorn, one test run
    each, so that both transports are held to the same behaviour. Every
    server is closed at teardown."""
    from starlette.applications import Starlette

    served: list[Server] = []

    async def serve(server: Server) -> str:
        served.append(server)
        if request.param == "listen":
            await server.listen(port=0, host="127.0.0.1")
            return f"ws://127.0.0.1:{server.port}/ws"
        app = Starlette()
        server.attach(app, path="/ws")
        return f"ws://127.0.0.1:{await serve_app(app)}/ws"

    yield serve
    for server in served:
        await server.close()
