"""The hub's security rules without a socket or a loop: authentication as a
state (``Authenticate`` out, ``accepted``/``refused`` in), ``access`` on stores
and functions, ``disconnect``, what clients read of failures."""

from __future__ import annotations

import logging
import re
from typing import Any
from unittest.mock import ANY

import pytest
from test_hub import Rig, sent

from hotstate_rx import CallContext, ConnectInfo, RpcError, Unauthorized
from hotstate_rx.protocol import (
    Call,
    ClientHello,
    ErrorMessage,
    EventMessage,
    Result,
    ServerHello,
    Snapshot,
    Subscribe,
    encode,
)
from hotstate_rx.server.access import AccessRules
from hotstate_rx.server.hub import Authenticate, Disconnect, HubAction, Invoke, Transmit


def secure_rig(access: AccessRules | None = None, **options: Any) -> Rig:
    """A rig whose hub authenticates; the function itself is never called here:
    the tests play the driver and report verdicts."""
    return Rig(authenticate=lambda info: None, access=access, **options)


def knock(rig: Rig, conn: str, token: str | None = "t") -> Authenticate[str]:
    """Open ``conn`` and say hello with ``token``: the hub asks for a verdict."""
    upgrade = ConnectInfo.from_upgrade([("Cookie", "sid=42")], path="/ws", query="room=a")
    rig.hub.open(conn, f"id-{conn}", now=0.0, heartbeat=30.0, info=upgrade)
    [action] = rig.send(conn, ClientHello(token=token))
    assert isinstance(action, Authenticate)
    return action


def admit(rig: Rig, conn: str, user: Any) -> list[HubAction[str]]:
    knock(rig, conn)
    return rig.hub.accepted(conn, user, 1.0)


def test_the_verdict_is_asked_with_the_token_and_the_upgrade() -> None:
    rig = secure_rig()
    action = knock(rig, "a", "s3cret")
    assert action.conn == "a"
    assert action.info.token == "s3cret" and "s3cret" not in repr(action.info)
    assert action.info.cookies == {"sid": "42"} and action.info.query == {"room": "a"}
    assert action.info.path == "/ws"


def test_nothing_is_served_before_acceptance() -> None:
    rig = secure_rig()
    created: list[str | None] = []
    rig.store("Room:*", {"n": 0}).on_create(lambda key: created.append(key))
    rig.functions.register("add", lambda args: args)
    rig.connect("b")  # an unauthenticated hub would let this one in; here it waits too
    knock(rig, "a")
    assert rig.send("a", Subscribe("Room:x")) == []
    assert rig.send("a", Call(1, "add", 2)) == []
    rig.registry.schedule(rig.hub.emit, encode(EventMessage("news", 1)), None)
    assert rig.hub.flush() == []  # the broadcast reaches nobody: nobody is in
    assert created == [] and rig.registry.names() == []
    assert [e for e in rig.fired if e[0] == "connection"] == []

    actions = rig.hub.accepted("a", {"name": "ana"}, 1.0)
    messages = [message for _, message in sent(actions)]
    assert messages == [
        ServerHello("id-a", 30.0, resume=ANY, tag=ANY),
        Snapshot("Room:x", 1, {"n": 0}, ANY),
    ]
    [invoke] = [a for a in actions if isinstance(a, Invoke)]
    assert invoke.context == CallContext("id-a", "the server", {"name": "ana"})  # type: ignore[arg-type]
    assert created == ["x"]
    assert ("connection", "id-a") in rig.fired
    assert rig.hub.context("id-a") is invoke.context


@pytest.mark.parametrize(
    ("verdict", "reason"),
    [
        (lambda rig: rig.hub.accepted("a", None, 1.0), "unauthorized"),
        (lambda rig: rig.hub.refused("a", Unauthorized("bad token")), "bad token"),
        (lambda rig: rig.hub.refused("a", Unauthorized("")), "unauthorized"),
    ],
)
def test_refusal_is_err_unauthorized_then_close_4401(verdict: Any, reason: str) -> None:
    rig = secure_rig()
    knock(rig, "a")
    rig.send("a", Subscribe("Todos"))
    reply, close = verdict(rig)
    assert isinstance(reply, Transmit)
    assert sent([reply]) == [(("a",), ErrorMessage("unauthorized", reason))]
    assert close == Disconnect("a", 4401, "unauthorized")
    assert rig.hub.connection("id-a") is None and rig.hub.context("id-a") is None
    assert not [e for e in rig.fired if e[0] in ("connection", "error")]


