"""The client's rules without I/O: messages and calls in, actions out."""

from __future__ import annotations

from typing import Any

import pytest
from client_helpers import NODE, add_item, connected, with_store

from hotstate_rx.client.actions import (
    CloseSocket,
    Deliver,
    Emit,
    EndStore,
    Settle,
    StatusChanged,
    Transmit,
)
from hotstate_rx.client.core import ClientCore
from hotstate_rx.client.status import Connected, ConnectionStatus, backoff_delay, check_transition
from hotstate_rx.errors import Disconnected, ProtocolError, RpcError, SubscriptionError
from hotstate_rx.protocol import (
    Call,
    ClientHello,
    Deleted,
    ErrorMessage,
    EventMessage,
    PatchMessage,
    Ping,
    Pong,
    Result,
    ServerHello,
    Snapshot,
    Subscribe,
    Unsubscribe,
)

S = ConnectionStatus


# -------------------------------------------------------------- status machine


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (S.DISCONNECTED, S.CONNECTING),
        (S.CONNECTING, S.CONNECTED),
        (S.CONNECTING, S.RECONNECTING),
        (S.CONNECTING, S.DISCONNECTED),
        (S.CONNECTED, S.RECONNECTING),
        (S.CONNECTED, S.DISCONNECTED),
        (S.RECONNECTING, S.CONNECTED),
        (S.RECONNECTING, S.DISCONNECTED),
    ],
)
def test_legal_transitions(old: ConnectionStatus, new: ConnectionStatus) -> None:
    check_transition(old, new)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (S.DISCONNECTED, S.CONNECTED),
        (S.DISCONNECTED, S.RECONNECTING),
        (S.CONNECTED, S.CONNECTING),
        (S.RECONNECTING, S.CONNECTING),
        (S.CONNECTED, S.CONNECTED),
    ],
)
def test_illegal_transitions_raise(old: ConnectionStatus, new: ConnectionStatus) -> None:
    with pytest.raises(RuntimeError, match="illegal connection status change"):
        check_transition(old, new)


def test_status_compares_equal_to_its_string() -> None:
    assert S.RECONNECTING == "reconnecting"


def test_backoff_grows_exponentially_to_the_cap_with_full_jitter() -> None:
    assert [backoff_delay(n, 1.0, 10.0, 0.999999) for n in range(6)] == pytest.approx(
        [1.0, 2.0, 4.0, 8.0, 10.0, 10.0], rel=1e-5
    )
    assert backoff_delay(3, 1.0, 10.0, 0.5) == 4.0
    assert backoff_delay(10_000, 1.0, 10.0, 0.0) == 0.0


def test_connect_twice_raises() -> None:
    core = ClientCore()
    assert core.connect([NODE]) == [StatusChanged(S.CONNECTING)]
    with pytest.raises(RuntimeError, match="already connecting"):
        core.connect([NODE])


def test_hello_connects_and_reports_the_client_id() -> None:
    core = ClientCore()
    core.connect([NODE])
    assert core.opened() == [Transmit(ClientHello())]
    assert core.receive(ServerHello("c7", 2.0)) == [
        StatusChanged(S.CONNECTED),
        Emit("connected", Connected("c7", url=NODE)),
    ]
    assert core.client_id == "c7"
    assert core.silence_limit() == 5.0


def test_no_heartbeat_means_no_silence_limit() -> None:
    core = ClientCore()
    core.connect([NODE])
    core.opened()
    core.receive(ServerHello("c1", 0.0))
    assert core.silence_limit() is None


# --------------------------------------------------------------- subscriptions


def test_subscriptions_made_before_connect_go_out_when_the_socket_opens() -> None:
    core = ClientCore()
    assert core.subscribe("Todos") == []
    assert core.subscribe("Room:a") == []
    core.connect([NODE])
    assert core.opened() == [
        Transmit(ClientHello()),
        Transmit(Subscribe("Todos")),
        Transmit(Subscribe("Room:a")),
    ]


