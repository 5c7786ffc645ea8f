"""The limits' rules without a socket: what one client may cost the hub.

Each test feeds the hub (``hub_rig.Rig``) or a session messages and times,
and checks the actions and the registry; the same attacks over real sockets,
next to a healthy client, are in ``tests/adversarial``.
"""

from __future__ import annotations

from typing import Any

import msgpack
import pytest
from hub_rig import Rig, sent

from hotstate_rx import Limits, RateLimit, Server
from hotstate_rx.frozen import MAX_DEPTH
from hotstate_rx.protocol import (
    Call,
    ClientHello,
    ErrorMessage,
    Ping,
    RawCall,
    Result,
    Snapshot,
    Subscribe,
    Unsubscribe,
    decode_client_envelope,
    encode,
)
from hotstate_rx.server.hub import CALL_TIMEOUT, TOO_MANY_CALLS, Cancel, Invoke, ThrottleReads
from hotstate_rx.server.limits import FRAME_UNIT, TokenBucket, check_instance_key
from hotstate_rx.server.session import Session, Throttle

GOODBYE = 1000
"""A normal close: the session ends at once (an accidental loss would park it)."""


def deep_call(depth: int, name: str = "f") -> bytes:
    """An ``rpc`` frame whose args are ``depth`` nested arrays (built by hand:
    MessagePack's own encoder stops at 512 levels)."""
    head = b"\x84" + b"".join(map(msgpack.packb, ("t", "rpc", "i", 1, "n", name, "a")))
    return head + b"\x91" * depth + b"\x00"


# -- options -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("max_subscriptions", 0),
        ("max_pending_calls", -1),
        ("max_instances", 1.5),
        ("max_name_length", True),
        ("max_send_buffer", None),
        ("close_timeout", 0),
        ("call_timeout", float("inf")),
    ],
)
def test_a_bad_option_is_refused_by_name(option: str, value: object) -> None:
    with pytest.raises(ValueError, match=option):
        Server(**{option: value})


def test_rate_limit_options() -> None:
    assert Server(rate_limit=(10, 20)).limits.rate_limit == RateLimit(10, 20)
    assert Server(rate_limit=None).limits.rate_limit is None
    with pytest.raises(ValueError, match="rate"):
        RateLimit(0, 1)
    with pytest.raises(ValueError, match="burst"):
        RateLimit(1.0, 0)
    with pytest.raises(TypeError, match="rate_limit"):
        Limits(rate_limit=(1, 2))  # type: ignore[arg-type]


def test_the_defaults_of_api_section_7() -> None:
    limits = Server().limits
    assert limits == Limits()
    assert (limits.max_message_size, limits.max_send_buffer) == (1 << 20, 4 << 20)
    assert (limits.max_subscriptions, limits.max_pending_calls) == (256, 64)
    assert (limits.call_timeout, limits.max_instances, limits.max_name_length) == (30, 10_000, 256)
    assert limits.rate_limit == RateLimit(200.0, 500)
    assert limits.close_timeout == 5.0


# -- rate ------------------------------------------------------------------------


