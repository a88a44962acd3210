"""A small hand-written SVG line chart of a topic over time (no chart library, no script).

The lines are running totals (sent, delivered, opened, ...) from just before
the first send, so a short campaign still draws rising lines.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from markupsafe import Markup, escape

from shared.broker.payloads import EventType

#: Series drawn, with their colours (CSS classes would need a style sheet inside the SVG).
SERIES = {EventType.SENT: "#2563eb", EventType.DELIVERED: "#16a34a",
          EventType.OPENED: "#d97706", EventType.CLICKED: "#9333ea",
          EventType.BOUNCED: "#dc2626"}
WIDTH, HEIGHT, PAD = 640, 220, 32


def bucket_for(span_seconds: float) -> int:
    """A bucket size giving at most about 60 points over the span."""
    for size in (10, 60, 300, 900, 3600, 4 * 3600, 86400):
        if span_seconds / size <= 60:
            return size
    return 7 * 86400


def _floor(moment: datetime, seconds: int) -> datetime:
    return datetime.fromtimestamp(moment.timestamp() // seconds * seconds, moment.tzinfo)


def line_chart(points: list[tuple[datetime, str, int]], bucket_seconds: int,
               labels: dict[str, str]) -> Markup:
    """``points`` (bucket, series, count) as running totals: one polyline per series."""
    if not points:
        return Markup("")
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
    counts: dict[str, dict[datetime, int]] = {}
    for series, by_bucket in per_bucket.items():
        total, counts[series] = 0, {}
        for bucket in buckets:
            total += by_bucket.get(bucket, 0)
            counts[series][bucket] = total
    top = max(max(c.values()) for c in counts.values()) or 1
    step = (WIDTH - 2 * PAD) / max(1, len(buckets) - 1)

    def xy(i: int, n: int) -> str:
        return f"{PAD + i * step:.1f},{HEIGHT - PAD - (HEIGHT - 2 * PAD) * n / top:.1f}"

    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
             f'xmlns="http://www.w3.org/2000/svg">',
             f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" '
             'stroke="#999"/>',
             f'<text x="4" y="{PAD}" font-size="11" fill="#555">{top}</text>',
             f'<text x="{PAD}" y="{HEIGHT - 8}" font-size="11" fill="#555">'
             f'{buckets[0]:%m-%d %H:%M:%S}</text>',
             f'<text x="{WIDTH - PAD}" y="{HEIGHT - 8}" font-size="11" fill="#555" '
             f'text-anchor="end">{buckets[-1]:%m-%d %H:%M:%S}</text>']
    legend_x = PAD
    for series, colour in SERIES.items():
        if series not in counts:
            continue
        line = " ".join(xy(i, counts[series].get(b, 0)) for i, b in enumerate(buckets))
        parts.append(f'<polyline points="{line}" fill="none" stroke="{colour}" '
                     'stroke-width="2"/>')
        parts.append(f'<rect x="{legend_x}" y="6" width="10" height="10" fill="{colour}"/>'
                     f'<text x="{legend_x + 14}" y="15" font-size="11">'
                     f'{escape(labels.get(series, series))}</text>')
        legend_x += 90
    parts.append("</svg>")
    return Markup("".join(parts))
