"""Hypothesis against the frame decoder and the session and hub cores.

Random bytes, MessagePack values shaped like messages, and valid frames with
bytes flipped, cut or inserted go through :func:`decode_client_message` (only
``ProtocolError`` may come out) and through a session and a hub, in random
sequences across several connections with the clock moving on: no exception
escapes, every bad frame is answered with ``err`` (or, during the handshake,
closes the connection; a call the hub refuses on a cheap check is answered
``res`` before its arguments are looked at), and the hub's books stay
consistent (subscriber counts, pending calls, instance caps, no transient
instance left without subscribers).
"""

from __future__ import annotations

from typing import Any

import msgpack
from hub_rig import Rig, sent
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hotstate_rx.errors import ProtocolError
from hotstate_rx.protocol import (
    Call,
    ClientHello,
    ErrorMessage,
    Ping,
    Pong,
    RawCall,
    Result,
    Subscribe,
    Unsubscribe,
    decode_client_envelope,
    decode_client_message,
    encode,
)
from hotstate_rx.server.hub import Invoke
from hotstate_rx.server.limits import Limits, RateLimit
from hotstate_rx.server.session import Close, Misbehaved, Reply, Session, State

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

STEPS = ["frame", "frame", "frame", "tick", "lost", "open", "finish", "expire"]
"""What may happen next to the hub (frames most often)."""
TAGS = ["hello", "sub", "unsub", "rpc", "ping", "pong", "snap", "t", ""]
KEYS = ["s", "v", "i", "n", "a", "pv", "x"]

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.binary(max_size=20)
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=4) | st.integers(0, 3), inner, max_size=4)
    ),
    max_leaves=20,
)
shaped = st.fixed_dictionaries(
    {"t": st.sampled_from(TAGS)},
    optional={key: values | st.sampled_from(["Room:x", "Todos", "f", 1]) for key in KEYS},
)
store_names = st.sampled_from(["Todos", "Room:a", "Room:b", "Room:c", "Nope", "Room:", "Room:*"])
valid_messages = st.one_of(
    st.builds(Subscribe, store_names),
    st.builds(Unsubscribe, store_names),
    st.builds(Call, st.integers(0, 5), st.sampled_from(["echo", "slow", "nope"]), values),
    st.just(Ping()),
    st.just(Pong()),
    st.just(ClientHello()),
)


