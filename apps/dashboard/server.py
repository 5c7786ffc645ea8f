"""The dashboard server: stores composed as Observables.

::

    interval(1.0) -> sample() -> Metrics          feed_store: the latest raw sample
    Metrics.observe() -> summarize(...) -> Stats  derived_store: averages, alerts, history

Clients subscribe to ``Stats`` (what a dashboard draws) or ``Metrics`` (the
raw feed). Both feeds end when the server closes.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from typing import Any

import reactivex
from reactivex import Observable, abc
from reactivex import operators as ops

from hotstate_rx import Hotstate, Server
from hotstate_rx.rx import derived_store, feed_store

from .derive import METRICS, Sample, empty_stats, summarize

log = logging.getLogger(__name__)

NO_SAMPLE: dict[str, Any] = {"ts": None, **dict.fromkeys(METRICS, 0)}
"""``Metrics`` before the first sample."""


def default_limits() -> dict[str, float]:
    """Alert thresholds: CPU 85 %, memory 90 %, 1-minute load above the core count."""
    return {"cpu": 85.0, "memory": 90.0, "load": float(os.cpu_count() or 1)}


def build_server(
    sample: Callable[[], Sample] | None = None,
    *,
    interval: float = 1.0,
    scheduler: abc.SchedulerBase | None = None,
    window: int = 5,
    history: int = 60,
    limits: Mapping[str, float] | None = None,
) -> Server:
    """A dashboard server that starts sampling at once (not listening yet).

    ``sample`` defaults to :class:`~apps.dashboard.sampler.PsutilSampler`; it is
    called every ``interval`` seconds on ``scheduler`` (RxPY's default: a timer
    thread, which keeps a slow read off the event loop). ``window`` samples make
    a moving average, ``history`` samples a sparkline; ``limits`` (default
    :func:`default_limits`) are the alert thresholds.
    """
    if interval <= 0:
        raise ValueError(f"interval must be positive, got {interval}")
    if sample is None:
        from .sampler import PsutilSampler

        sample = PsutilSampler()
    summary = summarize(
        window=window, history=history, limits=default_limits() if limits is None else limits
    )
    server = Hotstate()
    metrics = server.create_store("Metrics", NO_SAMPLE)
    samples = reactivex.interval(interval, scheduler=scheduler).pipe(_sampled(sample))
    feed_store(metrics, samples)
    measured = metrics.observe().pipe(ops.filter(lambda state: state["ts"] is not None))
    derived_store(server, "Stats", measured.pipe(summary), initial=empty_stats(window))
    return server


def _sampled(sample: Callable[[], Sample]) -> Callable[[Observable[Any]], Observable[Sample]]:
    """Each tick becomes ``sample()``; a failing read is logged and skipped, the feed goes on."""

    def read(_: Any) -> Sample | None:
        try:
            return sample()
        except Exception:
            log.exception("dashboard: sampling failed; skipping this tick")
            return None

    return lambda ticks: ticks.pipe(ops.map(read), ops.filter(lambda s: s is not None))
