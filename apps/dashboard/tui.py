"""The live dashboard in a terminal: sparklines, gauges and a table, fed by the ``Stats`` store.

Every widget is bound to one slice of ``Stats`` through the hotstate_textual
binding, so it redraws only when its slice changes.
"""

from __future__ import annotations

from hotstate_textual import ClientBinding, HotstateReactive, StatusIndicator, bind_client
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical
from textual.widgets import DataTable, Footer, Header, Label, ProgressBar, Sparkline

from hotstate_rx.client import Client

from .._tui import report_connection
from .derive import LABELS, METRICS
from .view import GAUGES, alert_line, fmt, table_rows

WIDTHS = {"Metric": 14, "Now": 12, "Average": 12, "Min": 12, "Max": 12}
COLUMNS = {
    "Metric": lambda row: row["metric"],
    "Now": lambda row: row["now"],
    "Average": lambda row: row["avg"],
    "Min": lambda row: row["min"],
    "Max": lambda row: row["max"],
}


class DashboardApp(HotstateReactive, App[None]):
    """Machine metrics from the dashboard server at ``urls`` (several: it
    fails over between them), live."""

    TITLE = "hotstate dashboard"
    CSS = """
    #bar { height: 1; padding: 0 1; }
    #alerts { width: 1fr; }
    #alerts.-alert { color: $error; text-style: bold; }
    #panels { grid-size: 3 2; grid-rows: 6; grid-gutter: 0 1; height: 12; padding: 0 1; }
    .panel { height: 6; border: round $accent; padding: 0 1; }
    .panel Sparkline { height: 1fr; }
    .panel ProgressBar { height: 1; }
    #summary { height: 1fr; margin: 0 1; }
    """
    BINDINGS = [Binding("q,ctrl+q", "quit", "Quit", priority=True)]

    def __init__(self, *urls: str) -> None:
        super().__init__()
        self.urls = urls
        self.client = Client()
        self.hotstate: ClientBinding

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="bar"):
            yield Label("", id="alerts")
            yield StatusIndicator(id="status").data_bind(DashboardApp.status)
        with Grid(id="panels"):
            for metric in METRICS:
                with Vertical(classes="panel", id=f"panel-{metric}"):
                    yield Label(LABELS[metric], id=f"value-{metric}")
                    if metric in GAUGES:
                        yield ProgressBar(total=100, show_eta=False, id=f"gauge-{metric}")
                    yield Sparkline([], id=f"spark-{metric}")
        yield DataTable(id="summary", cursor_type="none", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.client.connect(urls=self.urls)
        report_connection(
            self, self.client, what="the dashboard", start="python3 tasks.py dashboard"
        )
        self.hotstate = bind_client(self, self.client)
        for metric in METRICS:
            self._bind_metric(metric)
        alerts = self.query_one("#alerts", Label)
        self.hotstate.bind(
            alerts,
            "Stats",
            alert_line,
            lambda shown: self._show_alerts(alerts, *shown),
        )
        table = self.query_one("#summary", DataTable)
        for column, width in WIDTHS.items():  # fixed: the first rows ("-") are narrow
            table.add_column(column, key=column, width=width)
        self.hotstate.bind_table(
            table,
            "Stats",
            table_rows,
            key=lambda row: row["metric"],
            columns=COLUMNS,
        )

    async def on_unmount(self) -> None:
        await self.client.close()

    def _bind_metric(self, metric: str) -> None:
        label = self.query_one(f"#value-{metric}", Label)
        self.hotstate.bind(
            label,
            "Stats",
            lambda s: f"{LABELS[metric]}  [b]{fmt(metric, s['latest'].get(metric))}[/b]",
            label.update,
        )
        spark = self.query_one(f"#spark-{metric}", Sparkline)
        self.hotstate.bind(spark, "Stats", lambda s: s["history"][metric], "data")
        if metric in GAUGES:
            gauge = self.query_one(f"#gauge-{metric}", ProgressBar)
            self.hotstate.bind(
                gauge,
                "Stats",
                lambda s: s["latest"].get(metric, 0),
                lambda value: gauge.update(progress=value),
            )

    @staticmethod
    def _show_alerts(label: Label, text: str, alarming: bool) -> None:
        label.update(text)
        label.set_class(alarming, "-alert")
