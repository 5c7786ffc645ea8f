"""The hub's rules without a socket or a loop: events in, actions out
(the rig is in ``tests/hub_rig.py``)."""

from __future__ import annotations

import re

import pytest
from hub_rig import Rig, sent

from hotstate_rx import RpcError
from hotstate_rx.protocol import (
    Call,
    Deleted,
    ErrorMessage,
    EventMessage,
    PatchMessage,
    Result,
    ServerHello,
    Snapshot,
    Subscribe,
    Unsubscribe,
    decode_server_message,
    encode,
)
from hotstate_rx.server.hub import Disconnect, HubAction, Invoke, Transmit
from hotstate_rx.server.session import CLOSE_POLICY, DEFAULT_LIMITS


@pytest.fixture
def rig() -> Rig:
    return Rig()


def test_hello_opens_the_connection_and_fires_connection(rig: Rig) -> None:
    assert sent(rig.connect("a")) == [(("a",), ServerHello("id-a", 30.0))]
    assert rig.fired == [("connection", "id-a")]
    assert rig.hub.connection("id-a") == "a"


def test_subscribe_sends_a_snapshot_counts_the_use_and_fires_subscribe(rig: Rig) -> None:
    todos = rig.store("Todos", {"items": []})
    rig.connect("a")
    assert sent(rig.send("a", Subscribe("Todos"))) == [
        (("a",), Snapshot("Todos", 1, {"items": []}))
    ]
    assert todos.subscriber_count() == 1
    assert rig.fired[-1] == ("subscribe", "Todos", "id-a")


def test_a_change_is_encoded_once_for_every_subscriber(rig: Rig) -> None:
    todos = rig.store("Todos", {"items": []})
    for conn in ("a", "b"):
        rig.connect(conn)
        rig.send(conn, Subscribe("Todos"))
    rig.connect("c")  # connected, not subscribed
    todos.update(lambda d: d["items"].append(1))
    [action] = rig.hub.flush()
    assert isinstance(action, Transmit) and action.targets == ("a", "b")
    patch = [{"op": "add", "path": "/items/-", "value": 1}]
    assert decode_server_message(action.frame) == PatchMessage("Todos", 2, patch)


def test_snapshots_are_encoded_once_per_version(rig: Rig) -> None:
    rig.store("Todos", {"items": []})
    frames = []
    for conn in ("a", "b"):
        rig.connect(conn)
        [action] = rig.send(conn, Subscribe("Todos"))
        assert isinstance(action, Transmit)
        frames.append(action.frame)
    assert frames[0] is frames[1]


def test_a_snapshot_follows_every_change_queued_before_it(rig: Rig) -> None:
    """A subscriber that arrives while changes are queued gets them first (as
    patches, for those already subscribed), then a snapshot that includes them."""
    todos = rig.store("Todos", {"n": 0})
    rig.connect("a")
    rig.send("a", Subscribe("Todos"))
    rig.registry.set_deliver(lambda flush: None)  # a driver that has not drained yet
    todos.set({"n": 1})
    rig.connect("b")
    actions = sent(rig.send("b", Subscribe("Todos")))
    assert actions == [
        (("a",), Snapshot("Todos", 2, {"n": 1})),
        (("b",), Snapshot("Todos", 2, {"n": 1})),
    ]


def test_resubscribing_resyncs_without_counting_twice(rig: Rig) -> None:
    todos = rig.store("Todos", {"n": 0})
    rig.connect("a")
    rig.send("a", Subscribe("Todos"))
    todos.set({"n": 5})
    rig.hub.flush()
    assert sent(rig.send("a", Subscribe("Todos"))) == [(("a",), Snapshot("Todos", 2, {"n": 5}))]
    assert todos.subscriber_count() == 1
    assert [e for e in rig.fired if e[0] == "subscribe"] == [("subscribe", "Todos", "id-a")]


def test_unknown_store_is_answered_with_an_error(rig: Rig) -> None:
    rig.connect("a")
    reply = ErrorMessage("subscribe", "unknown store 'Nope'", "Nope")
    assert sent(rig.send("a", Subscribe("Nope"))) == [(("a",), reply)]


def test_the_last_subscriber_leaving_runs_on_idle(rig: Rig) -> None:
    idle: list[str | None] = []
    rooms = rig.store("Room:*", {"n": 0}).on_idle(idle.append)
    for conn in ("a", "b"):
        rig.connect(conn)
        rig.send(conn, Subscribe("Room:x"))
    rig.send("a", Unsubscribe("Room:x"))
    assert idle == [] and rooms.subscriber_count("x") == 1
    rig.hub.lost("b")
    assert idle == ["x"] and rooms.subscriber_count("x") == 0
    assert rig.fired[-2:] == [("unsubscribe", "Room:x", "id-b"), ("disconnect", "id-b")]


def test_a_deleted_instance_ends_its_subscriptions(rig: Rig) -> None:
    todos = rig.store("Todos", {"n": 0})
    rig.connect("a")
    rig.send("a", Subscribe("Todos"))
    todos.delete()
    assert sent(rig.hub.flush()) == [(("a",), Deleted("Todos"))]
    todos.set({"n": 1})  # created again: the old subscription does not see it
    assert rig.hub.flush() == []


