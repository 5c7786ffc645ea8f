"""What a real server never sends, from a scripted fake one: gaps, patches
that do not apply, garbage frames. The client resyncs or reports, never
crashes, and never shows a state that did not exist."""

from __future__ import annotations

import asyncio

import msgpack
import pytest
from client_helpers import TIMEOUT, FakeServer, MakeClient, Recorder, errors_of

from hotstate_rx import HotstateError, ProtocolError
from hotstate_rx.client import Client
from hotstate_rx.protocol import (
    Call,
    ErrorMessage,
    EventMessage,
    PatchMessage,
    Result,
    Snapshot,
    Subscribe,
)


def push(n: int) -> list[dict]:
    return [{"op": "add", "path": "/items/-", "value": n}]


@pytest.fixture
async def fake(fake_server) -> FakeServer:
    return await fake_server()


async def subscribed(fake: FakeServer, make_client: MakeClient) -> tuple[Client, Recorder]:
    client = make_client(fake.url)
    states = Recorder()
    client.subscribe("Todos", states)
    await fake.expect(Subscribe("Todos"))
    await fake.send(Snapshot("Todos", 1, {"items": []}))
    await states.value({"items": []})
    return client, states


async def test_a_gap_resyncs_and_never_shows_a_mixed_state(
    fake: FakeServer, make_client: MakeClient
) -> None:
    _, states = await subscribed(fake, make_client)
    await fake.send(PatchMessage("Todos", 2, push(2)))
    await fake.send(PatchMessage("Todos", 4, push(4)))  # v3 was lost
    await fake.expect(Subscribe("Todos"))
    await fake.send(PatchMessage("Todos", 5, push(5)))  # dropped: no usable copy
    await fake.send(Snapshot("Todos", 5, {"items": [2, 3, 4, 5]}))
    await fake.send(PatchMessage("Todos", 6, push(6)))
    await states.value({"items": [2, 3, 4, 5, 6]})
    assert [s["items"] for s in states.values] == [[], [2], [2, 3, 4, 5], [2, 3, 4, 5, 6]]


async def test_a_patch_that_does_not_apply_resyncs_and_reports(
    fake: FakeServer, make_client: MakeClient
) -> None:
    client, states = await subscribed(fake, make_client)
    errors = errors_of(client)
    await fake.send(PatchMessage("Todos", 2, [{"op": "remove", "path": "/missing"}]))
    await fake.expect(Subscribe("Todos"))
    assert isinstance(errors.values[0], ProtocolError)
    await fake.send(Snapshot("Todos", 2, {"items": [1]}))
    await states.value({"items": [1]})


@pytest.mark.parametrize(
    "frame",
    [
        b"\xc1 not msgpack",
        "a text frame",
        msgpack.packb({"t": "launch", "x": 1}),
        msgpack.packb({"t": "patch", "s": "Todos", "v": "two", "p": []}),
        msgpack.packb([1, 2, 3]),
    ],
)
async def test_garbage_is_reported_and_the_client_carries_on(
    fake: FakeServer, make_client: MakeClient, frame: bytes | str
) -> None:
    client, states = await subscribed(fake, make_client)
    errors = errors_of(client)
    await fake.send(frame)
    await errors.until(lambda v: len(v) == 1)
    assert isinstance(errors.values[0], ProtocolError)
    await fake.send(PatchMessage("Todos", 2, push(1)))
    await states.value({"items": [1]})
    assert client.status.value == "connected"


async def test_server_error_messages_reach_the_error_channel(
    fake: FakeServer, make_client: MakeClient
) -> None:
    client, _ = await subscribed(fake, make_client)
    errors = errors_of(client)
    await fake.send(ErrorMessage("bad_message", "what was that?"))
    await errors.until(lambda v: len(v) == 1)
    assert isinstance(errors.values[0], HotstateError) and "what was that?" in str(errors.values[0])


async def test_a_late_or_unknown_result_is_ignored(
    fake: FakeServer, make_client: MakeClient
) -> None:
    client, _ = await subscribed(fake, make_client)
    events = Recorder()
    client.on("tick", events)
    await fake.send(Result(12345, "nobody asked"))
    await fake.send(EventMessage("tick", 1))
    await events.value(1)
    assert client.status.value == "connected"


async def test_a_call_gets_its_own_answer(fake: FakeServer, make_client: MakeClient) -> None:
    client, _ = await subscribed(fake, make_client)
    pending = asyncio.ensure_future(client.call("f", {"x": 1}))
    message = await asyncio.wait_for(fake.received.get(), TIMEOUT)
    assert isinstance(message, Call) and message.name == "f" and message.args == {"x": 1}
    await fake.send(Result(message.id, {"ok": True}))
    assert await pending == {"ok": True}


async def test_close_says_goodbye_with_a_normal_close_code(
    fake: FakeServer, make_client: MakeClient
) -> None:
    client = make_client(fake.url)
    await client.ready()
    await client.close()
    assert await asyncio.wait_for(fake.close_codes.get(), TIMEOUT) == 1000


async def test_a_bug_while_taking_a_frame_ends_the_socket_as_a_crash_and_the_client_reconnects(
    fake: FakeServer,
    make_client: MakeClient,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Frames are taken in the socket's data callback: a bug there (injected:
    the core raises once) still ends that socket as a crash (1011, logged
    once with its traceback), frames after it are not taken, and the client
    reconnects. (The application's own callbacks are guarded: they never get
    this far.)"""
    client = make_client(fake.url)
    await client.ready()
    taken: list[object] = []

    def receive(message: object) -> list[object]:
        taken.append(message)
        raise RuntimeError("a bug in the core")

    monkeypatch.setattr(client._core, "receive", receive)
    await fake.send(EventMessage("news", 1))
    await fake.send(EventMessage("news", 2))
    assert await asyncio.wait_for(fake.close_codes.get(), TIMEOUT) == 1011
    assert taken == [EventMessage("news", 1)]
    monkeypatch.undo()  # the bug is gone
    await fake.connected(2)
    crashed = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(crashed) == 1 and "crashed" in crashed[0].getMessage()
    assert "a bug in the core" in str(crashed[0].exc_info)