def test_the_token_bucket_allows_a_burst_then_paces() -> None:
    bucket = TokenBucket(RateLimit(rate=10, burst=3), now=0.0)
    assert [bucket.spend(10, 0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.spend(10, 0.0) == pytest.approx(0.1)  # one token in debt: 1/10 s
    assert bucket.spend(10, 0.2) == 0.0  # 0.2 s later: two tokens back, one spent
    assert bucket.spend(10, 10.0) == 0.0  # refilled, never above the burst
    assert [bucket.spend(10, 10.0) for _ in range(2)] == [0.0, 0.0]
    assert bucket.spend(10, 10.0) > 0


def test_a_large_frame_costs_one_message_per_started_unit() -> None:
    bucket = TokenBucket(RateLimit(rate=1, burst=10), now=0.0)
    assert bucket.spend(FRAME_UNIT * 9, 0.0) == 0.0  # 10 tokens: the whole burst
    assert bucket.spend(0, 0.0) == pytest.approx(1.0)


def test_a_session_over_its_rate_says_how_long_to_stop_reading() -> None:
    limits = Limits(rate_limit=RateLimit(rate=100, burst=2))
    session = Session("c1", now=0.0, limits=limits)
    assert Throttle not in map(type, session.receive(encode(ClientHello()), 0.0))
    assert session.receive(encode(Ping()), 0.0)[-1] != Throttle(0.01)
    *_, throttle = session.receive(encode(Ping()), 0.0)
    assert throttle == Throttle(pytest.approx(0.01))


def test_the_hub_passes_the_throttle_on_to_the_driver() -> None:
    rig = Rig(limits=Limits(rate_limit=RateLimit(rate=10, burst=1)))
    rig.connect("a", now=0.0)
    assert rig.send("a", Ping(), now=0.0)[-1] == ThrottleReads("a", pytest.approx(0.1))


# -- bad frames --------------------------------------------------------------------


def test_nesting_too_deep_for_freeze_is_a_bad_frame_not_a_crash() -> None:
    rig = Rig()
    rig.functions.register("f", lambda args: args)
    rig.connect("a")
    for depth in (MAX_DEPTH + 1, 1000, 5000):  # 5000: beyond MessagePack's own stack
        [(_, reply)] = sent(rig.hub.receive("a", deep_call(depth), now=1.0))
        assert isinstance(reply, ErrorMessage) and reply.code == "bad_message"
    assert [e[0] for e in rig.fired].count("error") == 3


def test_bad_frame_messages_are_clipped() -> None:
    rig = Rig()
    rig.connect("a")
    frame = msgpack.packb({"t": "x" * 100_000})
    [(_, reply)] = sent(rig.hub.receive("a", frame, now=1.0))
    assert isinstance(reply, ErrorMessage) and len(reply.message) <= 200


# -- subscriptions -------------------------------------------------------------------


def test_subscriptions_beyond_the_cap_get_err_limit_and_resyncs_do_not_count() -> None:
    rig = Rig(limits=Limits(max_subscriptions=2))
    rig.store("Room:*", {})
    rig.connect("a")
    for key in ("x", "y"):
        [(_, snap)] = sent(rig.send("a", Subscribe(f"Room:{key}")))
        assert isinstance(snap, Snapshot)
    [(_, refused)] = sent(rig.send("a", Subscribe("Room:z")))
    assert refused == ErrorMessage("limit", "too many subscriptions (at most 2)", "Room:z")
    assert not rig.registry.has("Room:z")  # nothing was created
    [(_, resync)] = sent(rig.send("a", Subscribe("Room:x")))
    assert isinstance(resync, Snapshot)
    rig.send("a", Unsubscribe("Room:y"))
    [(_, snap)] = sent(rig.send("a", Subscribe("Room:z")))
    assert isinstance(snap, Snapshot)


def test_a_subscription_that_would_create_one_instance_too_many_gets_err_limit() -> None:
    rig = Rig(limits=Limits(max_instances=2))
    rooms = rig.store("Room:*", {})
    rooms.init("kept")  # server code may create instances; they count
    rig.connect("a")
    rig.send("a", Subscribe("Room:x"))
    [(_, refused)] = sent(rig.send("a", Subscribe("Room:y")))
    assert refused == ErrorMessage("limit", "too many instances of 'Room:*' (at most 2)", "Room:y")
    rig.connect("b")
    [(_, snap)] = sent(rig.send("b", Subscribe("Room:x")))  # an existing one is fine
    assert isinstance(snap, Snapshot)
    assert sorted(rig.registry.names()) == ["Room:kept", "Room:x"]


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("Room:" + "k" * 300, "longer than 256 characters"),
        ("Room:a\x00b", "control characters are not allowed"),
        ("Room:line\nbreak", "control characters are not allowed"),
        ("Room:a*", "'*' is not allowed in a key"),
    ],
)
def test_invalid_instance_names_are_refused_before_anything_is_made(
    name: str, problem: str
) -> None:
    rig = Rig()
    rig.store("Room:*", {})
    rig.connect("a")
    [(_, refused)] = sent(rig.send("a", Subscribe(name)))
    assert isinstance(refused, ErrorMessage) and refused.code == "subscribe"
    assert refused.message == f"invalid store name: {problem}"
    assert rig.registry.names() == []


