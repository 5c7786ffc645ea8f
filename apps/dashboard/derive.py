"""From raw samples to what a dashboard shows: moving averages, alerts, short histories.

Pure Rx: :func:`summarize` is an operator over an Observable of samples, with
no clock, loop or server of its own, so tests drive it on virtual time::

    samples:  --a--b--c--d--|
    summarize(window=2, history=3)
    stats:    --A--B--C--D--|    D.history holds b, c, d; D.averages is mean(c, d)

A sample is a flat mapping of metric name to number (see :data:`METRICS`) plus
``"ts"`` (seconds since the epoch).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from reactivex import Observable
from reactivex import operators as ops

METRICS = ("cpu", "memory", "load", "net_rx", "net_tx", "processes")
"""Every sample carries these keys, numbers."""

LABELS = {
    "cpu": "CPU",
    "memory": "Memory",
    "load": "Load (1 min)",
    "net_rx": "Net in",
    "net_tx": "Net out",
    "processes": "Processes",
}
UNITS = {"cpu": "%", "memory": "%", "load": "", "net_rx": "B/s", "net_tx": "B/s", "processes": ""}

Sample = Mapping[str, Any]


def moving_average(values: Sequence[float], window: int) -> float:
    """The mean of the last ``window`` values (all of them while there are fewer); 0.0 if none."""
    tail = values[-window:]
    return sum(tail) / len(tail) if tail else 0.0


def alerts(averages: Mapping[str, float], limits: Mapping[str, float]) -> list[dict[str, Any]]:
    """One alert per metric whose moving average is over its limit.

    Alerts watch the averages, not single samples, so one spike does not flash a warning.
    """
    return [
        {
            "metric": metric,
            "value": round(averages[metric], 2),
            "limit": limit,
            "text": f"{LABELS[metric]} {averages[metric]:.1f}{UNITS[metric]} over {limit:g}",
        }
        for metric, limit in limits.items()
        if averages.get(metric, 0.0) > limit
    ]


def stats(recent: Sequence[Sample], *, window: int, limits: Mapping[str, float]) -> dict[str, Any]:
    """The ``Stats`` store's state for the ``recent`` samples (oldest first, non-empty)."""
    history = {metric: [sample[metric] for sample in recent] for metric in METRICS}
    averages = {metric: round(moving_average(history[metric], window), 2) for metric in METRICS}
    return {
        "latest": dict(recent[-1]),
        "averages": averages,
        "alerts": alerts(averages, limits),
        "history": {"ts": [sample["ts"] for sample in recent], **history},
        "window": window,
    }


def empty_stats(window: int) -> dict[str, Any]:
    """The ``Stats`` state before the first sample: same shape, nothing measured."""
    return {
        "latest": {},
        "averages": dict.fromkeys(METRICS, 0.0),
        "alerts": [],
        "history": {"ts": [], **{metric: [] for metric in METRICS}},
        "window": window,
    }


def summarize(
    *, window: int = 5, history: int = 60, limits: Mapping[str, float] | None = None
) -> Callable[[Observable[Sample]], Observable[dict[str, Any]]]:
    """Rx operator: samples in, one ``Stats`` state out per sample.

    Keeps the last ``history`` samples (at least ``window``); averages cover the last
    ``window``. ``limits`` maps metric names to alert thresholds.
    """
    if window < 1:
        raise ValueError(f"window must be at least 1, got {window}")
    if history < window:
        raise ValueError(f"history ({history}) must hold at least one window ({window})")
    unknown = set(limits or {}) - set(METRICS)
    if unknown:
        raise ValueError(f"limits name unknown metrics: {', '.join(sorted(unknown))}")
    thresholds = dict(limits or {})

    def keep(recent: tuple[Sample, ...], sample: Sample) -> tuple[Sample, ...]:
        return (*recent[-(history - 1) :], sample) if history > 1 else (sample,)

    return lambda samples: samples.pipe(
        ops.scan(keep, ()),
        ops.map(lambda recent: stats(recent, window=window, limits=thresholds)),
    )
