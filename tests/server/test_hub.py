"""The hub's rules without a socket or a loop: events in, actions out
(the rig is in ``tests/hub_rig.py``)."""

from __future__ import annotations

import re
from typing import Any
from unittest.mock import ANY

import pytest
from hub_rig import Rig, sent

from hotstate_rx import RpcError
from hotstate_rx.protocol import (
    Call,
    ClientHello,
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
    pack_value,
)
from hotstate_rx.server.clients import Resume
from hotstate_rx.server.history import History
from hotstate_rx.server.hub import Disconnect, HubAction, Invoke, Transmit
from hotstate_rx.server.session import CLOSE_POLICY, DEFAULT_LIMITS
from hotstate_rx.server.storage import MemoryStorage, Saved
from hotstate_rx.server.storage.journal import Journal
from hotstate_rx.server.store import CAUSE, StoreRegistry

__all__ = ["Rig", "sent"]  # test_hub_security takes them from here


def snap(store: str, version: int, data: Any) -> Snapshot:
    """A snapshot of any epoch (epochs are random per server)."""
    return Snapshot(store, version, data, ANY)


@pytest.fixture
def rig() -> Rig:
    return Rig()


def test_hello_opens_the_connection_and_fires_connection(rig: Rig) -> None:
    hello = ServerHello("id-a", 30.0, resume="t1", tag="t2")
    assert sent(rig.connect("a")) == [(("a",), hello)]
    assert rig.fired == [("connection", "id-a")]
    assert rig.hub.connection("id-a") == "a"


def test_subscribe_sends_a_snapshot_counts_the_use_and_fires_subscribe(rig: Rig) -> None:
    todos = rig.store("Todos", {"items": []})
    rig.connect("a")
    assert sent(rig.send("a", Subscribe("Todos"))) == [(("a",), snap("Todos", 1, {"items": []}))]
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
        (("a",), snap("Todos", 2, {"n": 1})),
        (("b",), snap("Todos", 2, {"n": 1})),
    ]


def test_resubscribing_resyncs_without_counting_twice(rig: Rig) -> None:
    todos = rig.store("Todos", {"n": 0})
    rig.connect("a")
    rig.send("a", Subscribe("Todos"))
    todos.set({"n": 5})
    rig.hub.flush()
    assert sent(rig.send("a", Subscribe("Todos"))) == [(("a",), snap("Todos", 2, {"n": 5}))]
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
    rig.hub.lost("b", 2.0, 1000)
    assert idle == ["x"] and rooms.subscriber_count("x") == 0
    assert rig.fired[-2:] == [("unsubscribe", "Room:x", "id-b"), ("disconnect", "id-b")]