def test_one_wire_subscription_per_store_whatever_the_handles() -> None:
    core = connected()
    assert core.subscribe("Todos") == [Transmit(Subscribe("Todos"))]
    assert core.subscribe("Todos") == []
    assert core.subscriptions() == {"Todos": 2}
    assert core.release("Todos") == []
    assert core.release("Todos") == [Transmit(Unsubscribe("Todos"))]
    assert core.subscriptions() == {}
    assert core.release("Todos") == []


@pytest.mark.parametrize(("name", "error"), [(3, TypeError), ("", ValueError)])
def test_bad_store_names_raise(name: object, error: type[Exception]) -> None:
    with pytest.raises(error, match="store name"):
        ClientCore().subscribe(name)  # type: ignore[arg-type]


def test_snapshot_then_patches_in_order_share_structure() -> None:
    core = with_store({"items": [], "config": {"theme": "dark"}})
    before = core.view("Todos")
    actions = core.receive(
        PatchMessage("Todos", 2, [{"op": "add", "path": "/items/-", "value": "milk"}])
    )
    after = core.view("Todos")
    assert actions == [Deliver("Todos", after, after)]
    assert after == {"items": ["milk"], "config": {"theme": "dark"}}
    assert after["config"] is before["config"]


def test_a_null_state_is_delivered_like_any_other() -> None:
    core = connected()
    core.subscribe("Maybe")
    assert core.receive(Snapshot("Maybe", 1, None)) == [Deliver("Maybe", None, None)]
    assert core.has_data("Maybe")
    assert core.receive(Snapshot("Maybe", 2, None)) == []  # unchanged: nothing to show


def test_a_gap_resyncs_instead_of_applying_and_drops_patches_until_the_snapshot() -> None:
    core = with_store()
    shown = core.view("Todos")
    gap = PatchMessage("Todos", 3, [{"op": "add", "path": "/items/-", "value": "x"}])
    assert core.receive(gap) == [Transmit(Subscribe("Todos"))]
    next_one = PatchMessage("Todos", 4, [{"op": "add", "path": "/items/-", "value": "y"}])
    assert core.receive(next_one) == []
    assert core.view("Todos") is shown  # the last consistent state stays visible
    assert core.receive(Snapshot("Todos", 4, {"items": ["x", "y"]})) == [
        Deliver("Todos", {"items": ["x", "y"]}, {"items": ["x", "y"]})
    ]
    assert core.receive(PatchMessage("Todos", 5, [{"op": "remove", "path": "/items/0"}])) != []
    assert core.view("Todos") == {"items": ["y"]}


def test_a_stale_patch_is_a_gap_too() -> None:
    core = with_store()
    assert core.receive(PatchMessage("Todos", 1, [])) == [Transmit(Subscribe("Todos"))]


def test_a_patch_that_does_not_apply_resyncs_and_reports() -> None:
    core = with_store()
    actions = core.receive(PatchMessage("Todos", 2, [{"op": "remove", "path": "/nope"}]))
    assert actions[0] == Transmit(Subscribe("Todos"))
    assert isinstance(actions[1], Emit) and actions[1].channel == "error"
    assert isinstance(actions[1].payload, ProtocolError)
    assert core.view("Todos") == {"items": []}


def test_messages_for_stores_not_subscribed_are_ignored() -> None:
    core = connected()
    assert core.receive(Snapshot("Other", 1, {})) == []
    assert core.receive(PatchMessage("Other", 2, [])) == []
    assert core.receive(Deleted("Other")) == []


def test_deletion_ends_the_store_and_a_new_subscription_starts_afresh() -> None:
    core = with_store()
    assert core.receive(Deleted("Todos")) == [EndStore("Todos"), Emit("store_deleted", "Todos")]
    assert core.subscriptions() == {}
    assert core.subscribe("Todos") == [Transmit(Subscribe("Todos"))]


