"""The dashboard server with a fake sampler on virtual time: no dependence on the machine."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from app_helpers import serve, until
from reactivex.testing import TestScheduler

from apps.dashboard.server import build_server
from hotstate_rx import Server
from hotstate_rx.client import Client

Clients = Callable[[str], Awaitable[Client]]


class FakeSampler:
    """Samples with a CPU reading taken from a list, then 10 % forever."""

    def __init__(self, cpu: list[float]) -> None:
        self.cpu = iter(cpu)
        self.ts = itertools.count(1)
        self.calls = 0

    def __call__(self) -> dict[str, Any]:
        self.calls += 1
        return {
            "ts": float(next(self.ts)),
            "cpu": next(self.cpu, 10.0),
            "memory": 40.0,
            "load": 0.5,
            "net_rx": 1000.0,
            "net_tx": 100.0,
            "processes": 123,
        }


@pytest.fixture
def clock() -> TestScheduler:
    return TestScheduler()


@pytest.fixture
async def sampler() -> FakeSampler:
    return FakeSampler([20.0, 40.0, 95.0, 99.0])


@pytest.fixture
async def server(clock: TestScheduler, sampler: FakeSampler) -> AsyncIterator[Server]:
    server = build_server(
        sampler, interval=1.0, scheduler=clock, window=2, history=3, limits={"cpu": 90.0}
    )
    yield server
    await server.close()


async def test_samples_flow_into_metrics_and_stats(
    server: Server, clock: TestScheduler, sampler: FakeSampler, clients: Clients
) -> None:
    client = await clients(await serve(server))
    stats = client.subscribe("Stats")
    metrics = client.subscribe("Metrics")
    empty = await until(stats, lambda s: True)
    assert empty["history"]["cpu"] == [] and empty["alerts"] == []
    assert sampler.calls == 0

    clock.advance_by(1.0)
    await until(metrics, lambda s: s["ts"] == 1.0)
    state = await until(stats, lambda s: s["history"]["cpu"] == [20.0])
    assert state["latest"]["processes"] == 123
    assert state["averages"]["cpu"] == 20.0

    clock.advance_by(3.0)
    state = await until(stats, lambda s: s["history"]["ts"] == [2.0, 3.0, 4.0])
    assert sampler.calls == 4
    assert state["history"]["cpu"] == [40.0, 95.0, 99.0]
    assert state["averages"]["cpu"] == 97.0
    assert [alert["metric"] for alert in state["alerts"]] == ["cpu"]


async def test_a_failing_sample_is_skipped(clock: TestScheduler, clients: Clients) -> None:
    readings = iter([RuntimeError("sensor unplugged"), 30.0])

    def flaky() -> dict[str, Any]:
        reading = next(readings)
        if isinstance(reading, Exception):
            raise reading
        return {**FakeSampler([reading])(), "ts": 2.0}

    server = build_server(flaky, scheduler=clock)
    try:
        client = await clients(await serve(server))
        stats = client.subscribe("Stats")
        clock.advance_by(2.0)
        state = await until(stats, lambda s: s["history"]["cpu"] == [30.0])
        assert state["history"]["ts"] == [2.0]
    finally:
        await server.close()


async def test_sampling_stops_when_the_server_closes(
    server: Server, clock: TestScheduler, sampler: FakeSampler
) -> None:
    clock.advance_by(2.0)
    assert sampler.calls == 2
    await server.close()
    clock.advance_by(5.0)
    assert sampler.calls == 2


def test_options_are_checked() -> None:
    with pytest.raises(ValueError, match="interval must be positive"):
        build_server(lambda: {}, interval=0)
    with pytest.raises(ValueError, match="must hold at least one window"):
        build_server(lambda: {}, window=10, history=5)
