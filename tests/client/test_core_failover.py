"""Failover between several server URLs, in the core, fed by hand: which URL
each attempt goes to, and how long it waits."""

from __future__ import annotations

from typing import Any

import pytest

from hotstate_rx.client.actions import Emit, Settle, StatusChanged, Transmit
from hotstate_rx.client.core import ClientCore
from hotstate_rx.client.status import Connected, ConnectionStatus, backoff_delay
from hotstate_rx.errors import CertificateError, Disconnected
from hotstate_rx.protocol import Call, ClientHello, ServerHello, Snapshot, Subscribe

S = ConnectionStatus
A, B, C = "ws://node1:4400", "ws://node2:4400", "ws://node3:4400"
CEILING = 0.999999
"""A jitter that makes each delay (almost) its ceiling: the growth is visible."""


def started(*urls: str, **options: Any) -> ClientCore:
    core = ClientCore(**options)
    core.connect(urls)
    return core


def hello(core: ClientCore, client_id: str = "c1", **fields: Any) -> list[Any]:
    core.opened()
    return core.receive(ServerHello(client_id, 30.0, **fields))


def attempts(core: ClientCore, count: int) -> list[tuple[str, float]]:
    """Fail ``count`` attempts in a row: (the URL each retry goes to, its delay)."""
    seen = []
    for _ in range(count):
        core.connection_lost(jitter=CEILING)
        assert core.retry_delay is not None
        seen.append((core.url, round(core.retry_delay, 3)))
    return seen


def test_the_first_url_first_and_no_url_before_connect() -> None:
    core = ClientCore()
    with pytest.raises(RuntimeError, match="connect"):
        _ = core.url
    with pytest.raises(ValueError, match="at least one"):
        core.connect([])
    core.connect([A, B])
    assert core.url == A and core.urls == (A, B)


def test_a_failed_attempt_moves_to_the_next_url_at_once_and_backs_off_per_round() -> None:
    core = started(A, B, reconnect_delay=1.0, reconnect_max=10.0)
    assert attempts(core, 8) == [
        (B, 0.0),  # A refused: B at once
        (A, 1.0),  # a round failed: the first backoff
        (B, 0.0),
        (A, 2.0),
        (B, 0.0),
        (A, 4.0),
        (B, 0.0),
        (A, 8.0),
    ]


def test_three_urls_wait_only_once_every_url_failed() -> None:
    core = started(A, B, C, reconnect_delay=1.0, reconnect_max=10.0)
    assert attempts(core, 6) == [(B, 0.0), (C, 0.0), (A, 1.0), (B, 0.0), (C, 0.0), (A, 2.0)]


def test_one_url_backs_off_per_attempt_as_it_always_has() -> None:
    core = started(A, reconnect_delay=0.5, reconnect_max=3.0)
    delays = [delay for _, delay in attempts(core, 5)]
    assert delays == [round(backoff_delay(n, 0.5, 3.0, CEILING), 3) for n in range(5)]
    assert delays == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_the_reconnecting_event_names_the_url_of_the_retry() -> None:
    core = started(A, B)
    assert core.connection_lost(jitter=0.5, reason="could not connect to A") == [
        StatusChanged(S.RECONNECTING),
        Emit(
            "reconnecting",
            {"attempt": 1, "delay": 0.0, "reason": "could not connect to A", "url": B},
        ),
    ]


def test_a_drop_goes_to_the_next_node_at_once_and_the_hello_there_starts_a_new_round() -> None:
    core = started(A, B, reconnect_delay=1.0)
    assert Emit("connected", Connected("c1", url=A)) in hello(core)
    assert attempts(core, 1) == [(B, 0.0)]  # A dropped: B is not kept waiting
    assert Emit("connected", Connected("c2", url=B)) in hello(core, "c2")
    assert core.url == B
    # B drops: back to A at once, then the round (B, A) is over.
    assert attempts(core, 3) == [(A, 0.0), (B, 1.0), (A, 0.0)]