def test_a_change_made_as_a_session_ends_reaches_the_others(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    """An ``unsubscribe`` listener (presence) changes a store the ending
    session also watches, before that subscription of it ended: the others
    get the change, and nothing fails on the session that is going."""
    board = rig.store("Board", {"here": ["id-a", "id-b"]})
    rig.store("Room:*", {"n": 0})
    for conn in ("a", "b"):
        rig.connect(conn)
        rig.send(conn, Subscribe("Room:x"))
        rig.send(conn, Subscribe("Board"))

    def left(store: str, client_id: str) -> None:
        if store == "Room:x":
            board.update(lambda d: d["here"].remove(client_id))

    rig.events.on("unsubscribe", left)
    gone = rig.hub.lost("a", 2.0, 1000)
    patches = [m for _, m in sent(gone) if isinstance(m, PatchMessage)]
    assert [(p.store, p.version) for p in patches] == [("Board", 2)]
    assert [t for t, m in sent(gone) if m in patches] == [("b",)]
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


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
    rig.hub.lost("a", 2.0, 1000)
    assert rig.hub.returned(invoke, 42) == []


def test_emit_reaches_every_client_or_one(rig: Rig) -> None:
    for conn in ("a", "b"):
        rig.connect(conn)
    rig.hub.open("c", "id-c", now=0.0, heartbeat=30.0)  # no hello yet: no events
    packed = pack_value(1)
    rig.hub.emit("note", packed, None)
    rig.hub.emit("note", packed, "id-b")
    rig.hub.emit("note", packed, "id-gone")
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


# -- with storage: a result leaves once the changes before it are committed ---------


class DurableRig(Rig):
    """A hub whose registry records changes in a journal; :meth:`commit` is the
    writer thread's work, done by the test."""

    def __init__(self) -> None:
        storage = MemoryStorage()
        self.journal = Journal(storage, storage.open())
        super().__init__(StoreRegistry(self.journal))

    def commit(self) -> None:
        batch = self.journal.take()
        assert batch is not None
        self.journal.storage.write(batch.saved, batch.deleted)
        self.journal.committed(batch)


def test_a_result_is_held_until_the_changes_before_it_are_committed() -> None:
    rig = DurableRig()
    todos = rig.store("Todos", {"n": 0})
    rig.functions.register("inc", lambda args: todos.update(lambda d: d.update(n=d["n"] + 1)))
    for conn in ("a", "b"):
        rig.connect(conn)
        rig.send(conn, Subscribe("Todos"))
    rig.commit()  # the creation of Todos
    [invoke] = rig.send("a", Call(7, "inc"))
    assert isinstance(invoke, Invoke)
    value = invoke.function(invoke.call.args, invoke.context)
    patch = PatchMessage("Todos", 2, [{"op": "replace", "path": "/n", "value": 1}])
    assert sent(rig.hub.returned(invoke, value)) == [(("a", "b"), patch)]  # the result waits
    assert rig.hub.committed() == []  # nothing committed yet: still held
    rig.commit()
    assert sent(rig.hub.committed()) == [(("a",), Result(7, None))]
    assert rig.journal.storage.load("Todos") == Saved("Todos", 2, {"n": 1}, lifetime=ANY)


def test_results_go_out_in_the_order_of_their_commits_and_failures_wait_too() -> None:
    rig = DurableRig()
    todos = rig.store("Todos", {"n": 0})
    rig.functions.register("inc", lambda args: todos.update(lambda d: d.update(n=d["n"] + 1)))
    rig.connect("a")
    [first] = rig.send("a", Call(1, "inc"))
    [second] = rig.send("a", Call(2, "inc"))
    assert isinstance(first, Invoke) and isinstance(second, Invoke)
    first.function(None, first.context)
    assert rig.hub.returned(first, None) == []
    batch = rig.journal.take()  # the first change is on its way to disk...
    assert batch is not None
    second.function(None, second.context)
    assert rig.hub.raised(second, RpcError("after its change")) == []
    rig.journal.storage.write(batch.saved, batch.deleted)
    rig.journal.committed(batch)  # ...and lands: only the first result may go
    assert sent(rig.hub.committed()) == [(("a",), Result(1, None))]
    rig.commit()
    assert sent(rig.hub.committed()) == [(("a",), Result(2, error="after its change"))]


def test_a_result_with_nothing_to_commit_goes_at_once() -> None:
    rig = DurableRig()
    rig.functions.register("echo", lambda args: args)
    rig.connect("a")
    [invoke] = rig.send("a", Call(1, "echo", 5))
    assert isinstance(invoke, Invoke)
    assert sent(rig.hub.returned(invoke, 5)) == [(("a",), Result(1, 5))]


def test_held_results_of_a_lost_connection_are_dropped() -> None:
    rig = DurableRig()
    todos = rig.store("Todos", {"n": 0})
    rig.functions.register("set", lambda args: todos.set({"n": args}))
    rig.connect("a")
    [invoke] = rig.send("a", Call(1, "set", 3))
    assert isinstance(invoke, Invoke)
    invoke.function(invoke.call.args, invoke.context)
    rig.hub.returned(invoke, None)
    rig.hub.lost("a", 2.0, 1000)
    rig.commit()
    assert rig.hub.committed() == []


# -- history: a client that names its version gets what it missed --------------------


def subscribed(rig: Rig, conn: str, store: str) -> Snapshot:
    rig.connect(conn)
    [(_, first)] = sent(rig.send(conn, Subscribe(store)))
    assert isinstance(first, Snapshot) and first.epoch is not None
    return first


def test_a_resubscription_with_a_version_gets_only_the_missed_changes(rig: Rig) -> None:
    todos = rig.store("Todos", {"n": 0})
    first = subscribed(rig, "a", "Todos")
    rig.hub.lost("a", 1.0)  # a drop: the session, and its subscription, are parked
    for n in (1, 2, 3):
        todos.update(lambda d, n=n: d.update(n=n))
    rig.connect("b")
    replay = sent(rig.send("b", Subscribe("Todos", first.version, first.epoch)))
    assert [(m.version, m.ops) for _, m in replay if isinstance(m, PatchMessage)] == [
        (2, [{"op": "replace", "path": "/n", "value": 1}]),
        (3, [{"op": "replace", "path": "/n", "value": 2}]),
        (4, [{"op": "replace", "path": "/n", "value": 3}]),
    ]
    assert len(replay) == 3
    assert sent(rig.send("b", Subscribe("Todos", 4, first.epoch))) == []  # up to date


def test_an_instance_nobody_watches_keeps_no_history(rig: Rig) -> None:
    """History serves copies that sessions hold: with none, no encode, no memory."""
    todos = rig.store("Todos", {"n": 0})
    first = subscribed(rig, "a", "Todos")
    todos.set({"n": 1})
    rig.hub.flush()
    assert rig.hub.history.size > 0
    rig.hub.lost("a", 1.0, 1000)  # a goodbye: the last subscription ends
    assert rig.hub.history.size == 0
    todos.set({"n": 2})  # unwatched: nothing recorded
    assert rig.hub.flush() == [] and rig.hub.history.size == 0
    rig.connect("b")
    [(_, again)] = sent(rig.send("b", Subscribe("Todos", first.version, first.epoch)))
    assert isinstance(again, Snapshot) and again.version == 3


def test_another_epoch_or_an_uncovered_gap_gets_a_snapshot(rig: Rig) -> None:
    todos = rig.store("Todos", {"n": 0})
    first = subscribed(rig, "a", "Todos")
    todos.delete()
    todos.set({"n": 7})  # a new lifetime, starting at version 1 again
    rig.hub.flush()
    [(_, again)] = sent(rig.send("a", Subscribe("Todos", first.version, first.epoch)))
    assert isinstance(again, Snapshot) and again.data == {"n": 7}
    assert again.epoch != first.epoch
    small = Rig(history=History(patches=2))
    counter = small.store("Counter", {"n": 0})
    start = subscribed(small, "a", "Counter")
    for n in range(5):
        counter.set({"n": n})
    small.hub.flush()
    [(_, snapshot)] = sent(small.send("a", Subscribe("Counter", start.version, start.epoch)))
    assert isinstance(snapshot, Snapshot) and snapshot.version == 6


def test_changes_made_by_a_call_name_it(rig: Rig) -> None:
    todos = rig.store("Todos", {"n": 0})
    rig.functions.register("inc", lambda args: todos.update(lambda d: d.update(n=d["n"] + 1)))
    rig.connect("a")
    rig.send("a", Subscribe("Todos"))
    [invoke] = rig.send("a", Call(9, "inc"))
    assert isinstance(invoke, Invoke) and invoke.cause == ("t2", 9)  # the session's tag
    token = CAUSE.set(invoke.cause)  # what the driver does around a handler
    try:
        invoke.function(invoke.call.args, invoke.context)
    finally:
        CAUSE.reset(token)
    patch, _ = [m for _, m in sent(rig.hub.returned(invoke, None))]
    assert isinstance(patch, PatchMessage) and patch.cause == ("t2", 9)
    todos.update(lambda d: d.update(n=5))  # not in a call: no cause
    [(_, plain)] = sent(rig.hub.flush())
    assert isinstance(plain, PatchMessage) and plain.cause is None


# -- sessions: a dropped client resumes ---------------------------------------------


def test_a_dropped_session_resumes_with_its_id_subscriptions_and_events(rig: Rig) -> None:
    todos = rig.store("Todos", {"n": 0})
    idle: list[str | None] = []
    todos.on_idle(idle.append)
    [(_, hello)] = sent(rig.connect("a"))
    assert isinstance(hello, ServerHello) and hello.resume is not None
    [(_, first)] = sent(rig.send("a", Subscribe("Todos")))
    assert isinstance(first, Snapshot)
    rig.hub.emit("note", pack_value("before"), None)
    rig.hub.flush()
    rig.hub.lost("a", 10.0)  # no close frame: the network failed
    assert rig.fired[-1] == ("subscribe", "Todos", "id-a")  # no unsubscribe, no disconnect
    assert todos.subscriber_count() == 1 and idle == []
    rig.hub.emit("note", pack_value("while away"), "id-a")
    rig.hub.emit("note", pack_value("to all"), None)
    assert rig.hub.flush() == []  # kept for the client, nothing sent
    rig.hub.open("b", "id-b", now=11.0, heartbeat=30.0)
    back = sent(rig.send("b", ClientHello(resume=hello.resume, last_event=1)))
    [(_, again), (_, e2), (_, e3)] = back
    assert isinstance(again, ServerHello) and again.recovered
    assert again.client_id == "id-a" and again.resume == hello.resume
    assert (e2, e3) == (EventMessage("note", "while away", 2), EventMessage("note", "to all", 3))
    assert rig.hub.connection("id-a") == "b"
    todos.set({"n": 1})
    assert rig.hub.flush() == []  # paused until the client names the copy it holds
    [(_, missed)] = sent(rig.send("b", Subscribe("Todos", first.version, first.epoch)))
    assert isinstance(missed, Snapshot) and missed.version == 2  # set() sends snapshots
    todos.set({"n": 2})
    [action] = rig.hub.flush()
    assert isinstance(action, Transmit) and action.targets == ("b",)
    assert rig.fired[-1] == ("subscribe", "Todos", "id-a")  # no second subscribe event
    assert ("connection", "id-b") not in rig.fired and rig.fired.count(("connection", "id-a")) == 1


def test_a_parked_session_ends_when_its_window_passes(rig: Rig) -> None:
    todos = rig.store("Todos", {"n": 0})
    idle: list[str | None] = []
    todos.on_idle(idle.append)
    [(_, hello)] = sent(rig.connect("a"))
    assert isinstance(hello, ServerHello)
    rig.send("a", Subscribe("Todos"))
    rig.hub.lost("a", 10.0)
    assert rig.hub.next_expiry() == 70.0
    assert rig.hub.expire(69.9) == [] and todos.subscriber_count() == 1
    rig.hub.expire(70.0)
    assert idle == [None] and todos.subscriber_count() == 0
    assert rig.fired[-2:] == [("unsubscribe", "Todos", "id-a"), ("disconnect", "id-a")]
    assert rig.hub.next_expiry() is None
    rig.hub.open("b", "id-b", now=71.0, heartbeat=30.0)
    [(_, late)] = sent(rig.send("b", ClientHello(resume=hello.resume)))
    assert isinstance(late, ServerHello) and not late.recovered and late.client_id == "id-b"


@pytest.mark.parametrize("code", [1000, 1001])
def test_a_goodbye_ends_the_session_at_once(rig: Rig, code: int) -> None:
    rig.connect("a")
    rig.hub.lost("a", 10.0, code)
    assert rig.fired[-1] == ("disconnect", "id-a") and rig.hub.next_expiry() is None


def test_a_connection_closed_for_misbehaving_is_not_parked(rig: Rig) -> None:
    rig.connect("a")
    for _ in range(DEFAULT_LIMITS.max_bad_frames):
        rig.hub.receive("a", b"\xc1", now=1.0)
    rig.hub.lost("a", 2.0, CLOSE_POLICY)
    assert rig.fired[-1] == ("disconnect", "id-a") and rig.hub.next_expiry() is None


def test_resuming_a_session_still_open_takes_it_over(rig: Rig) -> None:
    """The server may not have noticed yet that the old connection died."""
    [(_, hello)] = sent(rig.connect("a"))
    assert isinstance(hello, ServerHello)
    rig.hub.open("b", "id-b", now=2.0, heartbeat=30.0)
    actions = rig.send("b", ClientHello(resume=hello.resume))
    assert Disconnect("a", 1000, "session resumed elsewhere") in actions
    assert rig.hub.connection("id-a") == "b"
    assert rig.hub.lost("a", 3.0) == [] and rig.hub.connection("id-a") == "b"


def test_a_resume_that_missed_dropped_events_starts_a_new_session(rig: Rig) -> None:
    small = Rig(resume=Resume(events=2))
    [(_, hello)] = sent(small.connect("a"))
    assert isinstance(hello, ServerHello)
    small.hub.lost("a", 1.0)
    for n in range(3):  # one more than is kept
        small.hub.emit("note", pack_value(n), "id-a")
    small.hub.open("b", "id-b", now=2.0, heartbeat=30.0)
    [(_, fresh)] = sent(small.send("b", ClientHello(resume=hello.resume, last_event=0)))
    assert isinstance(fresh, ServerHello) and not fresh.recovered and fresh.client_id == "id-b"
    assert ("disconnect", "id-a") in small.fired


# -- calls across a drop: each runs once --------------------------------------------


def test_a_call_resent_after_a_resume_is_answered_from_the_cache(rig: Rig) -> None:
    runs: list[Any] = []
    rig.functions.register("add", lambda args: runs.append(args) or len(runs))
    [(_, hello)] = sent(rig.connect("a"))
    assert isinstance(hello, ServerHello)
    [invoke] = rig.send("a", Call(1, "add", "x"))
    assert isinstance(invoke, Invoke)
    rig.hub.lost("a", 1.0)  # the answer is lost with the connection
    assert rig.hub.returned(invoke, invoke.function("x", invoke.context)) == []
    rig.hub.open("b", "id-b", now=2.0, heartbeat=30.0)
    rig.send("b", ClientHello(resume=hello.resume))
    assert sent(rig.send("b", Call(1, "add", "x", resent=True))) == [(("b",), Result(1, 1))]
    assert runs == ["x"]


def test_a_call_still_running_at_the_resume_answers_the_new_connection(rig: Rig) -> None:
    rig.functions.register("slow", lambda args: None)
    [(_, hello)] = sent(rig.connect("a"))
    assert isinstance(hello, ServerHello)
    [invoke] = rig.send("a", Call(1, "slow"))
    assert isinstance(invoke, Invoke)
    rig.hub.lost("a", 1.0)
    rig.hub.open("b", "id-b", now=2.0, heartbeat=30.0)
    rig.send("b", ClientHello(resume=hello.resume))
    assert rig.send("b", Call(1, "slow", resent=True)) == []  # no second run
    assert sent(rig.hub.returned(invoke, "done")) == [(("b",), Result(1, "done"))]


def test_a_duplicate_id_while_running_is_refused(rig: Rig) -> None:
    rig.functions.register("slow", lambda args: None)
    rig.connect("a")
    [invoke] = rig.send("a", Call(1, "slow"))
    [(_, refused)] = sent(rig.send("a", Call(1, "slow")))  # a bad frame: the first call stands
    assert isinstance(refused, ErrorMessage) and "call id 1 is already running" in refused.message
    rig.hub.returned(invoke, None)  # type: ignore[arg-type]
    [again] = rig.send("a", Call(1, "slow"))  # ids may be reused once answered
    assert isinstance(again, Invoke)


def test_a_resent_call_whose_answer_was_dropped_is_not_run_again(rig: Rig) -> None:
    small = Rig(resume=Resume(results=1))
    small.functions.register("f", lambda args: args)
    [(_, hello)] = sent(small.connect("a"))
    assert isinstance(hello, ServerHello)
    for call_id in (1, 2):
        [invoke] = small.send("a", Call(call_id, "f", call_id))
        assert isinstance(invoke, Invoke)
        small.hub.returned(invoke, call_id)
    [(_, lost)] = sent(small.send("a", Call(1, "f", 1, resent=True)))
    assert isinstance(lost, Result) and "already ran" in (lost.error or "")
    [(_, kept)] = sent(small.send("a", Call(2, "f", 2, resent=True)))
    assert kept == Result(2, 2)
    [fresh] = small.send("a", Call(3, "f", 3, resent=True))  # never arrived: it runs
    assert isinstance(fresh, Invoke)