def test_instance_keys_keep_spaces_and_unicode() -> None:
    assert check_instance_key("my room ünïcødé 👪") is None
    assert check_instance_key("\u200dzero width joiner") is None  # a format character, not Cc


# -- transient instances ----------------------------------------------------------------------


def test_an_instance_only_subscriptions_used_is_released_after_its_last_subscriber() -> None:
    hooks: list[tuple[str, str | None]] = []
    rig = Rig()
    rooms = rig.store("Room:*", {"n": 0})
    rooms.on_idle(lambda key: hooks.append(("idle", key)))
    rooms.on_terminate(lambda key: hooks.append(("terminate", key)))
    for conn in ("a", "b"):
        rig.connect(conn)
        rig.send(conn, Subscribe("Room:x"))
    rig.send("a", Unsubscribe("Room:x"))
    assert rooms.has("x") and hooks == []
    rig.hub.lost("b", 2.0, GOODBYE)
    assert hooks == [("idle", "x"), ("terminate", "x")]
    definition, _ = rig.registry.resolve("Room:x") or pytest.fail("Room:* resolves")
    assert not rooms.has("x") and rig.registry.instance_count(definition) == 0


def test_an_instance_without_hooks_is_released_too() -> None:
    rig = Rig()
    rooms = rig.store("Room:*", {"n": 0})
    rig.connect("a")
    rig.send("a", Subscribe("Room:x"))
    rig.hub.lost("a", 2.0, GOODBYE)
    assert not rooms.has("x")


def test_the_readme_pattern_on_idle_reset_releases_it_too() -> None:
    terminated: list[str | None] = []
    rig = Rig()
    rooms = rig.store("Room:*", {"n": 0})
    rooms.on_idle(lambda key: rooms.reset(key)).on_terminate(terminated.append)
    rig.connect("a")
    rig.send("a", Subscribe("Room:x"))
    rig.hub.lost("a", 2.0, GOODBYE)
    assert not rooms.has("x") and terminated == ["x"]  # on_terminate ran once


@pytest.mark.parametrize(
    "use",
    [
        lambda rooms: rooms.update("x", lambda d: d.__setitem__("n", 1)),
        lambda rooms: rooms.set("x", {"n": 2}),
        lambda rooms: rooms.init("x"),
    ],
)
def test_an_instance_server_code_used_is_kept(use: Any) -> None:
    rig = Rig()
    rooms = rig.store("Room:*", {"n": 0})
    rig.connect("a")
    rig.send("a", Subscribe("Room:x"))
    use(rooms)
    rig.hub.lost("a", 2.0, GOODBYE)
    assert rooms.has("x")


def test_an_on_idle_that_mutates_keeps_the_instance() -> None:
    rig = Rig()
    rooms = rig.store("Room:*", {"n": 0})
    rooms.on_idle(lambda key: rooms.update(key, lambda d: d.__setitem__("n", -1)))
    rig.connect("a")
    rig.send("a", Subscribe("Room:x"))
    rig.send("a", Unsubscribe("Room:x"))
    assert rooms.get("x") == {"n": -1}


def test_static_stores_are_never_released() -> None:
    rig = Rig()
    todos = rig.store("Todos", {})
    rig.connect("a")
    rig.send("a", Subscribe("Todos"))
    rig.hub.lost("a", 2.0, GOODBYE)
    assert todos.has()


# -- calls ----------------------------------------------------------------------------


def pending_rig(**limits: Any) -> Rig:
    """A hub whose ``wait`` function never returns by itself (the test reports it)."""
    rig = Rig(limits=Limits(**limits))
    rig.functions.register("wait", lambda args: None)
    rig.connect("a")
    return rig


