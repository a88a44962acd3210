"""The results chart: running totals, bounded however far apart the events are."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.console.chart import line_chart


def test_the_chart_draws_running_totals_from_zero():
    at = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
    svg = line_chart([(at, "sent", 3), (at + timedelta(seconds=10), "sent", 2)], 10,
                     {"sent": "Sent"})
    points = svg.split('<polyline points="')[1].split('"')[0].split()
    heights = [float(p.split(",")[1]) for p in points]
    assert len(points) == 3 and heights[0] > heights[1] > heights[2]  # 0, 3, 5 (y grows down)
    assert "Sent" in svg


def test_events_weeks_apart_widen_the_buckets_instead_of_drawing_thousands():
    at = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
    svg = line_chart([(at, "sent", 1), (at + timedelta(days=30), "opened", 1)], 10, {})
    points = svg.split('<polyline points="')[1].split('"')[0].split()
    assert len(points) <= 62
