"""The live dashboard in a browser: a NiceGUI page with gauges, charts and a table.

One hotstate client per tab subscribes to ``Stats``; each part of the page
follows its own slice, so a chart redraws only when its history moved.
"""

from __future__ import annotations

import time
from typing import Any

from hotstate_nicegui import bind_client
from nicegui import ui

from hotstate_rx.client import Client
from hotstate_rx.rx.operators import select

from .. import python_command
from .._web import connect_when_shown, follow, run, status_label
from .derive import LABELS
from .server import build_server
from .view import GAUGES, alert_line, fmt, table_rows

TITLE = "hotstate dashboard"
CHARTS = {  # marker: (title, metrics)
    "usage": ("Usage (%)", ("cpu", "memory")),
    "network": ("Network (B/s)", ("net_rx", "net_tx")),
}
COLUMNS = [
    {"name": key, "label": label, "field": key, "align": "left" if key == "metric" else "right"}
    for key, label in (
        ("metric", "Metric"),
        ("now", "Now"),
        ("avg", "Average"),
        ("min", "Min"),
        ("max", "Max"),
    )
]


def register(ws_url: str) -> None:
    """Register the page ``/``, whose clients dial the dashboard server at ``ws_url``."""

    @ui.page("/", title=TITLE)
    async def index() -> None:
        page = ui.context.client
        client = Client()
        DashboardPage(page, client)
        await connect_when_shown(page, client, ws_url)


def serve(*, host: str = "127.0.0.1", port: int = 8081, tui: str | None = None) -> None:
    """``python -m apps dashboard``: the sampling server and this page on one port.

    ``tui`` is the command the banner gives for the terminal client (default:
    ``python -m apps dashboard-tui``, which needs the checkout as working directory).
    """
    tui = tui or f"{python_command()} -m apps dashboard-tui"
    run(build_server(), register, host=host, port=port, title=TITLE, tui=tui)


class DashboardPage:
    """One tab's widgets, each following its slice of ``Stats``."""

    def __init__(self, page: Any, client: Client) -> None:
        state = bind_client(client, stores=["Stats"])
        stats = state.subscribe("Stats")
        with ui.header().classes("items-center justify-between"):
            ui.label(TITLE).classes("text-h6")
            status_label(state)
        self.alerts = ui.label().classes("text-subtitle1").mark("alerts")
        with ui.row().classes("w-full items-stretch"):
            for metric in GAUGES:
                with ui.card().classes("items-center"):
                    ui.label(LABELS[metric])
                    gauge = ui.circular_progress(min=0, max=100, size="5em", show_value=False)
                    value = ui.label().classes("text-h6").mark(f"value-{metric}")
                follow(
                    page,
                    stats.pipe(select(lambda s, m=metric: s["latest"].get(m))),
                    lambda v, g=gauge, t=value, m=metric: self._gauge(g, t, m, v),
                )
            with ui.card().classes("grow"):
                self.table = (
                    ui.table(columns=COLUMNS, rows=[], row_key="metric")
                    .props("dense flat")
                    .classes("w-full")
                    .mark("summary")
                )
        with ui.row().classes("w-full no-wrap"):
            for marker, (title, metrics) in CHARTS.items():
                chart = ui.echart(_chart_options(title, metrics)).classes("w-1/2 h-64").mark(marker)
                follow(
                    page,
                    stats.pipe(select(lambda s: s["history"])),
                    lambda history, c=chart, ms=metrics: _plot(c, history, ms),
                )
        follow(page, stats.pipe(select(alert_line)), lambda shown: self._show_alerts(*shown))
        follow(page, stats.pipe(select(table_rows)), self._show_table)

    def _show_alerts(self, text: str, alarming: bool) -> None:
        self.alerts.text = text
        self.alerts.classes(replace="text-subtitle1" + (" text-negative" if alarming else ""))

    def _show_table(self, rows: list[dict[str, str]]) -> None:
        self.table.rows = rows

    @staticmethod
    def _gauge(gauge: ui.circular_progress, label: ui.label, metric: str, value: Any) -> None:
        gauge.value = value or 0
        label.text = fmt(metric, value)


def _chart_options(title: str, metrics: tuple[str, ...]) -> dict[str, Any]:
    return {
        "title": {"text": title, "textStyle": {"fontSize": 14}},
        "tooltip": {"trigger": "axis"},
        "legend": {"data": [LABELS[m] for m in metrics], "right": 0},
        "animation": False,
        "xAxis": {"type": "category", "data": []},
        "yAxis": {"type": "value"},
        "series": [
            {"name": LABELS[m], "type": "line", "showSymbol": False, "data": []} for m in metrics
        ],
    }


def _plot(chart: ui.echart, history: Any, metrics: tuple[str, ...]) -> None:
    chart.options["xAxis"]["data"] = [
        time.strftime("%H:%M:%S", time.localtime(t)) for t in history["ts"]
    ]
    for series, metric in zip(chart.options["series"], metrics, strict=True):
        series["data"] = list(history[metric])
    chart.update()
