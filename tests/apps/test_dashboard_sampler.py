"""The psutil sampler's shape (values depend on the machine, so only their kind is checked)."""

from __future__ import annotations

import itertools
from typing import NamedTuple

from apps.dashboard.derive import METRICS
from apps.dashboard.sampler import PsutilSampler, external_bytes, loopback_interfaces


def test_samples_carry_every_metric_as_a_number() -> None:
    ticks = itertools.count(0.0, 1.0)
    sampler = PsutilSampler(clock=lambda: next(ticks))
    first, second = sampler(), sampler()
    assert first["net_rx"] == first["net_tx"] == 0.0
    for sample in (first, second):
        assert set(sample) == {"ts", *METRICS}
        assert all(isinstance(sample[m], int | float) and sample[m] >= 0 for m in METRICS)
    assert 0.0 <= second["cpu"] <= 100.0
    assert 0.0 < second["memory"] <= 100.0
    assert second["processes"] > 0


class Counters(NamedTuple):
    bytes_sent: int
    bytes_recv: int


def test_network_rates_leave_out_loopback_traffic() -> None:
    counters = {"lo": Counters(9_000, 9_000), "eth0": Counters(300, 5_000), "wlan0": Counters(1, 2)}
    assert external_bytes(counters, {"lo"}) == (5_002, 301)
    assert external_bytes(counters, ()) == (14_002, 9_301)


def test_every_machine_has_a_loopback_interface() -> None:
    assert loopback_interfaces()
