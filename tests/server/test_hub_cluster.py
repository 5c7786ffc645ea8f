"""The clustered hub's rules without Redis: the cluster actions it asks for
and how it takes their outcomes (the driver and ``cluster/`` do the I/O)."""

from __future__ import annotations

from typing import Any

import pytest
from hub_rig import Rig, sent

from hotstate_rx.protocol import (
    Call,
    ClientHello,
    EventMessage,
    Result,
    ServerHello,
    Snapshot,
    Subscribe,
    Unsubscribe,
    encode,
    encode_event,
    pack_value,
)
from hotstate_rx.server.clients import RemoteSession, Resume, client_of, fingerprint
from hotstate_rx.server.hub import (
    OUTCOME_UNKNOWN,
    ClaimCall,
    CountSubscriber,
    Disconnect,
    DropSession,
    FetchSession,
    HubAction,
    Invoke,
    RecordSession,
    SaveResult,
    Transmit,
)
from hotstate_rx.server.session import (
    CLOSE_POLICY,
    CLOSE_TRY_AGAIN,
    MAX_HELD_FRAMES,
    Close,
    Session,
    State,
)
from hotstate_rx.server.store import Change


@pytest.fixture
def rig() -> Rig:
    return Rig(clustered=True)


def of(kind: type, actions: list[HubAction[str]]) -> list[Any]:
    return [a for a in actions if isinstance(a, kind)]


def remote(client_id: str = "id-x", **fields: Any) -> RemoteSession:
    values: dict[str, Any] = {
        "client_id": client_id,
        "token": f"{client_id}.secret",
        "tag": "tag-x",
        "user": fingerprint(None),
        "events": (),
        "complete": True,
        **fields,
    }
    return RemoteSession(**values)


def test_a_new_session_is_recorded_under_a_token_that_names_it(rig: Rig) -> None:
    actions = rig.connect("a")
    [record] = of(RecordSession, actions)
    [(_, hello)] = sent(actions)
    assert isinstance(hello, ServerHello) and hello.resume == record.token
    assert client_of(record.token) == "id-a" == record.client_id
    assert record.user == fingerprint(None) and not record.taken


def test_tokens_that_name_no_session(rig: Rig) -> None:
    for token in ("no-dot", ".x", "a.", "x" * 65 + ".y", "\x00.y"):
        assert client_of(token) is None, token
    assert client_of("abc.def.ghi") == "abc.def"


def test_an_unknown_token_is_looked_up_while_the_frames_after_the_hello_wait(rig: Rig) -> None:
    rig.store("Todos", {"n": 0})
    rig.functions.register("f", lambda args: args)
    rig.hub.open("b", "id-b", now=0.0, heartbeat=30.0)
    fetch = rig.send("b", ClientHello(resume="id-x.secret", last_event=5))
    assert fetch == [FetchSession("b", "id-x", "id-x.secret", 5)]
    assert rig.send("b", Subscribe("Todos")) == []  # held
    assert rig.send("b", Call(1, "f", 2, resent=True)) == []
    rig.hub.emit("note", pack_value("heard meanwhile"), "id-x", 9)
    rig.hub.emit("note", pack_value("not for it"), "id-other", 10)
    rig.hub.emit("note", pack_value("to all"), None, 11)
    assert rig.hub.flush() == []
    missed = ((6, encode_event("note", pack_value("missed"), 6)),)
    actions = rig.hub.fetched("b", remote(events=missed), 1.0)
    [record] = of(RecordSession, actions)
    assert record.taken and record.client_id == "id-x" and record.tag == "tag-x"
    messages = [m for _, m in sent(actions)]
    assert messages[0] == ServerHello(
        "id-x", 30.0, resume="id-x.secret", recovered=True, tag="tag-x"
    )
    assert messages[1:4] == [
        EventMessage("note", "missed", 6),
        EventMessage("note", "heard meanwhile", 9),
        EventMessage("note", "to all", 11),
    ]
    assert isinstance(messages[4], Snapshot)  # then the held frames, in order
    [claim] = of(ClaimCall, actions)
    assert claim.invoked.context.client_id == "id-x" and claim.invoked.cause == ("tag-x", 1)
    assert rig.hub.connection("id-x") == "b" and ("connection", "id-x") in rig.fired


@pytest.mark.parametrize(
    "found",
    [None, remote(user=fingerprint("mallory")), remote(complete=False), remote("id-y")],
    ids=["unknown", "another user", "events lost", "another session"],
)
def test_a_session_that_cannot_be_resumed_starts_afresh(rig: Rig, found: Any) -> None:
    rig.store("Todos", {"n": 0})
    rig.hub.open("b", "id-b", now=0.0, heartbeat=30.0)
    rig.send("b", ClientHello(resume="id-x.secret"))
    rig.send("b", Subscribe("Todos"))
    actions = rig.hub.fetched("b", found, 1.0)
    [(_, hello), (_, snapshot)] = sent(actions)
    assert isinstance(hello, ServerHello) and hello.client_id == "id-b" and not hello.recovered
    assert isinstance(snapshot, Snapshot)
    assert not of(RecordSession, actions)[0].taken


def test_a_known_token_resumes_here_without_a_lookup(rig: Rig) -> None:
    [(_, hello)] = sent(rig.connect("a"))
    rig.hub.lost("a", 2.0)
    rig.hub.open("b", "id-b", now=3.0, heartbeat=30.0)
    actions = rig.send("b", ClientHello(resume=hello.resume))
    assert not of(FetchSession, actions)
    [(_, again)] = sent(actions)
    assert isinstance(again, ServerHello) and again.recovered and again.client_id == "id-a"