def test_a_refused_subscription_ends_with_the_servers_message() -> None:
    core = connected()
    core.subscribe("Nope")
    actions = core.receive(ErrorMessage("subscribe", "unknown store 'Nope'", "Nope"))
    assert [type(a) for a in actions] == [EndStore, Emit]
    error = actions[0].error
    assert isinstance(error, SubscriptionError) and str(error) == "unknown store 'Nope'"
    assert actions[1] == Emit("error", error)
    core.connection_lost(0.5)
    assert core.opened() == [Transmit(ClientHello())]  # not re-sent


def test_events_and_pings() -> None:
    core = connected()
    assert core.receive(EventMessage("news", {"a": 1})) == [Emit("news", {"a": 1})]
    assert core.receive(Ping()) == [Transmit(Pong())]
    assert core.receive(Pong()) == []


def test_other_server_errors_are_reported() -> None:
    core = connected()
    [action] = core.receive(ErrorMessage("limit", "too big"))
    assert action.channel == "error" and "too big" in str(action.payload)


# ----------------------------------------------------------------------- calls


def test_a_call_before_hello_waits_and_goes_out_with_it() -> None:
    core = ClientCore()
    call_id, actions = core.call("f", {"x": 1})
    assert actions == []
    core.connect([NODE])
    core.opened()
    assert core.receive(ServerHello("c1", 0)) == [
        StatusChanged(S.CONNECTED),
        Emit("connected", Connected("c1", url=NODE)),
        Transmit(Call(call_id, "f", {"x": 1})),
    ]


def test_call_results_and_errors_settle_their_calls() -> None:
    core = connected()
    first, actions = core.call("f", [1])
    assert actions == [Transmit(Call(first, "f", [1]))]
    second, _ = core.call("g")
    assert core.receive(Result(first, {"id": 1})) == [Settle(first, {"id": 1})]
    [settle] = core.receive(Result(second, error="boom"))
    assert isinstance(settle.error, RpcError) and str(settle.error) == "boom"
    assert core.receive(Result(second, 1)) == []  # late or duplicate


def test_results_are_plain_mutable_values() -> None:
    core = connected()
    call_id, _ = core.call("f")
    [settle] = core.receive(Result(call_id, {"ids": [1]}))
    settle.value["ids"].append(2)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"args": {1, 2}}, TypeError, "JSON"),
        ({"optimistic": add_item("x")}, ValueError, "needs store="),
        ({"store": "Other", "optimistic": add_item("x")}, ValueError, "not subscribed"),
        ({"store": "Todos", "optimistic": "nope"}, TypeError, "function"),
        ({"store": "Todos", "optimistic": lambda s: {1, 2}}, TypeError, "JSON"),
    ],
)
def test_bad_calls_raise_at_the_call(kwargs: dict, error: type[Exception], match: str) -> None:
    core = with_store()
    with pytest.raises(error, match=match):
        core.call("f", **kwargs)
    assert core.pending_calls() == []


def test_an_optimistic_function_that_raises_raises_at_the_call() -> None:
    core = with_store()

    def broken(state: object) -> object:
        raise KeyError("oops")

    with pytest.raises(KeyError):
        core.call("f", store="Todos", optimistic=broken)
    assert core.view("Todos") == {"items": []}


def test_optimistic_views_stack_and_roll_back_on_failure() -> None:
    core = with_store()
    server = core.server_state("Todos")
    a, actions = core.call("add", store="Todos", optimistic=add_item("a"))
    assert actions[0] == Deliver("Todos", {"items": ["a"]}, server)
    core.call("add", store="Todos", optimistic=add_item("b"))
    assert core.view("Todos") == {"items": ["a", "b"]}
    actions = core.receive(Result(a, error="nope"))
    assert actions[0] == Deliver("Todos", {"items": ["b"]}, server)
    assert isinstance(actions[1], Settle) and isinstance(actions[1].error, RpcError)
    assert core.server_state("Todos") is server


