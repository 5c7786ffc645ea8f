"""The Textual dashboard driven by Pilot against a real server whose Stats store changes."""

from __future__ import annotations

from app_helpers import sample, serve, settle
from textual.widgets import DataTable, Label, ProgressBar, Sparkline

from apps.dashboard import derive
from apps.dashboard.tui import DashboardApp
from hotstate_rx import Server


async def test_dashboard_shows_stats_live(stats_server: Server) -> None:
    server = stats_server
    url = await serve(server)
    stats = server.stores["Stats"]
    app = DashboardApp(url)
    async with app.run_test(size=(120, 40)) as pilot:
        alerts = app.query_one("#alerts", Label)
        await settle(pilot, lambda: "Waiting" in str(alerts.content))

        samples = [sample(1, 20.0), sample(2, 40.0)]
        stats.set(derive.stats(samples, window=2, limits={"cpu": 90.0}))
        spark = app.query_one("#spark-cpu", Sparkline)
        await settle(pilot, lambda: list(spark.data or []) == [20.0, 40.0])
        assert app.query_one("#gauge-memory", ProgressBar).progress == 61.5
        assert "40.0 %" in str(app.query_one("#value-cpu", Label).content)
        table = app.query_one("#summary", DataTable)
        assert [str(c) for c in table.get_row("CPU")] == [
            "CPU",
            "40.0 %",
            "30.0 %",
            "20.0 %",
            "40.0 %",
        ]
        assert str(alerts.content) == "All normal"

        samples += [sample(3, 99.0), sample(4, 97.0)]
        stats.set(derive.stats(samples[-3:], window=2, limits={"cpu": 90.0}))
        await settle(pilot, lambda: alerts.has_class("-alert"))
        assert str(alerts.content) == "⚠ CPU 98.0% over 90"
        assert list(spark.data or []) == [40.0, 99.0, 97.0]
        assert app.query_one("#gauge-cpu", ProgressBar).progress == 97.0