def test_a_call_becomes_an_invoke_and_its_changes_precede_its_result(rig: Rig) -> None:
    todos = rig.store("Todos", {"n": 0})
    rig.functions.register("inc", lambda args: todos.update(lambda d: d.update(n=d["n"] + args)))
    rig.connect("a")
    rig.send("a", Subscribe("Todos"))
    [invoke] = rig.send("a", Call(7, "inc", 2))
    assert isinstance(invoke, Invoke) and invoke.context.client_id == "id-a"
    assert invoke.context.server == "the server"
    rig.registry.set_deliver(lambda flush: None)  # the change stays queued until the result
    value = invoke.function(invoke.call.args, invoke.context)
    patch = PatchMessage("Todos", 2, [{"op": "replace", "path": "/n", "value": 2}])
    assert sent(rig.hub.returned(invoke, value)) == [(("a",), patch), (("a",), Result(7, None))]


def test_a_call_refused_with_rpc_error_answers_with_its_message(rig: Rig) -> None:
    rig.functions.register("boom", lambda args: None)
    rig.connect("a")
    [invoke] = rig.send("a", Call(1, "boom"))
    assert isinstance(invoke, Invoke)
    error = RpcError("no such todo")
    assert sent(rig.hub.raised(invoke, error)) == [(("a",), Result(1, error="no such todo"))]
    assert rig.fired[-1] == ("error", error, "id-a")


def test_an_unexpected_exception_answers_internal_error_with_the_logged_ref(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    rig.functions.register("boom", lambda args: None)
    rig.connect("a")
    [invoke] = rig.send("a", Call(1, "boom"))
    assert isinstance(invoke, Invoke)
    error = RuntimeError("db error: postgres://admin:hunter2@10.0.0.5/prod")
    [(_, reply)] = sent(rig.hub.raised(invoke, error))
    assert isinstance(reply, Result) and reply.error is not None
    match = re.fullmatch(r"internal error \(ref ([0-9a-f]{8})\)", reply.error)
    assert match is not None, reply.error
    [record] = [r for r in caplog.records if r.name == "hotstate_rx.server.hub"]
    assert match[1] in record.getMessage() and record.exc_info is not None
    assert rig.fired[-1] == ("error", error, "id-a")  # the server's own listeners see it all


def test_expose_errors_sends_every_message() -> None:
    rig = Rig(expose_errors=True)
    rig.functions.register("boom", lambda args: None)
    rig.connect("a")
    [invoke] = rig.send("a", Call(1, "boom"))
    assert isinstance(invoke, Invoke)
    reply = sent(rig.hub.raised(invoke, RuntimeError("nope")))
    assert reply == [(("a",), Result(1, error="nope"))]


def test_a_result_that_is_not_json_is_an_error_for_the_caller(rig: Rig) -> None:
    rig.functions.register("bad", lambda args: None)
    rig.connect("a")
    [invoke] = rig.send("a", Call(1, "bad"))
    assert isinstance(invoke, Invoke)
    [(_, reply)] = sent(rig.hub.returned(invoke, {1, 2}))
    assert isinstance(reply, Result) and (reply.error or "").startswith("internal error (ref ")
    assert isinstance(rig.fired[-1][1], TypeError) and "not JSON-like" in str(rig.fired[-1][1])


def test_unknown_function_is_answered_at_once(rig: Rig) -> None:
    rig.connect("a")
    reply = Result(3, error="unknown function 'nope'")
    assert sent(rig.send("a", Call(3, "nope"))) == [(("a",), reply)]


def test_an_answer_for_a_lost_connection_is_dropped(rig: Rig) -> None:
    rig.functions.register("slow", lambda args: None)
    rig.connect("a")
    [invoke] = rig.send("a", Call(1, "slow"))
    assert isinstance(invoke, Invoke)
    rig.hub.lost("a")
    assert rig.hub.returned(invoke, 42) == []


def test_emit_reaches_every_client_or_one(rig: Rig) -> None:
    for conn in ("a", "b"):
        rig.connect(conn)
    rig.hub.open("c", "id-c", now=0.0, heartbeat=30.0)  # no hello yet: no events
    frame = encode(EventMessage("note", 1))
    rig.hub.emit(frame, None)
    rig.hub.emit(frame, "id-b")
    rig.hub.emit(frame, "id-gone")
    assert [a.targets for a in rig.hub.flush() if isinstance(a, Transmit)] == [("a", "b"), ("b",)]


def test_bad_frames_end_in_a_disconnect(rig: Rig) -> None:
    rig.connect("a")
    actions: list[HubAction[str]] = []
    budget = DEFAULT_LIMITS.max_bad_frames
    for _ in range(budget):
        actions = rig.hub.receive("a", b"\xc1", now=1.0)
    assert actions[-1] == Disconnect("a", CLOSE_POLICY, "too many bad frames")
    assert [e[0] for e in rig.fired].count("error") == budget


def test_a_silent_connection_is_timed_out(rig: Rig) -> None:
    rig.hub.open("a", "id-a", now=0.0, heartbeat=30.0)
    deadline = rig.hub.next_deadline("a")
    assert deadline is not None
    [action] = rig.hub.tick("a", deadline)
    assert isinstance(action, Disconnect) and action.reason == "no hello in time"
