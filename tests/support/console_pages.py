"""Every console page with something on it (a template with two versions, a saved grid, a
plan, and a topic whose messages were sent, opened and clicked at known instants), and a
browser page that reads them as a Korean user in Seoul does.

The instants are fixed (UTC) so that a test in a forced time zone knows what the page
must show: ``AT`` is 09:30 in Seoul, ``PLANNED`` 09:00 on 1 January 2031 there.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from shared.db.messages import insert_messages
from shared.db.recipient_lists import insert_list
from shared.db.templates import create_template, update_template
from shared.intake.addresses import NamedAddress
from shared.intake.campaigns import create_campaign, json_rows
from shared.intake.requests import CampaignRequest, MessageRequest
from shared.rendering.mustache import TemplateSource

#: When the template was written, and the topic's messages made and sent.
AT = datetime(2026, 6, 1, 0, 30, tzinfo=UTC)
#: When the plan is to be sent.
PLANNED = datetime(2031, 1, 1, 0, 0, tzinfo=UTC)
TOPIC = "june-news"

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}


@contextmanager
def browser_page(browser, viewport: dict, locale: str, zone: str, accept: str) -> Iterator:
    """A fresh browser page in ``locale`` and time ``zone``, sending ``accept`` as its
    Accept-Language, at ``viewport``; fails on a script error."""
    context = browser.new_context(locale=locale, timezone_id=zone, viewport=viewport,
                                  extra_http_headers={"Accept-Language": accept})
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield page
    finally:
        context.close()
    assert not errors, errors


def korean_page(browser, viewport: dict):
    """A fresh browser page in Korean, in Seoul, at ``viewport``; fails on a script error."""
    return browser_page(browser, viewport, "ko-KR", "Asia/Seoul", "ko-KR,ko;q=0.9")


@dataclass(frozen=True)
class ConsolePages:
    template_id: int
    grid_id: int
    plan_id: int
    message_id: int

    def paths(self) -> dict[str, str]:
        """Page name → path under the console's URL, every page a signed-in user sees."""
        return {
            "templates": "/ui/templates",
            "template-new": "/ui/templates/new",
            "template": f"/ui/templates/{self.template_id}",
            "grids": "/ui/grids",
            "grid": f"/ui/grids/{self.grid_id}",
            "plans": "/ui/plans",
            "results-empty": "/ui/results",
            "results": f"/ui/results?topic={TOPIC}",
            "results-search": "/ui/results?q=a1%40example.com",
            "messages": "/ui/messages",
            "messages-filtered": f"/ui/messages?state=delivered&topic={TOPIC}&q=example.com",
            "message": f"/ui/messages/{self.message_id}",
        }


def _at(conn, sql: str, **params) -> None:
    conn.execute(text(sql), params)


def seed_console_pages(console) -> ConsolePages:
    """Store what the pages show, for the console's API key (times as in the docstring)."""
    key_id = console.key.id
    with console.engine.begin() as conn:
        template = create_template(conn, key_id, "6월 소식", TemplateSource(
            "{{이름}}님, 6월 소식입니다", "<h1>{{이름}}님</h1><p>6월 소식 <a href=\"https://"
            "example.com/june\">보기</a></p>", None))
        update_template(conn, key_id, template.id, "6월 소식", TemplateSource(
            "{{이름}}님, 6월 소식", "<h1>{{이름}}님</h1><p>6월 소식</p>", None))
        _at(conn, "UPDATE template_versions SET created_at = :at + make_interval(mins => version)"
                  " WHERE template_id = :id", at=AT, id=template.id)
        grid = insert_list(conn, key_id, "6월 고객", [
            (NamedAddress(f"a{n}@example.com", name), {"이름": name})
            for n, name in enumerate(["홍길동", "김민수", "이영희"], start=1)],
            template_id=template.id)
        created = insert_messages(conn, key_id, [MessageRequest(
            topic_id=TOPIC, from_addr="news@example.com",
            recipients=[f"a{n}@example.com" for n in range(1, 7)],
            subject="6월 소식", html="<p>6월 소식</p>")], queue_timeout=300)
        ids = [m.id for m in created]
        _at(conn, "UPDATE messages SET state = 'delivered', created_at = :at, scheduled_at = :at, "
                  "sent_at = :at + make_interval(secs => id % 7 * 20), provider_message_id = "
                  "'ses-' || id WHERE id = ANY(:ids)", at=AT, ids=ids)
        for n, message_id in enumerate(ids):
            for kind, after in (("sent", 20), ("delivered", 40), ("opened", 600 + 300 * n),
                                ("clicked", 1200 + 600 * n)):
                if kind == "clicked" and n % 2:
                    continue
                _at(conn, "INSERT INTO events (message_id, type, occurred_at, provider_message_id)"
                          " VALUES (:m, :t, :at, 'ses-' || :m)", m=message_id, t=kind,
                    at=AT + timedelta(seconds=after))
    plan = create_campaign(
        console.engine, console.key,
        CampaignRequest(name="6월 정기 발송", template_id=template.id, topic_id="june-plan",
                        scheduled_at=PLANNED),
        lambda variables: json_rows([{"email": "b1@example.com", "이름": "홍길동"},
                                     {"email": "b2@example.com", "이름": "김민수"}]),
        console.settings)
    return ConsolePages(template.id, grid.id, plan.id, ids[0])