def test_server_changes_refold_the_pending_overlays() -> None:
    core = with_store()
    core.call("add", store="Todos", optimistic=add_item("mine"))
    core.receive(PatchMessage("Todos", 2, [{"op": "add", "path": "/items/-", "value": "theirs"}]))
    assert core.view("Todos") == {"items": ["theirs", "mine"]}
    assert core.server_state("Todos") == {"items": ["theirs"]}


def test_success_drops_the_overlay_after_the_servers_patches_without_flicker() -> None:
    core = with_store()
    call_id, _ = core.call("add", store="Todos", optimistic=add_item("new"))
    core.receive(PatchMessage("Todos", 2, [{"op": "add", "path": "/items/-", "value": "new"}]))
    assert core.view("Todos") == {"items": ["new", "new"]}  # server + overlay, until the result
    actions = core.receive(Result(call_id, 7))
    final = {"items": ["new"]}
    assert actions == [Deliver("Todos", final, final), Settle(call_id, 7)]


def test_an_overlay_that_fails_on_a_new_server_state_is_dropped_and_reported() -> None:
    core = with_store()
    first = lambda s: {**s, "n": s["items"][0]} if s["items"] else s  # noqa: E731
    core.call("add", store="Todos", optimistic=first)
    core.call("add", store="Todos", optimistic=lambda s: {**s, "x": 1})
    core.receive(PatchMessage("Todos", 2, [{"op": "add", "path": "/items/-", "value": 1}]))
    assert core.view("Todos") == {"items": [1], "n": 1, "x": 1}
    replace = {"op": "replace", "path": "/items", "value": {"k": 1}}  # items[0] now fails
    actions = core.receive(PatchMessage("Todos", 3, [replace]))
    assert core.view("Todos") == {"items": {"k": 1}, "x": 1}
    assert [a.channel for a in actions if isinstance(a, Emit)] == ["error"]


def test_an_optimistic_call_before_the_first_snapshot_applies_when_it_arrives() -> None:
    core = connected()
    core.subscribe("Todos")
    _, actions = core.call("add", store="Todos", optimistic=add_item("a"))
    assert [type(a) for a in actions] == [Transmit]
    core.receive(Snapshot("Todos", 1, {"items": []}))
    assert core.view("Todos") == {"items": ["a"]}
    assert core.server_state("Todos") == {"items": []}


def test_forgetting_a_call_rolls_back_and_ignores_its_late_result() -> None:
    core = with_store()
    call_id, _ = core.call("add", store="Todos", optimistic=add_item("a"))
    assert core.forget_call(call_id) == [Deliver("Todos", {"items": []}, {"items": []})]
    assert core.forget_call(call_id) == []
    assert core.receive(Result(call_id, 1)) == []


def test_releasing_the_last_handle_drops_the_overlays_of_that_store() -> None:
    core = with_store()
    call_id, _ = core.call("add", store="Todos", optimistic=add_item("a"))
    core.release("Todos")
    assert core.receive(Result(call_id, 1)) == [Settle(call_id, 1)]


# --------------------------------------------------------- disconnect, reconnect


def test_a_drop_fails_sent_calls_keeps_unsent_ones_and_schedules_a_retry() -> None:
    core = with_store()
    core.call("add", store="Todos", optimistic=add_item("a"))
    actions = core.connection_lost(jitter=0.5, reason="closed by the server with 1001")
    assert actions[:2] == [StatusChanged(S.RECONNECTING), Emit("disconnected")]
    assert actions[2] == Deliver("Todos", {"items": []}, {"items": []})  # stale overlay dropped
    assert isinstance(actions[3], Settle) and isinstance(actions[3].error, Disconnected)
    assert actions[4] == Emit(
        "reconnecting",
        {"attempt": 1, "delay": 0.5, "reason": "closed by the server with 1001", "url": NODE},
    )
    assert core.retry_delay == 0.5
    unsent, actions = core.call("later")
    assert actions == []
    assert core.connection_lost(jitter=0.5)[-1] == Emit(
        "reconnecting", {"attempt": 2, "delay": 1.0, "reason": None, "url": NODE}
    )
    # The copy is kept and its version named: the server sends what was missed.
    assert core.opened() == [Transmit(ClientHello()), Transmit(Subscribe("Todos", 1))]
    assert core.receive(ServerHello("c2", 30.0))[-1] == Transmit(Call(unsent, "later", None))
    assert core.status is S.CONNECTED and core.client_id == "c2"
    core.connection_lost(jitter=0.5)
    assert core.retry_delay == 0.5  # backoff restarts after a successful hello