def packed(value: Any) -> bytes:
    return msgpack.packb(value, use_bin_type=True)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A valid frame with a few bytes flipped, dropped or inserted."""
    frame = bytearray(encode(draw(valid_messages)))
    for _ in range(draw(st.integers(1, 4))):
        where = draw(st.integers(0, len(frame)))
        match draw(st.sampled_from(["flip", "drop", "insert"])):
            case "flip" if where < len(frame):
                frame[where] ^= draw(st.integers(1, 255))
            case "drop" if where < len(frame):
                del frame[where]
            case _:
                frame.insert(where, draw(st.integers(0, 255)))
    return bytes(frame)


frames = st.one_of(
    st.binary(max_size=64),
    shaped.map(packed),
    values.map(packed),
    mutated(),
    valid_messages.map(encode),
    st.integers(1, 3000).map(lambda depth: b"\x91" * depth + b"\xc0"),
    st.text(max_size=10),
)


def decodes(frame: bytes | str) -> bool:
    try:
        decode_client_message(frame)
    except ProtocolError:
        return False
    return True


def bad(frame: bytes | str, functions: tuple[str, ...] = ()) -> bool:
    """Whether the server must treat ``frame`` as bad: its envelope does not
    decode, or it calls one of ``functions`` with arguments that do not (a call
    to an unknown function is answered without a look at its arguments)."""
    try:
        msg = decode_client_envelope(frame)
    except ProtocolError:
        return True
    if isinstance(msg, RawCall) and msg.name in functions:
        try:
            msg.decode()
        except ProtocolError:
            return True
    return False


@FUZZ
@given(frames)
def test_the_decoder_raises_only_protocol_error(frame: bytes | str) -> None:
    decodes(frame)  # anything else propagates and fails the test


@FUZZ
@given(st.lists(st.tuples(frames, st.floats(0, 5)), max_size=30))
def test_a_session_never_raises_and_answers_every_bad_frame(
    steps: list[tuple[bytes | str, float]],
) -> None:
    limits = Limits(rate_limit=RateLimit(rate=5, burst=3), max_bad_frames=4)
    session = Session("c", now=0.0, heartbeat=1.0, limits=limits)
    now = 0.0
    for frame, later in steps:
        now += later
        was = session.state
        actions = session.receive(frame, now) + session.tick(now)
        if was is State.CLOSED:
            assert not [a for a in actions if isinstance(a, Reply)]
        elif bad(frame) and len(frame) <= limits.max_message_size:
            replies = [a.message for a in actions if isinstance(a, Reply)]
            assert any(isinstance(m, ErrorMessage) for m in replies), (frame, actions)
            assert any(isinstance(a, Misbehaved) for a in actions)
        if any(isinstance(a, Close) for a in actions):
            assert session.state is State.CLOSED


@FUZZ
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c"]),
            st.sampled_from(
                ["frame", "frame", "frame", "tick", "lost", "open", "finish", "expire"]
            ),
            frames,
            st.floats(0, 3),
            st.sampled_from([None, 1000, 1006, 1011]),  # how a connection is lost
        ),
        max_size=40,
    )
)
def test_the_hub_never_raises_and_keeps_its_books(
    steps: list[tuple[str, str, bytes | str, float, int | None]],
) -> None:
    limits = Limits(
        max_subscriptions=2,
        max_pending_calls=2,
        max_instances=2,
        call_timeout=2.0,
        rate_limit=RateLimit(rate=10, burst=5),
    )
    rig = Rig(limits=limits)
    rig.store("Todos", {"n": 0})
    rig.store("Room:*", {"n": 0})
    rig.functions.register("echo", lambda args: args)
    rig.functions.register("slow", lambda args: None)  # "finish" steps report its end
    running: list[Invoke[str]] = []
    current: dict[str, str] = {}  # a client's connection of the moment (a fresh one per open)
    now = 0.0
    for n, (name, step, frame, later, code) in enumerate(steps):
        now += later
        conn = current.get(name, name)
        session = rig.hub._sessions.get(conn)
        live = session is not None and not session.parked
        match step:
            case "open" if not live:
                conn = current[name] = f"{name}{n}"
                rig.hub.open(conn, f"id-{conn}", now=now, heartbeat=1.0)
                actions = rig.send(conn, ClientHello(), now)
            case "frame" if live and session is not None:
                was = session.state
                actions = rig.hub.receive(conn, frame, now)
                if was is not State.CLOSED and bad(frame, ("echo", "slow")):
                    replies = [m for _, m in sent(actions)]  # err, or a call refused first
                    assert any(isinstance(m, ErrorMessage | Result) for m in replies), replies
            case "tick" if live:
                actions = rig.hub.tick(conn, now)
            case "lost":
                actions = rig.hub.lost(conn, now, code)
            case "expire":
                actions = rig.hub.expire(now)
            case "finish" if running:
                actions = rig.hub.returned(running.pop(0), "done")
            case _:
                continue
        running += [a for a in actions if isinstance(a, Invoke) and a.function.name == "slow"]
        check_books(rig, limits)


def check_books(rig: Rig, limits: Limits) -> None:
    """The hub's tables agree with each other and with the limits."""
    hub, registry = rig.hub, rig.registry
    counted: dict[str, int] = {}
    for conn, session in hub._sessions.items():  # parked sessions too: they hold theirs
        assert len(session.subscriptions) <= limits.max_subscriptions
        for store in session.subscriptions:
            counted[store] = counted.get(store, 0) + 1
            assert conn in hub._subscribers[store]
    for record in hub._records.values():
        assert len(record.running) <= limits.max_pending_calls
        assert record.conn in hub._sessions
    for name in registry.names():
        inst = registry._instances[name]
        assert inst.subscribers == counted.get(name, 0), name
        assert not (inst.transient and inst.subscribers == 0), f"{name} was not released"
    dynamic = [n for n in registry.names() if n.startswith("Room:")]
    assert len(dynamic) <= limits.max_instances