def invoke_of(actions: list[Any]) -> Invoke[str]:
    [invoked] = [a for a in actions if isinstance(a, Invoke)]
    return invoked


def test_calls_beyond_the_pending_cap_are_answered_at_once() -> None:
    rig = pending_rig(max_pending_calls=2)
    first = invoke_of(rig.send("a", Call(1, "wait")))
    invoke_of(rig.send("a", Call(2, "wait")))
    assert sent(rig.send("a", Call(3, "wait"))) == [(("a",), Result(3, error=TOO_MANY_CALLS))]
    rig.hub.returned(first, "done")
    invoke_of(rig.send("a", Call(4, "wait")))  # room again


def test_a_duplicate_running_id_is_a_bad_frame_and_the_first_call_is_untouched() -> None:
    rig = pending_rig()
    first = invoke_of(rig.send("a", Call(1, "wait")))
    [(_, reply)] = sent(rig.send("a", Call(1, "nope")))  # even to an unknown function
    assert isinstance(reply, ErrorMessage) and reply.code == "bad_message"
    assert "call id 1 is already running" in reply.message
    assert sent(rig.hub.returned(first, "one")) == [(("a",), Result(1, "one"))]


def test_a_call_past_its_deadline_is_cancelled_and_answered_timeout() -> None:
    rig = pending_rig(call_timeout=5.0)
    invoked = invoke_of(rig.send("a", Call(1, "wait"), now=1.0))
    assert rig.hub.next_deadline("a") == 6.0  # before the next ping (30 s)
    assert rig.hub.tick("a", 5.9) == []
    actions = rig.hub.tick("a", 6.0)
    assert actions[0] == Cancel("a", 1)
    assert sent(actions) == [(("a",), Result(1, error=CALL_TIMEOUT))]
    assert rig.hub.next_deadline("a") == 30.0
    second = invoke_of(rig.send("a", Call(1, "wait"), now=7.0))  # the id is free again
    assert rig.hub.returned(invoked, "late") == []  # the first one's answer is dropped
    assert sent(rig.hub.returned(second, "two")) == [(("a",), Result(1, "two"))]


def test_a_connection_that_goes_away_has_its_calls_cancelled() -> None:
    rig = pending_rig()
    invoked = [invoke_of(rig.send("a", Call(i, "wait"))) for i in (1, 2)]
    assert [a for a in rig.hub.lost("a", 2.0, GOODBYE) if isinstance(a, Cancel)] == [
        Cancel("a", 1),
        Cancel("a", 2),
    ]
    assert rig.hub.raised(invoked[0], RuntimeError("late")) == []


def test_no_call_timeout() -> None:
    rig = pending_rig(call_timeout=None)
    invoke_of(rig.send("a", Call(1, "wait")))
    assert rig.hub.next_deadline("a") == 30.0  # the ping only


def test_args_are_decoded_only_for_a_call_that_will_run() -> None:
    rig = Rig()
    rig.connect("a")
    garbage = RawCall(1, "nope", encoded_args=b"\xc1")  # would not even decode
    session = rig.hub._sessions["a"]
    rig.hub._call("a", session, garbage)
    assert sent(rig.hub._take()) == [(("a",), Result(1, error="unknown function 'nope'"))]
    rig.functions.register("f", lambda args: args)
    rig.hub._call("a", session, RawCall(2, "f", encoded_args=b"\xc1"))
    [(_, reply)] = sent(rig.hub._take())
    assert isinstance(reply, ErrorMessage) and reply.code == "bad_message"


def test_a_large_frame_is_scanned_not_decoded_until_the_call_runs() -> None:
    big = msgpack.packb({"t": "rpc", "i": 1, "n": "f", "a": [{}] * 20_000})
    raw = decode_client_envelope(big)
    assert isinstance(raw, RawCall) and raw.args is None
    assert raw.encoded_args is not None and len(raw.encoded_args) == 20_003
    assert raw.decode() == Call(1, "f", [{}] * 20_000)