def test_a_failed_first_attempt_goes_straight_to_reconnecting() -> None:
    core = ClientCore()
    core.connect([NODE])
    assert core.connection_lost(jitter=0.0) == [
        StatusChanged(S.RECONNECTING),
        Emit("reconnecting", {"attempt": 1, "delay": 0.0, "reason": None, "url": NODE}),
    ]


def test_without_reconnect_a_drop_is_final_and_fails_every_call() -> None:
    core = connected(reconnect=False)
    core.call("f")
    actions = core.connection_lost(jitter=0.5)
    assert actions[:2] == [StatusChanged(S.DISCONNECTED), Emit("disconnected")]
    assert isinstance(actions[2], Settle) and isinstance(actions[2].error, Disconnected)
    assert core.retry_delay is None
    assert core.connect([NODE]) == [StatusChanged(S.CONNECTING)]  # the user may try again


def test_shutdown_fails_every_call_sent_or_not_and_is_final() -> None:
    core = ClientCore()
    unsent, _ = core.call("f")
    [settle] = core.shutdown()
    assert settle.call_id == unsent and isinstance(settle.error, Disconnected)
    core = connected()
    sent, _ = core.call("f")
    actions = core.shutdown()
    assert actions[:2] == [StatusChanged(S.DISCONNECTED), Emit("disconnected")]
    assert actions[2].call_id == sent and isinstance(actions[2].error, Disconnected)
    assert core.connection_lost(0.5) == []
    with pytest.raises(Disconnected):
        core.call("f")
    with pytest.raises(RuntimeError, match="destroyed"):
        core.subscribe("Todos")
    with pytest.raises(RuntimeError, match="destroyed"):
        core.connect([NODE])


@pytest.mark.parametrize(
    "message",
    [ServerHello("c1", 30.0, version=99), ErrorMessage("protocol", "unsupported version")],
)
def test_a_protocol_error_stops_without_a_reconnect_loop(message: object) -> None:
    core = ClientCore()
    core.connect([NODE])
    core.opened()
    if isinstance(message, ErrorMessage):
        core.receive(ServerHello("c1", 30.0))
    pending, _ = core.call("f")
    actions = core.receive(message)  # type: ignore[arg-type]
    assert StatusChanged(S.DISCONNECTED) in actions
    assert CloseSocket(1002, "protocol error") in actions
    [error] = [a.payload for a in actions if isinstance(a, Emit) and a.channel == "error"]
    assert isinstance(error, ProtocolError) and core.failure is error
    assert any(isinstance(a, Settle) and a.call_id == pending for a in actions)
    assert core.connection_lost(0.5) == []
    assert core.retry_delay is None and core.status is S.DISCONNECTED


# ------------------------------------------------------------- resume after a drop


def resumable(**options: Any) -> ClientCore:
    """Connected to a server that resumes sessions, subscribed to ``Todos`` at v1."""
    core = ClientCore(**options)
    core.connect([NODE])
    core.opened()
    core.receive(ServerHello("c1", 30.0, resume="r1", tag="g1"))
    core.subscribe("Todos")
    core.receive(Snapshot("Todos", 1, {"items": []}, epoch="e1"))
    return core


