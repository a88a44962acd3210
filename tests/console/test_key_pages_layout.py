"""The keys, key, new key, sender identities and suppressions pages in Korean and English on
a phone (390×844): nothing scrolls the page sideways.

With ``MAILPIPE_SHOTS=<folder>`` set, each is also saved there at desktop (1280×800) and
phone size, for a person to look at:
``MAILPIPE_SHOTS=/tmp/mailpipe-shots .venv/bin/pytest tests/console/test_key_pages_layout.py``.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from services.console.pages.keys import KEY_DAYS
from shared.db.keys import create_key
from shared.db.messages import insert_messages
from shared.db.suppressions import add_suppressions
from shared.intake.requests import MessageRequest
from tests.console.conftest import sign_in
from tests.support.console_pages import DESKTOP, PHONE, browser_page
from tests.support.fake_identities import FakeIdentities, identity

LANGUAGES = {"ko": ("ko-KR", "Asia/Seoul", "ko-KR,ko;q=0.9"),
             "en": ("en-US", "America/New_York", "en-US,en;q=0.9")}
STATES = ["delivered"] * 6 + ["sent", "bounced", "complained", "failed", "suppressed", "queued"]


def _seed(console) -> int:
    """A key with 30 days of traffic in every state, and suppressions with their causes."""
    with console.engine.begin() as conn:
        key, _ = create_key(conn, "쇼핑몰 뉴스레터", ["shop.example", "news.shop.example"],
                            20, intake_rate=5)
        created = insert_messages(conn, key.id, [MessageRequest(
            topic_id="layout", from_addr="news@shop.example",
            recipients=[f"user{n}@example.com" for n in range(240)],
            subject="s", html="<p>x</p>")], queue_timeout=300)
        ids = [m.id for m in created]
        conn.execute(text(
            "UPDATE messages SET created_at = now() - make_interval(days => ((id * id) % 30)::int),"
            " state = (CAST(:states AS text[]))[1 + id % :n] WHERE id = ANY(:ids)"),
            {"ids": ids, "states": STATES, "n": len(STATES)})
        conn.execute(text("UPDATE api_keys SET last_used_at = now() - interval '5 minutes'"
                          " WHERE id = :id"), {"id": key.id})
        _counted(conn, key.id)
        add_suppressions(conn, console.key.id, ["bounced.user.with.a.long.address@example.com"],
                         "bounce", message_id=ids[0])
        add_suppressions(conn, console.key.id, ["complainer@naver.com"], "complaint",
                         message_id=ids[1])
        add_suppressions(conn, console.key.id, ["left@daum.net"], "unsubscribe")
        add_suppressions(conn, console.key.id, ["manual@example.org"], "manual")
    return key.id


def _counted(conn, key_id: int) -> None:
    """30 days of the key's traffic in the rollup its page reads, as the recorder counts."""
    table = KEY_DAYS.by_key
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    rows = []
    for day in range(30):
        sent = (day * 37) % 90 + (0 if day % 6 == 3 else 20)
        row = {"at": now - timedelta(days=day), "api_key_id": key_id, "sent": sent,
               "delivered": sent * 9 // 10, "bounced": sent // 20, "hard_bounced": sent // 40,
               "complained": int(day % 5 == 0), "opened": sent // 3, "clicked": sent // 8,
               "failed": day % 4}
        if "topic_id" in table.c:
            row["topic_id"] = "layout"
        rows.append(row)
    conn.execute(table.insert(), rows)


def test_the_key_pages_fit_a_phone_in_korean_and_english(browser, console, monkeypatch):
    fake = FakeIdentities({
        "shop.example": identity(),
        "news.example": identity(verification="PENDING", dkim="PENDING"),
        "ops@shop.example": identity(kind="EMAIL_ADDRESS", dkim="NOT_STARTED", tokens=()),
        "old-brand.example": identity(verification="FAILED", dkim="FAILED"),
    })
    for name, value in {"AWS_ENDPOINT_URL_SESV2": fake.url, "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    key_id = _seed(console)
    shots = os.environ.get("MAILPIPE_SHOTS")
    sizes = {"phone": PHONE, **({"desktop": DESKTOP} if shots else {})}
    wide: dict[str, int] = {}

    def look(page, name: str) -> None:
        page.wait_for_load_state("networkidle")
        width = page.evaluate("document.documentElement.scrollWidth")
        if page.viewport_size["width"] == PHONE["width"] and width > PHONE["width"]:
            wide[name] = width
        if shots:
            Path(shots).mkdir(parents=True, exist_ok=True)
            page.screenshot(path=f"{shots}/{name}.png", full_page=True)

    try:
        for lang in LANGUAGES:
            for size, viewport in sizes.items():
                with browser_page(browser, viewport, *LANGUAGES[lang]) as page:
                    sign_in(page, console, "admin")
                    page.goto(f"{console.url}/ui/keys")
                    page.click("#new-key summary")
                    look(page, f"keys-{lang}-{size}")
                    page.goto(f"{console.url}/ui/keys/{key_id}")
                    look(page, f"key-{lang}-{size}")
                    page.goto(f"{console.url}/ui/keys")
                    page.click("#new-key summary")
                    page.fill("#key-form input[name=name]", f"layout {lang} {size}")
                    page.click("#create-key")
                    look(page, f"key-created-{lang}-{size}")
                    page.goto(f"{console.url}/ui/identities")
                    page.locator("details.records summary").first.click()
                    look(page, f"identities-{lang}-{size}")
                    page.goto(f"{console.url}/ui/suppressions")
                    page.click("#add summary")
                    look(page, f"suppressions-{lang}-{size}")
    finally:
        fake.close()
    assert not wide, f"pages wider than {PHONE['width']}px: {wide}"
