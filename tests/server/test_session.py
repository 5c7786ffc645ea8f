"""The connection rules, fed frames and times: no loop, no socket."""

from __future__ import annotations

import msgpack
import pytest

from hotstate_rx.protocol import (
    Call,
    ClientHello,
    ErrorMessage,
    Ping,
    Pong,
    Subscribe,
    Unsubscribe,
    encode,
)
from hotstate_rx.server.limits import Limits
from hotstate_rx.server.session import (
    DEFAULT_LIMITS,
    CallRequested,
    Close,
    Misbehaved,
    Opened,
    Reply,
    Session,
    State,
    SubscribeRequested,
    UnsubscribeRequested,
)


def open_session(heartbeat: float = 10.0, **limits: object) -> Session:
    session = Session("c1", now=0.0, heartbeat=heartbeat, limits=Limits(**limits))  # type: ignore[arg-type]
    session.receive(encode(ClientHello()), 0.0)
    return session


def test_handshake() -> None:
    session = Session("c1", now=0.0, heartbeat=2.5)
    assert session.receive(encode(ClientHello()), 0.0) == [Opened("c1")]
    hello = ClientHello(resume="token", last_event=7)
    again = Session("c2", now=0.0)
    assert again.receive(encode(hello), 0.0) == [Opened("c2", "token", 7)]
    assert session.state is State.OPEN


def test_version_mismatch_is_a_protocol_error_and_close_1002() -> None:
    session = Session("c1", now=0.0)
    misbehaved, reply, close = session.receive(encode(ClientHello(99)), 0.0)
    assert isinstance(reply, Reply) and reply.message.code == "protocol"
    assert "version mismatch" in reply.message.message
    assert isinstance(misbehaved, Misbehaved) and str(misbehaved.error) == reply.message.message
    assert close.code == 1002
    assert session.state is State.CLOSED
    assert session.receive(encode(ClientHello()), 1.0) == []


@pytest.mark.parametrize("frame", [encode(Subscribe("Todos")), b"\xc1", "hello"])
def test_anything_but_hello_first_closes_1002(frame: bytes | str) -> None:
    actions = Session("c1", now=0.0).receive(frame, 0.0)
    assert [type(a) for a in actions] == [Misbehaved, Reply, Close]
    assert actions[1].message.code == "protocol" and actions[2].code == 1002


def test_requests_become_actions() -> None:
    session = open_session()
    call = Call(7, "todos.add", {"text": "x"})
    assert session.receive(encode(Subscribe("Todos")), 1.0) == [SubscribeRequested("Todos")]
    [requested] = session.receive(encode(call), 1.0)
    assert isinstance(requested, CallRequested) and requested.call.decode() == call
    assert session.receive(encode(Ping()), 1.0) == [Reply(Pong())]
    assert session.receive(encode(Pong()), 1.0) == []


def test_unsubscribe_only_of_what_is_subscribed() -> None:
    session = open_session()
    assert session.receive(encode(Unsubscribe("Todos")), 1.0) == []
    session.subscribed("Todos", 3)
    assert session.receive(encode(Unsubscribe("Todos")), 1.0) == [UnsubscribeRequested("Todos")]
    assert session.subscriptions == {}


def test_subscription_versions() -> None:
    session = open_session()
    assert not session.advance("Todos", 1)  # not subscribed
    session.subscribed("Todos", 4)
    assert not session.advance("Todos", 4)  # already held (in the snapshot)
    assert session.advance("Todos", 5)
    assert session.subscriptions == {"Todos": 5}
    assert session.removed("Todos") and not session.removed("Todos")
    session.subscribed("A", 1)
    assert session.closed() == ["A"] and session.state is State.CLOSED


