"""The session's AUTHENTICATING state, fed frames and times: no loop, no socket.

Nothing of a connection is served before the verdict: the server's hello
waits for ``accept``, frames pipelined after the client's hello are held (within
bounds) and handled in order once it is accepted, dropped if it is refused.
"""

from __future__ import annotations

import pytest

from hotstate_rx.protocol import (
    Call,
    ClientHello,
    ErrorMessage,
    Ping,
    Pong,
    RawCall,
    Subscribe,
    encode,
)
from hotstate_rx.server.limits import Limits
from hotstate_rx.server.session import (
    CLOSE_HEARTBEAT,
    CLOSE_POLICY,
    CLOSE_UNAUTHORIZED,
    DEFAULT_LIMITS,
    MAX_HELD_FRAMES,
    AuthenticateRequested,
    CallRequested,
    Close,
    Misbehaved,
    Opened,
    Reply,
    Session,
    State,
    SubscribeRequested,
    close_reason,
)


def authenticating(
    token: str | None = "secret", heartbeat: float = 10.0, **limits: object
) -> Session:
    """A session that got a hello with ``token`` and waits for its verdict (no
    rate limit: these tests count frames, and a throttle would add actions)."""
    options = Limits(rate_limit=None, **limits)  # type: ignore[arg-type]
    session = Session("c1", now=0.0, heartbeat=heartbeat, authenticate=True, limits=options)
    assert session.receive(encode(ClientHello(token=token)), 0.0) == [AuthenticateRequested(token)]
    assert session.state is State.AUTHENTICATING
    return session


def test_hello_asks_for_a_verdict_and_answers_nothing() -> None:
    authenticating()
    authenticating(None)  # no token is for authenticate to judge too


def test_frames_before_the_verdict_are_held_then_handled_in_order() -> None:
    session = authenticating()
    for message in (Subscribe("Todos"), Call(1, "add", {"text": "x"}), Ping()):
        assert session.receive(encode(message), 1.0) == []
    assert session.accept({"name": "ana"}, 2.0) == [
        Opened("c1"),
        SubscribeRequested("Todos"),
        CallRequested(RawCall(1, "add", {"text": "x"})),
        Reply(Pong()),
    ]
    assert session.state is State.OPEN and session.user == {"name": "ana"}
    assert session.receive(encode(Subscribe("Other")), 3.0) == [SubscribeRequested("Other")]


def test_bad_frames_held_count_once_accepted() -> None:
    session = authenticating()
    session.receive(b"\xc1", 1.0)
    _, misbehaved, reply = session.accept("ana", 2.0)
    assert isinstance(misbehaved, Misbehaved)
    assert isinstance(reply, Reply) and reply.message.code == "bad_message"


def test_refusal_is_err_unauthorized_and_close_4401_and_drops_what_was_held() -> None:
    session = authenticating()
    session.receive(encode(Subscribe("Todos")), 1.0)
    assert session.refuse("bad token") == [
        Reply(ErrorMessage("unauthorized", "bad token")),
        Close(CLOSE_UNAUTHORIZED, "unauthorized"),
    ]
    assert session.state is State.CLOSED
    assert session.receive(encode(Subscribe("Todos")), 2.0) == []
    assert session.accept("late", 3.0) == []  # a verdict after the end changes nothing


def test_verdicts_outside_authentication_are_ignored() -> None:
    plain = Session("c1", now=0.0)
    assert plain.accept("ana", 0.0) == [] and plain.refuse("no") == []
    assert plain.receive(encode(ClientHello(token="ignored")), 0.0)[-1] == Opened("c1")
    session = authenticating()
    session.accept("ana", 1.0)
    assert session.accept("again", 2.0) == [] and session.refuse("too late") == []
    assert session.user == "ana"


def test_a_flood_before_the_verdict_is_closed_1008() -> None:
    session = authenticating()
    for _ in range(MAX_HELD_FRAMES):
        assert session.receive(encode(Ping()), 1.0) == []
    misbehaved, close = session.receive(encode(Ping()), 1.0)
    assert isinstance(misbehaved, Misbehaved) and close == Close(
        CLOSE_POLICY, "too much sent before the connection was accepted"
    )
    assert session.accept("ana", 2.0) == []


def test_held_bytes_are_bounded_by_the_message_size() -> None:
    session = authenticating(max_message_size=1000)
    assert session.receive(b"x" * 600, 1.0) == []
    assert session.receive(b"x" * 600, 1.0)[-1].code == CLOSE_POLICY  # type: ignore[union-attr]


def test_no_verdict_within_the_handshake_timeout_closes_1011() -> None:
    session = authenticating()
    assert session.next_deadline() == DEFAULT_LIMITS.handshake_timeout
    assert session.tick(DEFAULT_LIMITS.handshake_timeout - 0.1) == []
    assert session.tick(DEFAULT_LIMITS.handshake_timeout) == [
        Close(CLOSE_HEARTBEAT, "no verdict from authenticate in time")
    ]


def test_no_ping_before_acceptance() -> None:
    session = authenticating(heartbeat=4.0)
    session.receive(encode(Pong()), 3.0)  # not silent
    assert session.tick(4.0) == []  # a ping is due, but the client is not in yet
    session.accept("ana", 5.0)
    assert session.tick(8.0) == [Reply(Ping())]


def test_close_ends_the_session_once() -> None:
    session = authenticating()
    assert session.close(4000, "banned") == [Close(4000, "banned")]
    assert session.close(4000, "again") == []


@pytest.mark.parametrize(
    ("text", "fits"),
    [("short", "short"), ("é" * 100, "é" * 60), ("x" * 200, "x" * 120)],
)
def test_close_reasons_fit_a_close_frame(text: str, fits: str) -> None:
    assert close_reason(text) == fits
    assert len(close_reason(text).encode()) <= 123
