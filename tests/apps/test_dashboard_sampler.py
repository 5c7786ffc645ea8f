"""The psutil sampler's shape (values depend on the machine, so only their kind is checked)."""

from __future__ import annotations

import itertools

from apps.dashboard.derive import METRICS
from apps.dashboard.sampler import PsutilSampler


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
