"""A small hand-made line chart of a topic over time (no chart library, no script of its own).

The lines are running totals (sent, delivered, opened, ...) from just before
the first send, so a short campaign still draws rising lines.

The plot is an SVG stretched over the width of its box (``viewBox`` 0..1000
both ways, ``preserveAspectRatio="none"``, strokes that do not scale), so it
fills whatever width the page gives it; the words around it (legend, y ticks
at round numbers, x ticks at round instants) are HTML placed in percent of the
plot, so they stay the page's size on a phone. The x ticks are ``<time>``
elements (``services.console.times``): the browser writes them in its own
zone, named once beside the legend.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import UTC, datetime, timedelta

from markupsafe import Markup, escape

from services.console.times import time_element
from shared.broker.payloads import EventType

#: Series drawn, with their colours.
SERIES = {EventType.SENT: "#2563eb", EventType.DELIVERED: "#16a34a",
          EventType.OPENED: "#d97706", EventType.CLICKED: "#9333ea",
          EventType.BOUNCED: "#dc2626"}
#: The plot's own coordinates (stretched to its box).
SCALE = 1000
#: Seconds between x ticks, the first giving at most ``MAX_STEPS`` steps over the span.
TIME_STEPS = (10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 2 * 3600, 3 * 3600, 6 * 3600,
              12 * 3600, 86400, 2 * 86400, 7 * 86400, 14 * 86400, 28 * 86400)
MAX_STEPS = 5
DAY = 86400


def bucket_for(span_seconds: float) -> int:
    """A bucket size giving at most about 60 points over the span."""
    for size in (10, 60, 300, 900, 3600, 4 * 3600, 86400):
        if span_seconds / size <= 60:
            return size
    return 7 * 86400


def count_ticks(top: int) -> list[int]:
    """0 up to at least ``top`` in 2 to 5 equal steps of 1, 2 or 5 times a power of ten."""
    top = max(top, 1)
    magnitude = 1
    while True:
        for step in (magnitude, 2 * magnitude, 5 * magnitude):
            if math.ceil(top / step) <= MAX_STEPS:
                return [step * i for i in range(max(2, math.ceil(top / step)) + 1)]
        magnitude *= 10


def time_ticks(first: datetime, last: datetime) -> tuple[list[datetime], str]:
    """Round instants between ``first`` and ``last``, and the ``<time>`` style to label them."""
    span = (last - first).total_seconds()
    step = next((s for s in TIME_STEPS if span / s <= MAX_STEPS), TIME_STEPS[-1])
    start = math.ceil(first.timestamp() / step) * step
    ticks = [datetime.fromtimestamp(t, UTC)
             for t in range(start, int(last.timestamp()) + 1, step)]
    if step >= DAY:
        style = "axis-day"
    elif span > DAY:
        style = "axis-day-minute"
    else:
        style = "axis-minute" if step >= 60 else "axis-second"
    return ticks, style


def _floor(moment: datetime, seconds: int) -> datetime:
    return datetime.fromtimestamp(moment.timestamp() // seconds * seconds, moment.tzinfo)


def running_totals(points: list[tuple[datetime, str, int]], bucket_seconds: int
                   ) -> tuple[list[datetime], dict[str, list[int]]]:
    """The buckets (one before the first point, so lines start at 0) and each series'
    running total at each, from ``points`` (bucket, series, count)."""
    first, last = min(b for b, _, _ in points), max(b for b, _, _ in points)
    # Opens may come weeks after a short campaign: widen the buckets to keep ~60 points.
    wider = bucket_for((last - first).total_seconds())
    if wider > bucket_seconds:
        bucket_seconds = wider
        points = [(_floor(b, wider), series, n) for b, series, n in points]
        first, last = _floor(first, wider), _floor(last, wider)
    size = timedelta(seconds=bucket_seconds)
    buckets = [first - size]
    while buckets[-1] < last:
        buckets.append(buckets[-1] + size)
    per_bucket: dict[str, dict[datetime, int]] = defaultdict(lambda: defaultdict(int))
    for bucket, series, n in points:
        per_bucket[series][bucket] += n
    totals: dict[str, list[int]] = {}
    for series, by_bucket in per_bucket.items():
        total, totals[series] = 0, []
        for bucket in buckets:
            total += by_bucket.get(bucket, 0)
            totals[series].append(total)
    return buckets, totals


def line_chart(points: list[tuple[datetime, str, int]], bucket_seconds: int,
               labels: dict[str, str]) -> Markup:
    """``points`` (bucket, series, count) as running totals: one line per series."""
    if not points:
        return Markup("")
    buckets, totals = running_totals(points, bucket_seconds)
    return plot(buckets, totals, labels)


def plot(buckets: list[datetime], values: dict[str, list[int]], labels: dict[str, str],
         colours: dict[str, str] = SERIES) -> Markup:
    """One line per series of ``colours`` in ``values`` (its value at each of ``buckets``,
    two or more), in the order of ``colours``."""
    y_ticks = count_ticks(max(max(line) for line in values.values()))
    start, end = buckets[0].timestamp(), buckets[-1].timestamp()

    def x(moment: datetime) -> float:
        return SCALE * (moment.timestamp() - start) / (end - start)

    def y(n: int) -> float:
        return SCALE - SCALE * n / y_ticks[-1]

    drawn = [series for series in colours if series in values]
    legend = "".join(
        f'<li><span class="swatch" style="background:{colours[s]}"></span>'
        f"{escape(labels.get(s, s))}</li>" for s in drawn)
    y_labels = "".join(f'<span style="bottom:{100 * n / y_ticks[-1]:.2f}%">{n}</span>'
                       for n in y_ticks)
    grid = "".join(f'<line x1="0" x2="{SCALE}" y1="{y(n):.1f}" y2="{y(n):.1f}" '
                   'class="tick"/>' for n in y_ticks[1:])
    lines = "".join(
        '<polyline points="{}" fill="none" stroke="{}"/>'.format(
            " ".join(f"{x(b):.1f},{y(n):.1f}" for b, n in zip(buckets, values[s], strict=True)),
            colours[s])
        for s in drawn)
    x_times, style = time_ticks(buckets[0], buckets[-1])
    x_labels = "".join(_x_label(x(t) / SCALE, time_element(t, style)) for t in x_times)
    return Markup(
        '<div class="line-chart">'
        f'<ul class="chart-legend">{legend}<li class="chart-zone" '
        f'data-zone="{buckets[-1].astimezone(UTC).isoformat()}">UTC</li></ul>'
        '<div class="chart-area">'
        f'<div class="chart-y" style="width:{len(str(y_ticks[-1])) + 1}ch">{y_labels}</div>'
        f'<div class="chart-plot"><svg class="chart" viewBox="0 0 {SCALE} {SCALE}" '
        'preserveAspectRatio="none" aria-hidden="true" xmlns="http://www.w3.org/2000/svg">'
        f"{grid}{lines}</svg></div>"
        f'<div class="chart-x">{x_labels}</div>'
        "</div></div>")


def _x_label(at: float, label: Markup) -> str:
    """A tick's label centred under it, or held inside the plot near either end."""
    anchor = " class=\"start\"" if at < 0.08 else " class=\"end\"" if at > 0.92 else ""
    return f'<span{anchor} style="left:{100 * at:.2f}%">{label}</span>'
