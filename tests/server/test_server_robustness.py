"""Bad peers over real sockets: handshake, garbage, oversized frames, silence."""

from __future__ import annotations

import asyncio
import re
import select
import signal
import socket
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import msgpack
import pytest

from hotstate_rx import PROTOCOL_VERSION, Hotstate, ProtocolError, Server
from hotstate_rx.protocol import (
    Call,
    ClientHello,
    ErrorMessage,
    Ping,
    Pong,
    Result,
    ServerHello,
    Snapshot,
    Subscribe,
)
from hotstate_rx.server.session import DEFAULT_LIMITS

if TYPE_CHECKING:
    from conftest import Connect, RawClient  # fixture types only: several conftest modules exist


async def test_handshake(client: RawClient) -> None:
    assert client.client_id and len(client.client_id) >= 10


async def test_client_ids_are_unique(url: str, raw_connect: Connect) -> None:
    ids = {(await raw_connect(url)).client_id for _ in range(5)}
    assert len(ids) == 5


async def test_version_mismatch_closes_1002(url: str, raw_connect: Connect) -> None:
    client = await raw_connect(url, hello=False)
    await client.send(ClientHello(PROTOCOL_VERSION + 1))
    reply = await client.recv()
    assert isinstance(reply, ErrorMessage) and reply.code == "protocol"
    assert await client.closed() == 1002


async def test_message_before_hello_closes_1002(url: str, raw_connect: Connect) -> None:
    client = await raw_connect(url, hello=False)
    await client.send(Subscribe("Todos"))
    assert isinstance(await client.recv(), ErrorMessage)
    assert await client.closed() == 1002


GARBAGE: list[bytes | str] = [
    b"\xc1\x00",  # not MessagePack
    msgpack.packb([1, 2, 3]),  # not a map
    msgpack.packb({"t": "launch"}),  # unknown type
    msgpack.packb({"t": "sub", "s": 1}),  # wrong key type
    msgpack.packb({"t": "rpc", "i": 1, "n": "inc", "a": b"bin"}),  # bin is not JSON
    msgpack.packb({1: 2}),  # non-str key
    "a text frame",
]


async def test_garbage_next_to_a_healthy_client(
    server: Server, url: str, raw_connect: Connect, loop_errors: list[dict[str, Any]]
) -> None:
    errors: list[tuple[object, str | None]] = []
    server.on("error", lambda exc, cid: errors.append((exc, cid)))
    todos = server.create_store("Todos", {"n": 0})
    server.handle("inc", lambda args: todos.update(lambda d: d.__setitem__("n", d["n"] + 1)))
    healthy, vandal = await raw_connect(url), await raw_connect(url)
    await healthy.send(Subscribe("Todos"))
    assert isinstance(await healthy.recv(), Snapshot)
    for frame in GARBAGE:
        await vandal.send_raw(frame)
        reply = await vandal.recv()
        assert isinstance(reply, ErrorMessage) and reply.code == "bad_message", frame
        await healthy.send(Call(1, "inc"))
        await healthy.recv_until(lambda m: isinstance(m, Result))
    assert todos.get() == {"n": len(GARBAGE)}
    await vandal.send(Call(9, "inc"))  # the vandal's connection is still usable
    assert await vandal.recv() == Result(9, None)
    # each frame fired the server's "error" event, naming the vandal; nothing escaped
    assert [(type(exc), cid) for exc, cid in errors] == [(ProtocolError, vandal.client_id)] * len(
        GARBAGE
    )
    assert loop_errors == []


