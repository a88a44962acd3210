"""The results chart: running totals, bounded however far apart the events are, drawn
across its whole box with round y ticks and x ticks in the reader's time."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from services.console.chart import count_ticks, line_chart, time_ticks
from tests.console.conftest import sign_in
from tests.support.console_pages import DESKTOP, PHONE, TOPIC, korean_page, seed_console_pages


@pytest.fixture(scope="module")
def seeded(console):
    return seed_console_pages(console)


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


def test_y_ticks_are_round_numbers_at_least_three_of_them():
    assert count_ticks(0) == [0, 1, 2]
    assert count_ticks(1) == [0, 1, 2]
    assert count_ticks(6) == [0, 2, 4, 6]
    assert count_ticks(7) == [0, 2, 4, 6, 8]
    assert count_ticks(123) == [0, 50, 100, 150]
    assert count_ticks(9_999) == [0, 2_000, 4_000, 6_000, 8_000, 10_000]


def test_x_ticks_fall_on_round_instants_inside_the_span():
    at = datetime(2026, 6, 1, 0, 29, 10, tzinfo=UTC)
    ticks, style = time_ticks(at, at + timedelta(hours=1))
    assert [t.strftime("%H:%M") for t in ticks] == ["00:30", "00:45", "01:00", "01:15"]
    assert style == "axis-minute"
    assert time_ticks(at, at + timedelta(seconds=40))[1] == "axis-second"
    assert time_ticks(at, at + timedelta(days=2))[1] == "axis-day-minute"
    days, style = time_ticks(at, at + timedelta(days=30))
    assert style == "axis-day" and all(t.hour == t.minute == 0 for t in days)


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_the_chart_fills_its_box_with_round_y_ticks_and_local_x_labels(browser, console,
                                                                       seeded, viewport):
    with korean_page(browser, viewport) as page:
        sign_in(page, console, "viewer")
        page.goto(f"{console.url}/ui/results?topic={TOPIC}")
        box = page.locator(".chart-box").bounding_box()
        plot = page.locator(".chart-plot").bounding_box()
        assert plot["width"] > 0.85 * box["width"]
        assert plot["height"] >= 150
        y_labels = [t for t in page.locator(".chart-y span").all_inner_texts() if t]
        assert len(y_labels) >= 3 and y_labels == sorted(y_labels, key=int)
        x_labels = [t for t in page.locator(".chart-x time").all_inner_texts() if t]
        assert len(x_labels) >= 2 and all(re.fullmatch(r"\d\d:\d\d", t) for t in x_labels)
        # Visible words are at least 12 px high however narrow the screen.
        assert page.eval_on_selector(".chart-x time", "t => parseFloat(getComputedStyle(t)"
                                     ".fontSize)") >= 12
        assert page.locator(".chart-legend li").all_inner_texts()[:2] == ["발송", "전달"]