@pytest.mark.parametrize(
    "frame",
    [
        b"\xc1",  # not MessagePack
        msgpack.packb([1, 2]),  # not a map
        msgpack.packb({"t": "nope"}),  # unknown type
        msgpack.packb({"t": "sub", "s": 5}),  # wrong key type
        msgpack.packb({"t": "rpc", "i": "x", "n": "f"}),
        "text frame",
        encode(ClientHello()),  # a second hello
    ],
)
def test_bad_frames_are_answered_and_the_connection_stays(frame: bytes | str) -> None:
    session = open_session()
    misbehaved, action = session.receive(frame, 1.0)
    assert isinstance(action, Reply) and isinstance(action.message, ErrorMessage)
    assert action.message.code == "bad_message"
    # the hub reports the same problem to the server's "error" listeners
    assert isinstance(misbehaved, Misbehaved) and str(misbehaved.error) == action.message.message
    assert session.state is State.OPEN


def test_bad_frames_close_1008_and_good_ones_in_between_do_not_reset_the_count() -> None:
    session = open_session()
    budget = DEFAULT_LIMITS.max_bad_frames
    for _ in range(budget - 1):
        session.receive(b"\xc1", 1.0)
        session.receive(encode(Ping()), 1.0)
    assert session.state is State.OPEN
    actions = session.receive(b"\xc1", 1.0)
    assert actions[-1] == Close(1008, "too many bad frames")
    assert session.state is State.CLOSED


def test_bad_frames_are_forgiven_over_time() -> None:
    session = open_session(max_bad_frames=3, bad_frame_decay=10.0)
    session.receive(b"\xc1", 0.0)
    session.receive(b"\xc1", 0.0)
    session.receive(b"\xc1", 10.0)  # one forgiven by now: two counted
    assert session.state is State.OPEN
    assert session.receive(b"\xc1", 10.0)[-1] == Close(1008, "too many bad frames")


def test_oversized_frame_closes_1009() -> None:
    session = open_session(max_message_size=100)
    misbehaved, action = session.receive(b"x" * 101, 1.0)
    assert isinstance(action, Close) and action.code == 1009
    assert isinstance(misbehaved, Misbehaved) and "larger than 100 bytes" in str(misbehaved.error)


def test_heartbeat_pings_and_closes_a_silent_peer() -> None:
    session = open_session(heartbeat=10.0)
    assert session.next_deadline() == 10.0
    assert session.tick(5.0) == []
    assert session.tick(10.0) == [Reply(Ping())]
    assert session.next_deadline() == 20.0
    session.receive(encode(Pong()), 12.0)
    assert session.tick(20.0) == [Reply(Ping())]
    assert session.next_deadline() == 30.0
    assert session.tick(31.9) == [Reply(Ping())]
    assert session.next_deadline() == 32.0
    assert session.tick(32.0) == [Close(1011, "heartbeat timeout")]
    assert session.next_deadline() is None


def test_silent_before_hello_is_closed_without_pings() -> None:
    session = Session("c1", now=0.0, heartbeat=1.0)
    assert session.tick(1.0) == []
    assert session.tick(2.0) == [Close(1011, "heartbeat timeout")]


def test_a_client_that_never_says_hello_is_closed_even_without_heartbeat() -> None:
    session = Session("c1", now=0.0, heartbeat=0, limits=Limits(handshake_timeout=10.0))
    assert session.next_deadline() == 10.0
    assert session.tick(9.9) == []
    assert session.tick(10.0) == [Close(1011, "no hello in time")]
    assert session.next_deadline() is None


def test_the_handshake_deadline_ends_with_the_handshake() -> None:
    session = Session("c1", now=0.0, heartbeat=0, limits=Limits(handshake_timeout=10.0))
    session.receive(encode(ClientHello()), 1.0)
    assert session.next_deadline() is None
    assert session.tick(1e9) == []


def test_heartbeat_zero_disables_it() -> None:
    session = open_session(heartbeat=0)
    assert session.next_deadline() is None
    assert session.tick(1e9) == []


def test_negative_heartbeat_is_refused() -> None:
    with pytest.raises(ValueError, match="heartbeat"):
        Session("c1", now=0.0, heartbeat=-1)