async def test_bytes_that_are_not_websocket_are_dropped_quietly(
    server: Server, url: str, raw_connect: Connect, loop_errors: list[dict[str, Any]]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GARBAGE / NOT-HTTP\r\n\r\n\x00\xff" * 10)
    await writer.drain()
    await asyncio.wait_for(reader.read(), 5.0)  # the server closes it
    writer.close()
    await writer.wait_closed()
    assert (await raw_connect(url)).client_id
    assert loop_errors == []


async def test_many_bad_frames_in_a_row_close_1008(url: str, raw_connect: Connect) -> None:
    client = await raw_connect(url)
    for _ in range(DEFAULT_LIMITS.max_bad_frames):
        await client.send_raw(b"\xc1")
    assert await client.closed() == 1008


async def test_oversized_frame_closes_1009_and_others_carry_on(
    url: str, raw_connect: Connect
) -> None:
    healthy = await raw_connect(url)
    big = await raw_connect(url, max_size=None)
    await big.send_raw(msgpack.packb({"t": "rpc", "i": 1, "n": "f", "a": "x" * (1 << 20)}))
    assert await big.closed() == 1009
    await healthy.send(Ping())
    assert await healthy.recv() == Pong()


async def test_a_bug_handling_a_frame_closes_that_connection_1011_and_others_carry_on(
    server: Server,
    url: str,
    raw_connect: Connect,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Frames are handled in the socket's data callback: a bug there
    (injected: the hub raises once) closes that connection with 1011 and is
    logged, and other connections go on."""
    healthy, unlucky = await raw_connect(url), await raw_connect(url)
    hub = server._hub
    real = hub.receive

    def receive(conn: Any, frame: bytes | str, now: float) -> Any:
        monkeypatch.setattr(hub, "receive", real)  # once
        raise RuntimeError("a bug in the hub")

    monkeypatch.setattr(hub, "receive", receive)
    await unlucky.send_raw(msgpack.packb({"t": "ping"}))
    assert await unlucky.closed() == 1011
    assert any("handling its frame failed" in r.getMessage() for r in caplog.records)
    await healthy.send(Ping())
    assert await healthy.recv() == Pong()


@pytest.fixture
async def hb_url(server: Server) -> str:
    await server.listen(port=0, host="127.0.0.1", heartbeat=0.2)
    return f"ws://127.0.0.1:{server.port}"


@pytest.mark.server_options(resume_window=0.2)
async def test_heartbeat_drops_a_silent_client_and_keeps_an_answering_one(
    server: Server, hb_url: str, raw_connect: Connect
) -> None:
    gone = asyncio.get_running_loop().create_future()
    server.on("disconnect", gone.set_result)
    silent = await raw_connect(hb_url, hello=False)
    await silent.send(ClientHello())
    hello = await silent.recv(answer_pings=False)
    assert isinstance(hello, ServerHello) and hello.heartbeat == 0.2
    alive = await raw_connect(hb_url)

    async def answer_pings() -> None:
        for _ in range(4):  # 4 pings = 0.8 s = twice the drop deadline
            assert await alive.recv(answer_pings=False) == Ping()
            await alive.send(Pong())

    pump = asyncio.create_task(answer_pings())
    try:
        # The silent client gets pings it never answers, then is closed (1011).
        assert await silent.recv(answer_pings=False) == Ping()
        assert await asyncio.wait_for(gone, 5.0) == hello.client_id
        assert await silent.closed() == 1011
        await asyncio.wait_for(pump, 5.0)
    finally:
        pump.cancel()
        await asyncio.gather(pump, return_exceptions=True)
    await alive.send(Ping())
    assert await alive.recv() == Pong()
    assert server._hub.connection(alive.client_id) is not None


async def test_listen_options(server: Server) -> None:
    with pytest.raises(ValueError, match="heartbeat"):
        await server.listen(port=0, heartbeat=-1)
    with pytest.raises(ValueError, match="compression"):
        Hotstate(compression="gzip")
    with pytest.raises(ValueError, match="max_message_size"):
        Hotstate(max_message_size=0)


async def test_listen_on_a_path(server: Server, raw_connect: Connect) -> None:
    await server.listen(port=0, host="127.0.0.1", path="/ws")
    with pytest.raises(Exception, match="404"):
        await raw_connect(f"ws://127.0.0.1:{server.port}/other")
    client = await raw_connect(f"ws://127.0.0.1:{server.port}/ws")
    assert client.client_id
    with pytest.raises(RuntimeError, match="already listening"):
        await server.listen(port=0)


async def test_listen_without_a_path_accepts_every_path(url: str, raw_connect: Connect) -> None:
    for path in ("/", "/ws", "/any/deep/path"):
        assert (await raw_connect(url + path)).client_id


async def test_close_is_idempotent_and_closes_connections(
    server: Server, url: str, client: RawClient, raw_connect: Connect
) -> None:

    await server.close()
    assert await client.closed() == 1001
    await server.close()
    with pytest.raises(OSError):  # it no longer listens
        await raw_connect(url)


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_run_blocks_until_interrupted_then_closes_cleanly(stop: signal.Signals) -> None:
    """Ctrl-C, or SIGTERM as a process manager stops a service."""
    code = (
        "from hotstate_rx import Hotstate\n"
        "Hotstate().run(port=0, host='127.0.0.1')\n"
        "print('closed', flush=True)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-u", "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        readable, _, _ = select.select([proc.stdout], [], [], 30)
        assert readable, "run() printed nothing within 30 s"
        first = proc.stdout.readline()
        assert re.fullmatch(r"listening on ws://127\.0\.0\.1:\d+/ \(Ctrl-C stops\)\n", first), first
        proc.send_signal(stop)
        out, _ = proc.communicate(timeout=10)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 0
    assert out == "stopped\nclosed\n"


def test_run_on_a_busy_port_says_so_without_a_traceback() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code = f"from hotstate_rx import Hotstate\nHotstate().run(port={port}, host='127.0.0.1')\n"
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=30
        )
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr == (
        f"cannot listen on 127.0.0.1:{port}: the port is already in use "
        "(is another server running?); stop it or choose another port\n"
    )
