"""The batching seam against the installed ``websockets``, over real loopback sockets.

:mod:`hotstate_rx.net.batching` writes frames behind websockets' back; its
docstring lists what of websockets that relies on. Each test here checks one
of those points on the installed release, so an upgrade that breaks one
fails here rather than in production:

- frames arrive intact and in order, in both directions, at every length
  encoding, in bursts and across loop iterations;
- a burst within one loop iteration leaves in two writes where websockets'
  own path makes one per frame, and a lone frame is written at once;
- a connection that is no longer open, or that negotiated an extension,
  goes through websockets' own path (``broadcast``), and held frames are
  dropped once the connection left ``OPEN``;
- the bytes our framing writes equal those ``Connection.send`` writes;
- websockets leaves nothing queued in its protocol object after its own
  writes (a send, a ping, the automatic pong, a close);
- ``queued`` counts held frames and the transport's buffer, and ``drained()``
  waits while a peer does not read, until it does or the connection is lost;
- the installed release is inside the range ``pyproject.toml`` pins.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import tomllib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
import websockets
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.connection import Connection, broadcast
from websockets.asyncio.server import ServerConnection, serve
from websockets.frames import BINARY, Frame

from hotstate_rx.net import batching
from hotstate_rx.net.batching import (
    Batcher,
    InlineClientConnection,
    InlineServerConnection,
    Outbox,
    binary_frame,
    server_connection,
)

TIMEOUT = 5.0
ROOT = Path(__file__).resolve().parents[2]

SIZES = [0, 1, 125, 126, 65_535, 65_536, 200_000]
"""Payload lengths around RFC 6455 §5.2's three length encodings (7, 16 and 64 bits)."""

Pair = tuple[ServerConnection, ClientConnection]


@asynccontextmanager
async def ws_pair(
    *,
    server_compression: str | None = None,
    client_compression: str | None = None,
    batcher: Batcher | None = None,
) -> AsyncIterator[Pair]:
    """One open websockets connection on loopback: (server side, client side).
    With ``batcher``, both ends are the connection classes that tell it when
    data arrives (:func:`server_connection`, :class:`InlineClientConnection`),
    their messages still reaching ``recv()`` (:func:`to_recv`)."""
    accepted: asyncio.Future[ServerConnection] = asyncio.get_running_loop().create_future()

    async def handler(ws: ServerConnection) -> None:
        if isinstance(ws, InlineServerConnection):
            to_recv(ws)
        accepted.set_result(ws)
        await ws.wait_closed()

    classes: dict[str, Any] = {}
    if batcher is not None:
        classes = {"create_connection": server_connection(batcher)}
    async with serve(
        handler, "127.0.0.1", 0, ping_interval=None, compression=server_compression, **classes
    ) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        if batcher is not None:
            classes = {"create_connection": InlineClientConnection}
        async with connect(
            f"ws://127.0.0.1:{port}", ping_interval=None, compression=client_compression, **classes
        ) as client:
            if isinstance(client, InlineClientConnection):
                client.batcher = batcher
                to_recv(client)
            server_ws = await asyncio.wait_for(accepted, TIMEOUT)
            yield server_ws, client


def to_recv(ws: InlineClientConnection | InlineServerConnection) -> None:
    """Hand an inline connection's messages back to its ``recv()``, as a plain
    connection would have them."""
    back = ws.recv_messages.put
    ws.deliver_to(lambda message: back(Frame(BINARY, message)))  # type: ignore[arg-type]


@pytest.fixture(params=["server", "client"])
def side(request: pytest.FixtureRequest) -> str:
    """Which end sends: servers write unmasked frames, clients masked ones."""
    return str(request.param)


def ends(pair: Pair, side: str) -> tuple[Connection, Connection]:
    """(sender, receiver) of ``pair`` for ``side``."""
    server_ws, client_ws = pair
    return (server_ws, client_ws) if side == "server" else (client_ws, server_ws)


def spy_writes(ws: Connection) -> list[bytes]:
    """Record every write to ``ws``'s transport (each one a send system call
    when the transport's buffer is empty), still writing it."""
    writes: list[bytes] = []
    transport: Any = ws.transport
    real = transport.write

    def write(data: bytes) -> None:
        writes.append(bytes(data))
        real(data)

    transport.write = write
    return writes


@asynccontextmanager
async def sending(
    side: str, batcher: Batcher | None = None
) -> AsyncIterator[tuple[Outbox, list[bytes], Connection]]:
    """An outbox on ``side``'s end of a fresh pair (its own batcher unless one
    is given), the writes to its transport, and the other end."""
    async with ws_pair() as pair:
        sender, receiver = ends(pair, side)
        writes = spy_writes(sender)
        yield Outbox(sender, batcher or Batcher(asyncio.get_running_loop())), writes, receiver


