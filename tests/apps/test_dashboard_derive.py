"""The dashboard's Rx derivation on virtual time: averages, alerts, histories."""

from __future__ import annotations

from typing import Any

import pytest
from reactivex.testing import ReactiveTest, TestScheduler

from apps.dashboard import derive

on_next, on_completed = ReactiveTest.on_next, ReactiveTest.on_completed


def sample(ts: float, cpu: float = 10.0, **over: float) -> dict[str, Any]:
    base = {"cpu": cpu, "memory": 50.0, "load": 0.5, "net_rx": 100.0, "net_tx": 10.0}
    return {"ts": ts, **base, "processes": 100, **over}


def test_moving_average() -> None:
    assert derive.moving_average([], 3) == 0.0
    assert derive.moving_average([2.0], 3) == 2.0
    assert derive.moving_average([1.0, 2.0, 3.0, 4.0], 2) == 3.5


def test_alerts_watch_the_averages() -> None:
    found = derive.alerts({"cpu": 95.0, "memory": 40.0}, {"cpu": 90.0, "memory": 80.0})
    assert found == [{"metric": "cpu", "value": 95.0, "limit": 90.0, "text": "CPU 95.0% over 90"}]


def test_summarize_on_virtual_time() -> None:
    scheduler = TestScheduler()
    source = scheduler.create_hot_observable(
        on_next(210, sample(1, cpu=10)),
        on_next(220, sample(2, cpu=20)),
        on_next(230, sample(3, cpu=95)),
        on_next(240, sample(4, cpu=97)),
        on_completed(250),
    )
    op = derive.summarize(window=2, history=3, limits={"cpu": 90.0})
    observer = scheduler.start(lambda: source.pipe(op))

    values = [m.value.value for m in observer.messages if m.value.kind == "N"]
    assert [m.time for m in observer.messages] == [210, 220, 230, 240, 250]
    assert [v["averages"]["cpu"] for v in values] == [10.0, 15.0, 57.5, 96.0]
    assert [v["history"]["cpu"] for v in values] == [[10], [10, 20], [10, 20, 95], [20, 95, 97]]
    assert values[-1]["history"]["ts"] == [2, 3, 4]
    assert values[-1]["latest"]["cpu"] == 97
    # One spike (the 95 at t=230) averages to 57.5: no alert until the window agrees.
    assert [len(v["alerts"]) for v in values] == [0, 0, 0, 1]
    assert values[-1]["alerts"][0]["metric"] == "cpu"


def test_summarize_checks_its_options() -> None:
    with pytest.raises(ValueError, match="window must be at least 1"):
        derive.summarize(window=0)
    with pytest.raises(ValueError, match="must hold at least one window"):
        derive.summarize(window=5, history=4)
    with pytest.raises(ValueError, match="unknown metrics: gpu"):
        derive.summarize(limits={"gpu": 1.0})
