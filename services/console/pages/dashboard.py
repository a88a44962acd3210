"""The dashboard, the console's home page: traffic, reputation, rate, queues, health.

Traffic is read from the rollups (``shared.db.traffic``): per key and topic,
counted by the rules of ``GET /v1/topics/{id}``, so a topic's figures over a
window holding its traffic are the API's. The rest is ``services.console.fleet``.
Every query here reads an index range whose size is the window's, never the
tables of messages and events (tests/console/test_dashboard_plans.py).
"""

from __future__ import annotations

from datetime import UTC, datetime

import falcon
from sqlalchemy import Select

from services.console.chart import plot
from services.console.fleet import read_fleet
from services.console.i18n import label
from services.console.web import Page
from shared.db.backlog import OLDEST_QUEUED, attention_statement
from shared.db.guard import active_pauses, warned
from shared.db.keys import list_keys
from shared.db.traffic import (
    WINDOWS,
    Traffic,
    active_topics,
    topics_statement,
    traffic,
    traffic_statement,
)
from shared.settings import Settings

DEFAULT_WINDOW = "24h"

#: The lines drawn, in this order, with their colours.
COLOURS = {"sent": "#2563eb", "delivered": "#16a34a", "bounced": "#dc2626",
           "complained": "#db2777", "opened": "#d97706", "clicked": "#9333ea",
           "failed": "#4b5563"}

#: SES's levels (fractions of messages sent): at ``review`` it puts the account under
#: review, at ``pause`` it may stop its sending.
SES_LEVELS = {"bounced": {"review": 0.05, "pause": 0.10},
              "complained": {"review": 0.001, "pause": 0.005}}


def guard_levels(settings: Settings) -> dict[str, float]:
    """mailpipe's own pause levels (the reputation guard's, shared.guard), drawn beside SES's."""
    return {"bounced": settings.guard_bounce_pause,
            "complained": settings.guard_complaint_pause}


def statements(now: datetime, api_key_id: int | None = None,
               topic_id: str | None = None) -> dict[str, Select]:
    """What one view of the dashboard asks PostgreSQL, by name, for every period (besides
    ``SELECT 1`` and the one-row pause table): bench/dashboard.py times them and
    tests/console/test_dashboard_plans.py checks that none reads a whole table."""
    found: dict[str, Select] = {
        f"traffic {name}": traffic_statement(window, window.since(now), api_key_id, topic_id)
        for name, window in WINDOWS.items()}
    found["topics"] = topics_statement(WINDOWS["30d"].since(now), api_key_id)
    found["unknown and failed"] = attention_statement(api_key_id)
    found["oldest queued"] = OLDEST_QUEUED
    return found


def gauge(rate: float | None, levels: dict[str, float], guard: float | None) -> dict:
    """Where a rate and its levels sit on a bar that ends a quarter past the pause level."""
    top = levels["pause"] * 1.25

    def at(value: float) -> float:
        return round(100 * min(value, top) / top, 2)

    if rate is None:
        level = "none"
    else:
        level = "bad" if rate >= levels["pause"] else "warn" if rate >= levels["review"] \
            else "ok"
    return {"rate": rate, "width": at(rate or 0), "level": level,
            "review": at(levels["review"]), "pause": at(levels["pause"]),
            "levels": levels, "guard": None if guard is None else at(guard)}


def chart(figures: Traffic, lang: str):
    """The window's buckets, one line per measure (zero where nothing happened)."""
    window = figures.window
    start = int(figures.since.timestamp())
    buckets = [datetime.fromtimestamp(start + i * window.step, UTC)
               for i in range(window.buckets)]
    values = {m: [figures.points.get(b, {}).get(m, 0) for b in buckets] for m in COLOURS}
    return plot(buckets, values, {m: label(lang, "stat", m) for m in COLOURS}, COLOURS)


class DashboardPage(Page):
    """``/ui/``: every role reads it; filters ``period``, ``key`` and ``topic``."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        period = req.get_param("period") or DEFAULT_WINDOW
        if period not in WINDOWS:
            raise falcon.HTTPInvalidParam("use 1h, 24h, 7d or 30d", "period")
        key = (req.get_param("key") or "").strip()  # the form sends "" for every key
        if key and not (key.isascii() and key.isdigit() and len(key) <= 18):
            raise falcon.HTTPInvalidParam("a key id is a number", "key")
        key_id = int(key) if key else None
        topic = (req.get_param("topic") or "").strip() or None
        window, now = WINDOWS[period], datetime.now(UTC)
        with self.console.engine.connect() as conn:
            keys = list_keys(conn)
            figures = traffic(conn, window, now, key_id, topic)
            topics = active_topics(conn, WINDOWS["30d"].since(now), key_id)
            fleet_day = traffic(conn, WINDOWS["24h"], now)  # every key's sends, for the quota
            pauses = active_pauses(conn, key_id)
            warnings = [w for w in warned(conn, key_id) if w[3] == "warn"]
        lang = req.context.lang
        guard = guard_levels(self.console.settings)
        self.console.render(
            req, resp, "dashboard.html", period=period, periods=list(WINDOWS),
            key_id=key_id, topic=topic, keys=keys, topics=topics, figures=figures,
            chart=chart(figures, lang) if any(figures.totals.values()) else "",
            bounces=gauge(figures.rate("bounced"), SES_LEVELS["bounced"], guard["bounced"]),
            complaints=gauge(figures.rate("complained"), SES_LEVELS["complained"],
                             guard["complained"]),
            pauses=pauses, warnings=warnings, key_names={k.id: k.name for k in keys},
            fleet=read_fleet(self.console.deps, key_id), fleet_day=fleet_day,
            now=now)