def test_authenticate_failing_closes_1011_with_a_ref_and_no_secret(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rig = secure_rig()
    knock(rig, "a")
    error = RuntimeError("db error: postgres://admin:hunter2@10.0.0.5/prod")
    [close] = rig.hub.refused("a", error)
    assert isinstance(close, Disconnect) and close.code == 1011
    match = re.fullmatch(r"internal error \(ref ([0-9a-f]{8})\)", close.reason)
    assert match is not None, close.reason
    assert match[1] in caplog.text and "hunter2" in caplog.text  # the log has it all
    assert ("error", error, None) in rig.fired


def test_a_verdict_for_a_connection_that_left_is_ignored() -> None:
    rig = secure_rig()
    knock(rig, "a")
    rig.hub.lost("a", 2.0, 1000)
    assert rig.hub.accepted("a", "ana", 1.0) == []
    assert rig.hub.refused("a", Unauthorized()) == []


def test_without_authenticate_ctx_user_is_none() -> None:
    rig = Rig()
    rig.functions.register("f", lambda args: None)
    rig.connect("a")
    [invoke] = rig.send("a", Call(1, "f"))
    assert isinstance(invoke, Invoke) and invoke.context.user is None


# -- access ---------------------------------------------------------------------


def rules(stores: dict[str, Any] | None = None, functions: dict[str, Any] | None = None) -> Any:
    table = AccessRules()
    for name, rule in (stores or {}).items():
        table.set_store(name, AccessRules.check_store_rule(rule))
    for name, rule in (functions or {}).items():
        table.set_function(name, AccessRules.check_function_rule(rule))
    return table


def test_a_refused_dynamic_subscription_creates_nothing_and_runs_no_hook() -> None:
    asked: list[tuple[Any, str | None]] = []

    def member(ctx: CallContext, key: str | None) -> bool:
        asked.append((ctx.user, key))
        return key in ctx.user["rooms"]

    rig = secure_rig(rules({"Room:*": member}))
    created: list[str | None] = []
    rig.store("Room:*", {"n": 0}).on_create(lambda key: created.append(key))
    admit(rig, "a", {"rooms": ["mine"]})
    reply = ErrorMessage("subscribe", "forbidden", "Room:theirs")
    assert sent(rig.send("a", Subscribe("Room:theirs"))) == [(("a",), reply)]
    assert rig.registry.names() == [] and created == []
    assert not [e for e in rig.fired if e[0] in ("subscribe", "store_created")]
    assert sent(rig.send("a", Subscribe("Room:mine"))) == [
        (("a",), Snapshot("Room:mine", 1, {"n": 0}, ANY))
    ]
    assert created == ["mine"]
    rig.send("a", Subscribe("Room:mine"))  # a resync is not a new subscription
    assert asked == [({"rooms": ["mine"]}, "theirs"), ({"rooms": ["mine"]}, "mine")]


def test_a_static_store_rule_gets_key_none() -> None:
    keys: list[str | None] = []
    rig = secure_rig(rules({"Secrets": lambda ctx, key: keys.append(key) or ctx.user == "admin"}))
    rig.store("Secrets", {"api_key": "k"})
    admit(rig, "a", "guest")
    admit(rig, "b", "admin")
    [(_, refused)] = sent(rig.send("a", Subscribe("Secrets")))
    assert refused == ErrorMessage("subscribe", "forbidden", "Secrets")
    assert sent(rig.send("b", Subscribe("Secrets"))) == [
        (("b",), Snapshot("Secrets", 1, {"api_key": "k"}, ANY))
    ]
    assert keys == [None, None]


def test_a_refused_call_never_invokes_the_handler() -> None:
    rig = secure_rig(rules(functions={"admin.reset": lambda ctx: ctx.user["admin"]}))
    rig.functions.register("admin.reset", lambda args: None)
    admit(rig, "a", {"admin": False})
    admit(rig, "b", {"admin": True})
    assert sent(rig.send("a", Call(7, "admin.reset"))) == [(("a",), Result(7, error="forbidden"))]
    [invoke] = rig.send("b", Call(8, "admin.reset"))
    assert isinstance(invoke, Invoke)


def test_an_unknown_function_is_unknown_before_it_is_forbidden() -> None:
    rig = secure_rig(rules(functions={"x": lambda ctx: False}))
    admit(rig, "a", "ana")
    assert sent(rig.send("a", Call(1, "nope"))) == [
        (("a",), Result(1, error="unknown function 'nope'"))
    ]


def test_a_rule_that_raises_or_is_async_refuses_and_reports(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def sneaky(ctx: CallContext) -> bool:
        return True

    rig = secure_rig(
        rules(
            stores={"Todos": lambda ctx, key: ctx.user["missing"]},
            functions={"f": lambda ctx: sneaky(ctx)},  # returns a coroutine: never truthy
        )
    )
    rig.store("Todos", {})
    rig.functions.register("f", lambda args: None)
    admit(rig, "a", {})
    [(_, refused)] = sent(rig.send("a", Subscribe("Todos")))
    assert refused == ErrorMessage("subscribe", "forbidden", "Todos")
    assert sent(rig.send("a", Call(1, "f"))) == [(("a",), Result(1, error="forbidden"))]
    errors = [e[1] for e in rig.fired if e[0] == "error"]
    assert isinstance(errors[0], KeyError) and isinstance(errors[1], TypeError)
    assert "returned an awaitable" in caplog.text


# -- disconnect, failures ------------------------------------------------------------


def test_disconnect_closes_that_connection_only() -> None:
    rig = Rig()
    rig.store("Todos", {"n": 0})
    for conn in ("a", "b"):
        rig.connect(conn)
    rig.registry.schedule(rig.hub.disconnect, "id-b", "banned")
    assert rig.hub.flush() == [Disconnect("b", 4000, "banned")]
    assert rig.send("b", Subscribe("Todos")) == []  # nothing more is handled from it
    assert sent(rig.send("a", Subscribe("Todos"))) == [
        (("a",), Snapshot("Todos", 1, {"n": 0}, ANY))
    ]
    rig.hub.disconnect("nobody", "gone")  # unknown: ignored
    assert rig.hub.flush() == []


def test_a_rpc_error_is_an_answer_logged_without_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "hotstate_rx")
    rig = Rig()
    rig.functions.register("f", lambda args: None)
    rig.connect("a")
    [invoke] = rig.send("a", Call(1, "f"))
    assert isinstance(invoke, Invoke)
    rig.hub.raised(invoke, RpcError("no such todo"))
    [record] = [r for r in caplog.records if r.name == "hotstate_rx.server.hub"]
    assert record.levelname == "INFO" and record.exc_info is None


def test_unsubscribe_listeners_still_see_the_ctx_of_a_client_that_left() -> None:
    rig = secure_rig()
    rig.store("Todos", {})
    seen: list[Any] = []
    rig.events.on("unsubscribe", lambda store, cid: seen.append(rig.hub.context(cid)))
    rig.events.on("disconnect", lambda cid: seen.append(rig.hub.context(cid)))
    admit(rig, "a", "ana")
    rig.send("a", Subscribe("Todos"))
    rig.hub.lost("a", 2.0, 1000)
    assert [ctx and ctx.user for ctx in seen] == ["ana", None]


def test_a_session_resumes_only_for_the_user_it_was_made_for() -> None:
    """``authenticate`` runs again on every connection; a resume token is no
    credential: another user presenting it gets a session of their own."""
    rig = secure_rig()
    [(_, hello)] = sent(admit(rig, "a", "ana"))
    assert isinstance(hello, ServerHello) and hello.resume is not None
    rig.hub.lost("a", 2.0)  # a network failure: parked
    rig.hub.open("b", "id-b", now=3.0, heartbeat=30.0)
    rig.send("b", ClientHello(token="t", resume=hello.resume))
    [(_, other)] = sent(rig.hub.accepted("b", "mallory", 3.0))
    assert isinstance(other, ServerHello) and not other.recovered and other.client_id == "id-b"
    rig.hub.open("c", "id-c", now=4.0, heartbeat=30.0)
    rig.send("c", ClientHello(token="t", resume=hello.resume))
    [(_, back)] = sent(rig.hub.accepted("c", "ana", 4.0))
    assert isinstance(back, ServerHello) and back.recovered and back.client_id == "id-a"
    context = rig.hub.context("id-a")
    assert context is not None and context.user == "ana"