def test_the_resume_token_and_versions_go_to_the_next_node() -> None:
    core = started(A, B)
    hello(core, resume="r1", tag="g1")
    core.subscribe("Todos")
    core.receive(Snapshot("Todos", 4, {"items": []}, epoch="eA"))
    call_id, _ = core.call("add", "x")
    core.connection_lost(jitter=0.0)  # no close frame: the session may resume
    assert core.url == B
    assert core.opened() == [
        Transmit(ClientHello(resume="r1")),
        Transmit(Subscribe("Todos", 4, "eA")),
    ]
    # B cannot resume A's session: a fresh one, the call in doubt fails.
    actions = core.receive(ServerHello("c2", 30.0, resume="r2", tag="g2"))
    assert core.recovered is False and core.client_id == "c2"
    [settled] = [a for a in actions if isinstance(a, Settle)]
    assert settled.call_id == call_id and isinstance(settled.error, Disconnected)
    assert Emit("connected", Connected("c2", recovered=False, url=B)) in actions


def test_a_node_that_resumes_keeps_the_calls_in_flight() -> None:
    core = started(A, B)
    hello(core, resume="r1", tag="g1")
    call_id, _ = core.call("add", "x")
    core.connection_lost(jitter=0.0)
    actions = hello(core, "c1", resume="r2", recovered=True, tag="g1")
    assert not [a for a in actions if isinstance(a, Settle)]
    assert Transmit(Call(call_id, "add", "x", resent=True)) in actions  # answered once, on B
    assert Emit("connected", Connected("c1", recovered=True, url=B)) in actions


def test_connect_again_starts_from_the_first_url() -> None:
    core = started(A, B, reconnect=False)
    hello(core)
    core.connection_lost(jitter=0.0)  # without reconnect, a drop is final
    assert core.status is S.DISCONNECTED
    core.connect([C, A])
    assert core.url == C and attempts(core, 1) == [(A, 0.0)]


def test_without_reconnect_connect_tries_each_url_once_then_stops() -> None:
    core = started(A, B, C, reconnect=False)
    pending, _ = core.call("f")
    assert attempts(core, 2) == [(B, 0.0), (C, 0.0)]
    actions = core.connection_lost(jitter=0.0)  # C failed too: the round is over
    assert actions[0] == StatusChanged(S.DISCONNECTED)
    assert [a.call_id for a in actions if isinstance(a, Settle)] == [pending]
    assert core.retry_delay is None and core.url == C  # the last one tried


def test_without_reconnect_a_drop_after_the_hello_is_final() -> None:
    core = started(A, B, reconnect=False)
    core.connection_lost(jitter=0.0)
    hello(core)  # on B
    core.connection_lost(jitter=0.0)
    assert core.status is S.DISCONNECTED and core.url == B


def refused(host: str) -> CertificateError:
    return CertificateError(f"the TLS certificate of {host} was refused")


def test_a_refused_certificate_drops_that_url_until_connect() -> None:
    core = started(A, B, C, reconnect_delay=1.0)
    error = refused("node1:4400")
    assert core.certificate_failed(error) == [Emit("error", error)]  # others are left
    assert core.failure is None and core.status is S.CONNECTING
    assert attempts(core, 5) == [(B, 0.0), (C, 0.0), (B, 1.0), (C, 0.0), (B, 2.0)]
    core.certificate_failed(refused("node2:4400"))
    # C was not tried in this round yet; then it is the only one left: a round of one.
    assert attempts(core, 3) == [(C, 0.0), (C, 4.0), (C, 8.0)]
    last = refused("node3:4400")
    actions = core.certificate_failed(last)  # none left: stop, as with one URL
    assert actions[0] == StatusChanged(S.DISCONNECTED) and actions[-1] == Emit("error", last)
    assert core.failure is last
    core.connect([A, B, C])  # starts afresh: every URL may be tried again
    assert core.failure is None and attempts(core, 2) == [(B, 0.0), (C, 0.0)]