async def receive(ws: Connection, count: int) -> list[bytes]:
    async with asyncio.timeout(TIMEOUT):
        return [bytes(await ws.recv(decode=False)) for _ in range(count)]


def payloads() -> list[bytes]:
    return [bytes([n % 251]) * size for n, size in enumerate(SIZES)]


async def test_frames_arrive_intact_and_in_order(side: str) -> None:
    async with ws_pair() as pair:
        sender, receiver = ends(pair, side)
        outbox = Outbox(sender, Batcher(asyncio.get_running_loop()))
        assert outbox.plain
        sent = payloads()
        for message in sent:  # one burst: the first written at once, the rest joined
            outbox.send(message)
        for message in sent:  # one per loop iteration
            outbox.send(message)
            await asyncio.sleep(0)
        assert await receive(receiver, 2 * len(sent)) == sent + sent


async def test_one_serialized_frame_fits_every_server_connection() -> None:
    async with ws_pair() as (a_server, a_client), ws_pair() as (b_server, b_client):
        batcher = Batcher(asyncio.get_running_loop())
        outboxes = [Outbox(a_server, batcher), Outbox(b_server, batcher)]
        frames = [binary_frame(m) for m in payloads()]
        for frame in frames:
            for outbox in outboxes:
                outbox.write(frame)
        assert await receive(a_client, len(frames)) == payloads()
        assert await receive(b_client, len(frames)) == payloads()


async def test_a_burst_leaves_in_two_writes_where_websockets_makes_one_per_frame(
    side: str,
) -> None:
    async with sending(side) as (outbox, writes, receiver):
        burst = [f"message {n}".encode() for n in range(100)]
        for message in burst:
            outbox.send(message)
        assert len(writes) == 1, "the first frame leaves at once"
        await asyncio.sleep(0)
        assert len(writes) == 2, "the rest leave together, one loop iteration later"
        assert await receive(receiver, len(burst)) == burst

        writes.clear()
        for message in burst:  # websockets' own path, for comparison
            broadcast([outbox.ws], message)
        assert len(writes) == len(burst)
        assert await receive(receiver, len(burst)) == burst


class ManualLoop:
    """A loop stand-in whose ``call_soon`` only records: the batcher's flushes
    run when the test says so, and the test sees whether one was asked for."""

    def __init__(self) -> None:
        self.callbacks: list[Callable[[], None]] = []

    def call_soon(self, callback: Callable[[], None]) -> None:
        self.callbacks.append(callback)

    def run(self) -> None:
        callbacks, self.callbacks = self.callbacks, []
        for callback in callbacks:
            callback()


async def test_a_lone_frame_is_written_at_once(side: str) -> None:
    async with sending(side) as (outbox, writes, receiver):
        outbox.send(b"first")
        assert len(writes) == 1
        await asyncio.sleep(0)  # the batcher's flush: nothing was held
        assert len(writes) == 1
        outbox.send(b"later")  # a new iteration: at once again
        assert len(writes) == 2
        assert await receive(receiver, 2) == [b"first", b"later"]


async def test_data_arriving_starts_a_new_round_of_writes(side: str) -> None:
    """A request and its answer: each answer leaves at once, however many
    round trips come in a row, with nothing scheduled (the connection classes
    tell the batcher when data arrives)."""
    loop = ManualLoop()
    batcher = Batcher(loop)  # type: ignore[arg-type]
    async with ws_pair(batcher=batcher) as pair:
        sender, receiver = ends(pair, side)
        writes = spy_writes(sender)
        outbox = Outbox(sender, batcher)
        for n in range(3):
            outbox.send(b"answer %d" % n)
            assert len(writes) == n + 1
            assert await receive(receiver, 1) == [b"answer %d" % n]
            await receiver.send(b"the next request")
            assert await receive(sender, 1) == [b"the next request"]
        assert loop.callbacks == []


async def test_a_later_frame_with_no_data_in_between_waits_one_iteration_at_most(
    side: str,
) -> None:
    """An answer to data needs no callback; a frame written in a later
    iteration of that round, nothing having arrived since, waits for the
    flush it schedules: one loop iteration."""
    batcher = Batcher(asyncio.get_running_loop())
    async with ws_pair(batcher=batcher) as pair:
        sender, receiver = ends(pair, side)
        writes = spy_writes(sender)
        outbox = Outbox(sender, batcher)
        await receiver.send(b"request")
        assert await receive(sender, 1) == [b"request"]
        outbox.send(b"answer")
        await asyncio.sleep(0)
        outbox.send(b"later")  # the same round: held, a flush is scheduled
        assert len(writes) == 1
        await asyncio.sleep(0)  # the flush, which also starts a new round
        assert len(writes) == 2
        outbox.send(b"then")
        assert len(writes) == 3, "the round after a flush starts at once"
        assert await receive(receiver, 3) == [b"answer", b"later", b"then"]