def test_a_wrong_token_for_a_session_of_this_node_is_not_looked_up(rig: Rig) -> None:
    rig.connect("a")
    rig.hub.open("b", "id-b", now=3.0, heartbeat=30.0)
    actions = rig.send("b", ClientHello(resume="id-a.forged"))
    assert not of(FetchSession, actions)
    [(_, hello)] = sent(actions)
    assert isinstance(hello, ServerHello) and hello.client_id == "id-b"


def test_a_connection_lost_during_the_lookup_is_forgotten(rig: Rig) -> None:
    rig.hub.open("b", "id-b", now=0.0, heartbeat=30.0)
    rig.send("b", ClientHello(resume="id-x.secret"))
    rig.hub.lost("b", 1.0)
    assert rig.hub.fetched("b", remote(), 2.0) == []
    assert rig.hub.connection("id-x") is None


def test_frames_held_during_a_lookup_are_bounded_and_timed() -> None:
    session = Session("c", now=0.0, remote_resume=True)
    session.receive(encode(ClientHello(resume="id-x.s")), 0.0)
    assert session.state is State.RESUMING
    ping = encode(Subscribe("Todos"))
    actions = []
    for _ in range(MAX_HELD_FRAMES + 1):
        actions = session.receive(ping, 0.1)
    assert Close(CLOSE_POLICY, "too much sent before the connection was accepted") in actions
    slow = Session("d", now=0.0, remote_resume=True)
    slow.receive(encode(ClientHello(resume="id-x.s")), 0.0)
    deadline = slow.next_deadline()
    assert deadline is not None
    assert slow.tick(deadline) == [
        Close(CLOSE_TRY_AGAIN, "the session could not be looked up in time")
    ]


def test_a_call_runs_once_its_claim_is_won_and_its_answer_is_saved(rig: Rig) -> None:
    rig.functions.register("f", lambda args: args * 2)
    rig.connect("a")
    [claim] = rig.send("a", Call(1, "f", 21))
    assert isinstance(claim, ClaimCall)
    [invoke] = rig.hub.claimed(claim.invoked, None)
    assert isinstance(invoke, Invoke)
    actions = rig.hub.returned(invoke, 42)
    frame = encode(Result(1, 42))
    assert actions == [SaveResult("id-a", 1, frame), Transmit(("a",), frame)]


def test_a_claim_lost_to_another_node_never_runs_the_call(rig: Rig) -> None:
    rig.functions.register("f", lambda args: args)
    rig.connect("a")
    saved = encode(Result(1, "answered elsewhere"))
    [claim] = rig.send("a", Call(1, "f", 0, resent=True))
    assert rig.hub.claimed(claim.invoked, saved) == [Transmit(("a",), saved)]
    [claim] = rig.send("a", Call(2, "f", 0, resent=True))
    assert sent(rig.hub.claimed(claim.invoked, b"")) == [(("a",), Result(2, error=OUTCOME_UNKNOWN))]
    [claim] = rig.send("a", Call(3, "f", 0))
    answer = rig.hub.claimed(claim.invoked, None, "cluster unavailable: try again")
    assert sent(answer) == [(("a",), Result(3, error="cluster unavailable: try again"))]
    [claim] = rig.send("a", Call(3, "f", 0))  # not saved: it may be tried again
    assert isinstance(claim, ClaimCall)


def test_subscriptions_are_counted_for_the_cluster_and_idle_runs_when_it_says(rig: Rig) -> None:
    idle: list[str | None] = []
    rooms = rig.store("Room:*", {"n": 0}).on_idle(idle.append)
    rig.connect("a")
    assert CountSubscriber("Room:x", 1) in rig.send("a", Subscribe("Room:x"))
    assert of(CountSubscriber, rig.send("a", Subscribe("Room:x"))) == []  # a resync
    assert of(CountSubscriber, rig.send("a", Unsubscribe("Room:x"))) == [
        CountSubscriber("Room:x", -1)
    ]
    assert idle == [] and rooms.has("x")  # not until the cluster says no node has one
    rig.hub.idle("Room:x")
    assert idle == ["x"] and not rooms.has("x")  # transient: reclaimed


def test_a_session_taken_by_another_node_is_let_go_here(rig: Rig) -> None:
    rig.store("Todos", {"n": 0})
    rig.connect("a")
    rig.send("a", Subscribe("Todos"))
    actions = rig.hub.taken("id-a")
    assert Disconnect("a", 1000, "session resumed elsewhere") in actions
    assert of(DropSession, actions) == []  # the record is the other node's now
    assert CountSubscriber("Todos", -1) in actions
    assert rig.hub.context("id-a") is None


def test_an_ended_session_is_dropped_from_the_cluster(rig: Rig) -> None:
    rig.connect("a")
    assert DropSession("id-a") in rig.hub.lost("a", 1.0, 1000)


def test_changes_nobody_here_watches_are_kept_for_resumes(rig: Rig) -> None:
    todos = rig.store("Todos", {"n": 0})
    todos.update(lambda d: d.update(n=1))  # nobody subscribes here
    rig.hub.flush()
    version = todos.version() or 0
    epoch = rig.registry.find(todos.definition, None).epoch
    assert rig.hub.history.since("Todos", epoch, version - 1, version) is not None
    patch: Any = [{"op": "replace", "path": "/n", "value": 2}]
    rig.hub.heard(Change("Todos", None, version + 1, {"n": 2}, patch, epoch))
    assert len(rig.hub.history.since("Todos", epoch, version - 1, version + 1) or ()) == 2


def test_without_a_resume_window_no_session_is_recorded() -> None:
    rig = Rig(clustered=True, resume=Resume(window=0))
    actions = rig.connect("a")
    assert of(RecordSession, actions) == []
    assert of(DropSession, rig.hub.lost("a", 1.0)) == []
