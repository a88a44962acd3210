"""Moments on console pages, shown in the reader's own time zone.

The server does not know the reader's zone, so it writes every moment one
way: ``<time datetime="2026-06-01T00:30:00+00:00" data-style="full">`` with
the instant in ISO 8601 (UTC, offset included) and, until the browser
replaces it, the same instant in UTC labelled "UTC". ``static/console.js``
rewrites every such element in the browser's zone, labelled (GMT+9, EDT…)
and worded in the page's language (``Intl.DateTimeFormat``); each style
below has its twin there.
"""

from __future__ import annotations

from datetime import UTC, datetime

from markupsafe import Markup

#: Style → the UTC text shown until (or unless) the browser writes its own.
STYLES = {
    "full": "%Y-%m-%d %H:%M UTC",            # a date and a time, the zone named
    "second": "%Y-%m-%d %H:%M:%S UTC",       # the same to the second (a timeline)
    "axis-second": "%H:%M:%S",               # a chart's ticks, the zone said once beside
    "axis-minute": "%H:%M",
    "axis-day-minute": "%m-%d %H:%M",
    "axis-day": "%m-%d",
}


def time_element(moment: datetime | str | None, style: str = "full") -> Markup:
    """``moment`` (aware, or its ISO text) as a ``<time>`` element; None: empty."""
    if moment is None or moment == "":
        return Markup("")
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    moment = moment.astimezone(UTC)
    return Markup('<time datetime="{}" data-style="{}">{}</time>').format(
        moment.isoformat(), style, moment.strftime(STYLES[style]))
