"""How the dashboards word a Stats state (pure)."""

from __future__ import annotations

from apps.dashboard import derive, view


def sample(ts: float, cpu: float) -> dict[str, float]:
    return {
        "ts": ts,
        "cpu": cpu,
        "memory": 50.0,
        "load": 0.25,
        "net_rx": 1500.0,
        "net_tx": 2_500_000.0,
        "processes": 87,
    }


def test_fmt() -> None:
    assert view.fmt("cpu", 42.0) == "42.0 %"
    assert view.fmt("net_rx", 999.0) == "999 B/s"
    assert view.fmt("net_rx", 1500.0) == "1.5 kB/s"
    assert view.fmt("net_tx", 2_500_000.0) == "2.5 MB/s"
    assert view.fmt("net_tx", 7e12) == "7000.0 GB/s"
    assert view.fmt("load", 0.5) == "0.50"
    assert view.fmt("processes", 87) == "87"
    assert view.fmt("cpu", None) == "-"


def test_table_rows_and_alerts() -> None:
    empty = derive.empty_stats(3)
    assert view.alert_text(empty) == "Waiting for the first sample…"
    assert view.table_rows(empty)[0] == {
        "metric": "CPU",
        "now": "-",
        "avg": "-",
        "min": "-",
        "max": "-",
    }
    stats = derive.stats(
        [sample(1, 10.0), sample(2, 96.0), sample(3, 98.0)], window=2, limits={"cpu": 90.0}
    )
    assert view.table_rows(stats)[0] == {
        "metric": "CPU",
        "now": "98.0 %",
        "avg": "97.0 %",
        "min": "10.0 %",
        "max": "98.0 %",
    }
    assert [row["metric"] for row in view.table_rows(stats)] == [
        derive.LABELS[m] for m in derive.METRICS
    ]
    assert view.alert_text(stats) == "⚠ CPU 97.0% over 90"
    calm = derive.stats([sample(1, 10.0)], window=2, limits={"cpu": 90.0})
    assert view.alert_text(calm) == "All normal"
    assert view.alert_line(stats) == ("⚠ CPU 97.0% over 90", True)
    assert view.alert_line(calm) == ("All normal", False)
    assert view.alert_line(empty) == ("Waiting for the first sample…", False)
