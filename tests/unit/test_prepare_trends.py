"""KPI periods and trend directions: calendar months and ISO weeks, gaps, and "better" read
according to whether a KPI should go down (a delay) or up (a share)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from hygie.prepare.charts import radar_svg, trend_svg
from hygie.prepare.kpis import stat
from hygie.prepare.trends import Series, bucket, month_span, periods

NOW = datetime(2026, 3, 15, 10, tzinfo=timezone.utc)


def test_months_and_weeks() -> None:
    months = periods(NOW, 4)
    assert [p.label for p in months] == ["2025-12", "2026-01", "2026-02", "2026-03"]
    assert months[0].start == datetime(2025, 12, 1, tzinfo=timezone.utc)
    assert months[-1].end == datetime(2026, 4, 1, tzinfo=timezone.utc)
    weeks = periods(NOW, 2, "week")
    assert [p.label for p in weeks] == ["2026-W10", "2026-W11"] and weeks[-1].start.weekday() == 0
    assert bucket([NOW, NOW - timedelta(days=31), datetime(2020, 1, 1, tzinfo=timezone.utc)], lambda t: t, months) == \
        [[], [], [NOW - timedelta(days=31)], [NOW]]
    february = (datetime(2026, 2, 1, tzinfo=timezone.utc), datetime(2026, 3, 1, tzinfo=timezone.utc))
    assert month_span("2026-02") == february
    assert month_span(None, NOW)[0] == datetime(2026, 2, 1, tzinfo=timezone.utc)
    with pytest.raises(ValueError, match="YYYY-MM"):
        month_span("02/2026")


def test_direction_and_better() -> None:
    delay = Series("mttr_alerts", "h", [("a", 4.0), ("b", None), ("c", 2.0), ("d", 1.0)], True)
    assert delay.latest == 1.0 and delay.direction == "down" and delay.better is True  # 1 vs mean(4, 2) = 3
    share = Series("assets_monitored", "%", [("a", 80.0), ("b", 60.0)], False)
    assert share.direction == "down" and share.better is False
    assert Series("x", "", [("a", 100.0), ("b", 103.0)], True).direction == "flat"
    assert Series("x", "", [("a", None), ("b", 3.0)], True).direction is None
    assert Series("alerts", "", [("a", 1.0), ("b", 5.0)], None).better is None


def test_median_and_mean() -> None:
    values = [timedelta(minutes=m) for m in (5, 60, 30)]
    assert stat(values).median == timedelta(minutes=30) and stat(values).mean == timedelta(minutes=95 / 3)
    assert stat(values[:2]).median == timedelta(minutes=32.5)
    assert stat([]).mean is None and stat([]).count == 0


def test_charts_escape_their_text_and_use_no_style_attribute() -> None:
    svg = radar_svg([("<b>Gouvernance</b>", 50.0, 25.0), ("AD", 100.0, None), ("Sauvegardes", None, 10.0)],
                    legend=("now", "before"))
    assert "&lt;b&gt;Gouvernance" in svg and "<b>" not in svg and "style=" not in svg and "stroke-dasharray" in svg
    bars = trend_svg([("2026-01", None), ("2026-02", 2.0), ("2026-03", 4.0)], fmt=lambda v: f"{v:.0f} h")
    assert bars.count("<rect") == 2 and "4 h" in bars and "style=" not in bars
