"""Results per topic (and so per plan): counts and rates, a chart, message search, CSV export.

The figures are ``shared.db.stats.topic_stats`` and ``shared.db.reads``,
the same reads as ``GET /v1/topics/{id}``; a message found links to its page
(services/console/pages/messages.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import falcon

from services.console.chart import SERIES, bucket_for, line_chart
from services.console.i18n import label
from services.console.web import ROOT, Page, PageNotFound, key_of
from shared.db.campaigns import get_campaign
from shared.db.console_queries import export_page, topic_series, topic_span, topics
from shared.db.message_search import search_messages
from shared.db.reads import topic_summary
from shared.db.stats import topic_stats
from shared.i18n import Text
from shared.intake.csvtext import csv_bytes, export_charset, export_content_type

EXPORT_COLUMNS = ("id", "email", "state", "provider_message_id", "sent_at", "opens", "clicks",
                  "unsubscribed", "bounce", "name")


class ResultsPage(Page):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        key = key_of(req)
        topic = (req.get_param("topic") or "").strip()
        query = (req.get_param("q") or "").strip()
        plan_id = req.get_param_as_int("plan", min_value=1, max_value=2**63 - 1)
        values: dict = {"topic": topic, "q": query, "plan": None, "stats": None,
                        "summary": None, "chart": "", "found": None, "no_messages": False}
        with self.console.engine.connect() as conn:
            values["topics"] = topics(conn, key.id)
            if plan_id is not None:
                values["plan"] = get_campaign(conn, key.id, plan_id)
                if values["plan"] is None:
                    raise PageNotFound(Text("There is no send plan %(id)s.", id=plan_id),
                                       back=f"{ROOT}/plans")
                topic = values["topic"] = topic or values["plan"].topic_id
            summary = topic_summary(conn, key.id, topic) if topic else None
            # No message has the topic: said so (a typo, another key's topic, a plan that
            # has not started), not shown as a dashboard of zeros.
            values["no_messages"] = summary is not None and not summary["status"]
            if summary and summary["status"]:
                values["stats"] = topic_stats(conn, key.id, topic)
                values["summary"] = summary
                span = topic_span(conn, key.id, topic)
                if span:
                    bucket = bucket_for((span[1] - span[0]).total_seconds())
                    values["chart"] = line_chart(
                        topic_series(conn, key.id, topic, bucket), bucket,
                        {s: label(req.context.lang, "stat", s) for s in SERIES})
            if query:
                values["found"] = search_messages(conn, key.id, query, topic or None)
        unknown = values["no_messages"] and values["plan"] is None
        self.console.render(req, resp, "results.html", **values,
                            status=falcon.HTTP_404 if unknown else falcon.HTTP_200)


def _export_rows(engine, key_id: int, topic: str) -> Iterator[Sequence]:
    """The header, then the topic's messages a page at a time (one query per page)."""
    yield EXPORT_COLUMNS
    after = 0
    while True:
        with engine.connect() as conn:
            rows = export_page(conn, key_id, topic, after)
        for row in rows:
            yield [row.id, row.to_addr, row.state, row.provider_message_id or "",
                   row.sent_at.isoformat() if row.sent_at else "", row.opens,
                   row.clicks, "yes" if row.unsubscribed else "", row.bounce or "",
                   row.to_name or ""]
        if not rows:
            return
        after = rows[-1].id


class ExportEndpoint(Page):
    """``GET /ui/results/export?topic=…&charset=utf-8-sig|cp949``: the topic's messages as
    CSV, streamed by pages, in UTF-8 with a BOM (what Excel opens) or CP949 (Korean Excel)."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        key = key_of(req)
        topic = req.get_param("topic", required=True)
        charset = export_charset(req.get_param("charset"))
        resp.content_type = export_content_type(charset)
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in topic)[:80]
        resp.set_header("Content-Disposition", f'attachment; filename="{safe}.csv"')
        resp.stream = csv_bytes(_export_rows(self.console.engine, key.id, topic), charset)
