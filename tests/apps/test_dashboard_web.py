"""The NiceGUI dashboard through NiceGUI's simulated user, fed by a real server's Stats store."""

from __future__ import annotations

from app_helpers import sample, serve
from nicegui import ui
from nicegui.testing import User

from apps.dashboard import derive
from apps.dashboard.web import register
from hotstate_rx import Server

RETRIES = 50


async def test_dashboard_page_shows_stats_live(stats_server: Server, user: User) -> None:
    register(await serve(stats_server))
    stats = stats_server.stores["Stats"]
    await user.open("/")
    await user.should_see("● connected", retries=RETRIES)
    await user.should_see("Waiting for the first sample…", retries=RETRIES)

    stats.set(
        derive.stats(
            [sample(1, 20.0), sample(2, 99.0), sample(3, 97.0)], window=2, limits={"cpu": 90.0}
        )
    )
    await user.should_see("⚠ CPU 98.0% over 90", retries=RETRIES)
    await user.should_see("97.0 %", retries=RETRIES)
    with user:
        table = next(iter(user.find(kind=ui.table).elements))
        usage = next(iter(user.find(marker="usage").elements))
        network = next(iter(user.find(marker="network").elements))
    assert table.rows[0] == {
        "metric": "CPU",
        "now": "97.0 %",
        "avg": "98.0 %",
        "min": "20.0 %",
        "max": "99.0 %",
    }
    assert usage.options["series"][0]["data"] == [20.0, 99.0, 97.0]
    assert usage.options["series"][1]["data"] == [61.5] * 3
    assert network.options["series"][0]["data"] == [1500.0] * 3
    assert len(usage.options["xAxis"]["data"]) == 3