def test_a_reconnect_asks_to_resume_and_names_the_copies_it_holds() -> None:
    core = resumable()
    core.receive(EventMessage("note", "hi", 41))
    core.connection_lost(jitter=0.0)
    assert core.opened() == [
        Transmit(ClientHello(resume="r1", last_event=41)),
        Transmit(Subscribe("Todos", 1, "e1")),
    ]
    core.receive(ServerHello("c1", 30.0, resume="r2", recovered=True, tag="g1"))
    assert core.recovered is True and core.resume_token == "r2"
    actions = core.receive(
        PatchMessage("Todos", 2, [{"op": "add", "path": "/items/-", "value": 1}])
    )
    assert actions == [Deliver("Todos", {"items": [1]}, {"items": [1]})]  # the missed change


def test_calls_in_flight_at_a_drop_are_asked_again_on_a_resumed_session() -> None:
    core = resumable()
    call_id, _ = core.call("add", "x")
    actions = core.connection_lost(jitter=0.0)
    assert not [a for a in actions if isinstance(a, Settle)]  # no Disconnected: it may resume
    core.opened()
    actions = core.receive(ServerHello("c1", 30.0, resume="r2", recovered=True, tag="g1"))
    assert Transmit(Call(call_id, "add", "x", resent=True)) in actions
    assert core.receive(Result(call_id, 7)) == [Settle(call_id, value=7)]


def test_calls_in_flight_fail_when_the_session_is_not_resumed() -> None:
    core = resumable()
    call_id, _ = core.call("add", store="Todos", optimistic=add_item("x"))
    core.connection_lost(jitter=0.0)
    later, _ = core.call("later")  # made while away: it never left
    core.opened()
    actions = core.receive(ServerHello("c9", 30.0, resume="r9", tag="g9"))
    assert core.recovered is False and core.client_id == "c9"
    assert Deliver("Todos", {"items": []}, {"items": []}) in actions  # the overlay rolled back
    [settled] = [a for a in actions if isinstance(a, Settle)]
    assert settled.call_id == call_id and isinstance(settled.error, Disconnected)
    assert actions[-1] == Transmit(Call(later, "later", None))  # it may have run: never resent
    assert Emit("connected", Connected("c9", recovered=False, url=NODE)) in actions


def test_calls_in_flight_wait_through_failed_attempts_for_the_resume() -> None:
    core = resumable()
    call_id, _ = core.call("add", "x")
    core.connection_lost(jitter=0.0)  # the drop: kept, the session may resume
    assert not [a for a in core.connection_lost(jitter=0.0) if isinstance(a, Settle)]
    core.opened()
    actions = core.receive(ServerHello("c1", 30.0, resume="r2", recovered=True, tag="g1"))
    assert Transmit(Call(call_id, "add", "x", resent=True)) in actions


@pytest.mark.parametrize("code", [1000, 1001, 1008])
def test_calls_in_flight_fail_when_the_server_said_goodbye(code: int) -> None:
    core = resumable()
    call_id, _ = core.call("add", "x")
    actions = core.connection_lost(jitter=0.0, code=code)
    [settled] = [a for a in actions if isinstance(a, Settle)]
    assert settled.call_id == call_id and isinstance(settled.error, Disconnected)


def test_the_change_a_call_made_drops_its_overlay_in_the_same_emission() -> None:
    """No emitted state holds both the confirmed item and the optimistic one."""
    core = resumable()
    call_id, actions = core.call("add", "x", store="Todos", optimistic=add_item("temp"))
    assert actions[0] == Deliver("Todos", {"items": ["temp"]}, {"items": []})
    ops = [{"op": "add", "path": "/items/-", "value": "x"}]
    actions = core.receive(PatchMessage("Todos", 2, ops, cause=("g1", call_id)))
    assert actions == [Deliver("Todos", {"items": ["x"]}, {"items": ["x"]})]
    assert core.receive(Result(call_id, None)) == [Settle(call_id, value=None)]
    other, _ = core.call("add", "y", store="Todos", optimistic=add_item("temp"))
    actions = core.receive(PatchMessage("Todos", 3, ops, cause=("someone else", other)))
    assert actions == [Deliver("Todos", {"items": ["x", "x", "temp"]}, {"items": ["x", "x"]})]
