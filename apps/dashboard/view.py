"""How the dashboards show a ``Stats`` state: numbers as text, the summary table (pure).

Shared by the Textual and NiceGUI dashboards, so both say the same thing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .derive import LABELS, METRICS, UNITS

GAUGES = ("cpu", "memory")
"""Metrics that are percentages, drawn as gauges."""


def fmt(metric: str, value: float | None) -> str:
    """``value`` of ``metric`` for a person: ``"42.0 %"``, ``"1.5 kB/s"``, ``"0.52"``."""
    if value is None:
        return "-"
    unit = UNITS[metric]
    if unit == "B/s":
        return _rate(value)
    if unit == "%":
        return f"{value:.1f} %"
    if metric == "processes":
        return f"{value:.0f}"
    return f"{value:.2f}"


def _rate(value: float) -> str:
    for unit in ("B/s", "kB/s", "MB/s"):
        if abs(value) < 1000:
            return f"{value:.0f} {unit}" if unit == "B/s" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB/s"


def table_rows(stats: Mapping[str, Any]) -> list[dict[str, str]]:
    """One row per metric: name, latest, moving average, min and max over the history."""
    latest = stats["latest"]
    rows = []
    for metric in METRICS:
        series = stats["history"][metric]
        rows.append(
            {
                "metric": LABELS[metric],
                "now": fmt(metric, latest.get(metric)),
                "avg": fmt(metric, stats["averages"][metric] if series else None),
                "min": fmt(metric, min(series) if series else None),
                "max": fmt(metric, max(series) if series else None),
            }
        )
    return rows


def alert_text(stats: Mapping[str, Any]) -> str:
    """The alerts in one line, or a reassurance."""
    if not stats["latest"]:
        return "Waiting for the first sample…"
    alerts = stats["alerts"]
    return " · ".join(f"⚠ {alert['text']}" for alert in alerts) if alerts else "All normal"


def alert_line(stats: Mapping[str, Any]) -> tuple[str, bool]:
    """:func:`alert_text` and whether any alert is on (the line then shows as alarming)."""
    return alert_text(stats), bool(stats["alerts"])