async def test_frames_sent_before_a_close_arrive_before_it(side: str) -> None:
    async with ws_pair() as pair:
        sender, receiver = ends(pair, side)
        outbox = Outbox(sender, Batcher(asyncio.get_running_loop()))
        for message in (b"a", b"b", b"c"):
            outbox.send(message)
        outbox.flush()
        await sender.close(1000, "done")
        assert await receive(receiver, 3) == [b"a", b"b", b"c"]
        with pytest.raises(websockets.ConnectionClosedOK):
            await receiver.recv()


async def test_a_closed_connection_takes_websockets_path_and_drops_what_is_held(
    side: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with ws_pair() as pair:
        sender, receiver = ends(pair, side)
        loop = ManualLoop()
        outbox = Outbox(sender, Batcher(loop))  # type: ignore[arg-type]
        outbox.send(b"written")
        outbox.send(b"held")
        await sender.close()
        assert await receive(receiver, 1) == [b"written"]
        writes = spy_writes(sender)
        fallback = record_broadcasts(monkeypatch)
        assert not outbox.plain
        loop.run()
        outbox.send(b"after the close")
        assert fallback == [b"after the close"], "websockets' path, which skips it"
        assert writes == []


def record_broadcasts(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Record what the outboxes hand to websockets' ``broadcast``, still sending it."""
    handed: list[bytes] = []
    real = batching.broadcast

    def spy(connections: Any, message: bytes) -> None:
        handed.append(message)
        real(connections, message)

    monkeypatch.setattr(batching, "broadcast", spy)
    return handed


async def test_a_connection_with_an_extension_takes_websockets_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with ws_pair(server_compression="deflate", client_compression="deflate") as pair:
        for sender, receiver in (pair, pair[::-1]):
            assert sender.protocol.extensions, "per-message deflate was negotiated"
            outbox = Outbox(sender, Batcher(asyncio.get_running_loop()))
            assert not outbox.plain
            handed = record_broadcasts(monkeypatch)
            writes = spy_writes(sender)
            sent = [b"a" * 10_000, b"b" * 10_000, b""]
            for message in sent:
                outbox.send(message)
            assert handed == sent
            assert sum(map(len, writes)) < 1_000, "compressed, by websockets"
            assert await receive(receiver, len(sent)) == sent


async def test_an_extension_offered_but_declined_leaves_the_connection_plain() -> None:
    async with ws_pair(server_compression=None, client_compression="deflate") as pair:
        for ws in pair:
            assert not ws.protocol.extensions
            assert Outbox(ws, Batcher(asyncio.get_running_loop())).plain


@pytest.mark.parametrize("size", SIZES)
async def test_our_frames_are_the_bytes_websockets_writes(
    side: str, size: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    message = bytes(range(256)) * (size // 256) + bytes(size % 256)
    async with ws_pair() as pair:
        sender, receiver = ends(pair, side)
        # Client frames carry a random mask key (RFC 6455 §5.3): pin it for both paths.
        key = b"\x9a\x3c\x51\xe7"
        monkeypatch.setattr("websockets.frames.secrets.token_bytes", lambda n: key)
        monkeypatch.setattr(batching, "_entropy", lambda n: key * (n // 4))
        writes = spy_writes(sender)
        await sender.send(message)
        theirs = b"".join(writes)
        writes.clear()
        Outbox(sender, Batcher(asyncio.get_running_loop())).send(message)
        ours = b"".join(writes)
        assert ours == theirs
        assert binary_frame(message, mask=side == "client") == theirs
        assert await receive(receiver, 2) == [message, message]


async def test_websockets_leaves_nothing_queued_between_our_writes(side: str) -> None:
    """Everything websockets queues in its protocol object is written in the
    same step; our frames interleave with its own (a send, a ping, the
    automatic pong) and all arrive intact."""
    async with ws_pair() as pair:
        sender, receiver = ends(pair, side)
        protocol = sender.protocol
        outbox = Outbox(sender, Batcher(asyncio.get_running_loop()))
        outbox.send(b"1")
        await sender.send(b"2")
        assert protocol.data_to_send() == []
        outbox.send(b"3")
        pong = await sender.ping()
        assert protocol.data_to_send() == []
        outbox.send(b"4")
        await asyncio.wait_for(await receiver.ping(), TIMEOUT)  # answered by sender's pong
        assert protocol.data_to_send() == []
        outbox.send(b"5")
        assert await receive(receiver, 5) == [b"1", b"2", b"3", b"4", b"5"]
        await asyncio.wait_for(pong, TIMEOUT)
        await receiver.close()
        await asyncio.wait_for(sender.wait_closed(), TIMEOUT)  # sender echoed the close
        assert protocol.data_to_send() in ([], [b""])  # nothing, or the end-of-stream mark


async def test_queued_counts_everything_and_drained_waits_for_the_reader() -> None:
    big = [bytes([n]) * 1_000_000 for n in range(16)]  # more than the kernel buffers hold
    async with ws_pair() as (server, client):
        client.transport.pause_reading()  # a peer that does not read, for now
        outbox = Outbox(server, Batcher(asyncio.get_running_loop()))
        for message in big:  # the first is written at once, the others held
            outbox.send(message)
        assert outbox.queued >= 15_000_000
        await asyncio.sleep(0)  # the batcher's flush: the transport holds them now
        assert outbox.queued >= 5_000_000  # whatever the kernel took
        waiting = asyncio.ensure_future(outbox.drained())
        await asyncio.sleep(0)
        assert not waiting.done()
        client.transport.resume_reading()
        for message in big:
            assert await asyncio.wait_for(client.recv(), TIMEOUT) == message
        await asyncio.wait_for(waiting, TIMEOUT)
        assert outbox.queued == 0
        client.transport.pause_reading()
        for message in big:
            outbox.send(message)
        await asyncio.sleep(0)
        waiting = asyncio.ensure_future(outbox.drained())
        server.transport.abort()  # lost while waiting: the wait ends too
        await asyncio.wait_for(asyncio.gather(waiting, return_exceptions=True), TIMEOUT)
        client.transport.resume_reading()  # so that it sees the connection end


def test_the_installed_websockets_is_inside_the_pinned_range() -> None:
    """The seam is tested on the installed release only: the pin must say so."""
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pin = next(d for d in dependencies if re.match(r"websockets\b", d))
    match = re.fullmatch(r"websockets>=([\d.]+),<([\d.]+)", pin.replace(" ", ""))
    assert match, f"websockets must be pinned to a tested range >=low,<high, not {pin!r}"
    low, high = (tuple(int(p) for p in bound.split(".")) for bound in match.groups())
    installed = tuple(int(p) for p in re.findall(r"\d+", version("websockets"))[:3])
    assert low <= installed < high, f"websockets {version('websockets')} is outside {pin}"


@asynccontextmanager
async def inline_pair(
    serve_client: Callable[[ServerConnection], Awaitable[None]],
) -> AsyncIterator[InlineClientConnection]:
    """An :class:`InlineClientConnection` to a server running ``serve_client``."""

    async def handler(ws: ServerConnection) -> None:
        await serve_client(ws)
        await ws.wait_closed()

    async with serve(handler, "127.0.0.1", 0, ping_interval=None) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        url = f"ws://127.0.0.1:{port}"
        async with connect(url, ping_interval=None, create_connection=InlineClientConnection) as ws:
            assert isinstance(ws, InlineClientConnection)
            yield ws


class Inbox:
    """What an inline connection handed over, and from where."""

    def __init__(self, expected: int) -> None:
        self.messages: list[bytes | str] = []
        self.in_a_task: list[bool] = []
        self.full = asyncio.Event()
        self.expected = expected

    def __call__(self, message: bytes | str) -> None:
        self.messages.append(message)
        self.in_a_task.append(asyncio.current_task() is not None)
        if len(self.messages) >= self.expected:
            self.full.set()

    async def wait(self) -> list[bytes | str]:
        await asyncio.wait_for(self.full.wait(), TIMEOUT)
        return self.messages


async def test_an_inline_connection_hands_messages_over_in_its_data_callback() -> None:
    sent: list[bytes | str] = [*payloads(), "text", b"last"]

    async def serve_client(ws: ServerConnection) -> None:
        await ws.recv()  # the client is ready
        for message in sent:
            await ws.send(message)

    async with inline_pair(serve_client) as ws:
        inbox = Inbox(len(sent))
        ws.deliver_to(inbox)
        await ws.send(b"go")
        assert await inbox.wait() == sent  # in order, binary as bytes, text as str
        assert not any(inbox.in_a_task), "no reader task between the socket and the callback"
        recv = asyncio.ensure_future(ws.recv())
        await asyncio.sleep(0)
        assert not recv.done(), "nothing reaches recv()"
        recv.cancel()


async def test_messages_before_deliver_to_are_handed_over_first() -> None:
    async def serve_client(ws: ServerConnection) -> None:
        await ws.send(b"early 1")
        await ws.send(b"early 2")

    async with inline_pair(serve_client) as ws:
        # A pong comes after every frame the server sent before it.
        await asyncio.wait_for(await ws.ping(), TIMEOUT)
        inbox = Inbox(2)
        ws.deliver_to(inbox)
        assert inbox.messages == [b"early 1", b"early 2"]


async def test_fragmented_messages_are_reassembled() -> None:
    async def serve_client(ws: ServerConnection) -> None:
        await ws.send([b"ab", b"cd", b"ef"])  # an iterable: one frame per item
        await ws.send(["te", "xt"])
        await ws.send(b"whole")

    async with inline_pair(serve_client) as ws:
        inbox = Inbox(3)
        ws.deliver_to(inbox)
        assert await inbox.wait() == [b"abcdef", "text", b"whole"]


async def test_a_message_in_too_many_fragments_loses_the_connection() -> None:
    async def serve_client(ws: ServerConnection) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            await ws.send(iter([b"x"] * (batching.MAX_FRAGMENTS + 10)))

    async with inline_pair(serve_client) as ws:
        inbox = Inbox(1)
        ws.deliver_to(inbox)
        await asyncio.wait_for(ws.wait_closed(), TIMEOUT)
        assert inbox.messages == []
        assert ws.protocol.close_exc.rcvd is None, "cut, not closed"


async def test_an_inline_connection_closes_as_any_other() -> None:
    async def serve_client(ws: ServerConnection) -> None:
        await ws.send(b"bye")
        await ws.close(4000, "done")

    async with inline_pair(serve_client) as ws:
        inbox = Inbox(1)
        ws.deliver_to(inbox)
        await asyncio.wait_for(ws.wait_closed(), TIMEOUT)
        assert inbox.messages == [b"bye"]
        closed = ws.protocol.close_exc
        assert closed.rcvd is not None and closed.rcvd.code == 4000
        with pytest.raises(websockets.ConnectionClosed):
            await ws.recv()


class Taker:
    """A server-side callback that records messages and holds the connection
    after each of ``holding_at``."""

    def __init__(self, ws: InlineServerConnection, holding_at: set[bytes | str]) -> None:
        self.ws = ws
        self.got: list[bytes | str] = []
        self.holding_at = holding_at
        self.held = asyncio.Event()

    def __call__(self, message: bytes | str) -> None:
        self.got.append(message)
        if message in self.holding_at:
            self.ws.hold()
            self.held.set()

    async def until_held(self) -> None:
        await asyncio.wait_for(self.held.wait(), TIMEOUT)
        self.held.clear()


def burst(client: ClientConnection, messages: list[bytes]) -> None:
    """``messages`` in one write: the server parses them from one read."""
    client.transport.write(b"".join(binary_frame(m, mask=True) for m in messages))


async def test_a_held_connection_keeps_what_it_parsed_and_reads_no_more() -> None:
    """The server's inline connection: a callback that holds it (a rate limit)
    stops the hand-over mid-read; what waits comes out in order on release,
    and reading goes on."""
    batcher = Batcher(asyncio.get_running_loop())
    async with ws_pair(batcher=batcher) as (server, client):
        assert isinstance(server, InlineServerConnection)
        taker = Taker(server, {b"2", b"5"})
        server.deliver_to(taker)
        sent = [b"%d" % n for n in range(8)]
        burst(client, sent)
        await taker.until_held()
        assert taker.got == sent[:3]
        assert not server.transport.is_reading()
        server.release()  # up to the next hold, at once
        assert taker.got == sent[:6]
        assert not server.transport.is_reading()
        server.release()
        assert taker.got == sent
        assert server.transport.is_reading()
        await client.send(b"later")
        await asyncio.wait_for(await client.ping(), TIMEOUT)  # read, in order
        assert taker.got == [*sent, b"later"]


async def test_what_waits_on_a_held_connection_can_be_dropped() -> None:
    batcher = Batcher(asyncio.get_running_loop())
    async with ws_pair(batcher=batcher) as (server, client):
        assert isinstance(server, InlineServerConnection)
        taker = Taker(server, {b"first"})
        server.deliver_to(taker)
        burst(client, [b"first", b"second"])
        await taker.until_held()
        server.drop_waiting()
        server.release()
        await client.send(b"after")  # no callback any more: nothing is handed over
        await asyncio.wait_for(await client.ping(), TIMEOUT)
        assert taker.got == [b"first"]
