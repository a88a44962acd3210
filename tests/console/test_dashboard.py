"""The dashboard on the console's own app (no mailpipe process beats here): what it says of
missing processes, the messages that wait for an operator, and every role reading it.

The dashboard of a running fleet, its figures against the API's, is
tests/console/test_dashboard_fleet.py.
"""

from __future__ import annotations

import time

from sqlalchemy import text

from services.api.app import ApiDeps, create_app
from shared.broker.queues import enqueue_sends
from shared.rate.pause import FleetPause
from shared.rate.quota import Quota, QuotaStore
from shared.runtime.heartbeat import beat
from tests.console.conftest import sign_in
from tests.support.browser import serving
from tests.support.console_pages import DESKTOP
from tests.support.settings import changed
from tests.support.stored_messages import store_messages


def test_a_viewer_reads_the_dashboard_and_is_told_what_is_missing_and_what_waits(page, console):
    with console.engine.begin() as conn:
        conn.execute(text("TRUNCATE messages, contents RESTART IDENTITY CASCADE"))
    store_messages(console.engine, console.key.id, ["u1@example.com", "u2@example.com"],
                   "stuck", state="unknown")
    store_messages(console.engine, console.key.id, ["f1@example.com"], "stuck", state="failed")
    console.redis.flushall()
    beat(console.redis, "api", 1_700_000_000.0, host="web-1", pid=42)

    sign_in(page, console, "viewer", then="/ui/")
    assert page.locator("h1").inner_text() == "Dashboard"
    assert page.locator("nav a").first.inner_text() == "Dashboard"
    missing = page.locator("[data-missing]")
    assert [missing.nth(i).get_attribute("data-missing") for i in range(missing.count())] == [
        "scheduler", "sender", "recorder"]
    assert "No sender is running: nothing is sent." in missing.all_inner_texts()
    unknown = page.locator('[data-attention="unknown"] a')
    assert unknown.inner_text() == \
        "2 messages ended unknown: they may or may not have been sent."
    assert unknown.get_attribute("href") == "/ui/messages?state=unknown"
    assert page.locator('[data-attention="failed"] a').inner_text() == "1 message failed."
    api = page.locator('[data-health="api"]')
    assert "1 process" in api.inner_text() and "web-1" in api.inner_text()
    assert "none alive" in page.locator('[data-health="sender"]').inner_text()
    assert "answers" in page.locator('[data-health="postgresql"]').inner_text()
    assert page.locator('[data-stat="sent"]').inner_text() == "0"
    assert page.locator("#no-traffic").is_visible()

    page.select_option("#f-period", "1h")
    page.wait_for_url("**/ui/?period=1h*")
    assert page.locator("#f-period").input_value() == "1h"
    answer = page.request.get(f"{console.url}/ui/?period=1y")
    assert answer.status == 400


def test_an_ses_accounts_quota_a_waiting_queue_and_a_paused_fleet_are_shown(
        browser, console, tmp_path):
    """MAILPIPE_SEND_RATE=auto: the rate and the 24-hour quota are SES's, as the scheduler
    stored them in Redis, with what the senders counted since."""
    settings = changed(console.settings, send_rate="auto")
    app = create_app(ApiDeps(settings, console.engine, console.broker, console.redis))
    console.redis.flushall()
    with console.engine.begin() as conn:
        conn.execute(text("TRUNCATE messages, contents, sending_pause RESTART IDENTITY CASCADE"))
    [waiting] = store_messages(console.engine, console.key.id, ["q@example.com"], "t",
                               state="queued")
    with console.engine.begin() as conn:
        conn.execute(text("UPDATE messages SET updated_at = now() - interval '150 seconds' "
                          "WHERE id = :id"), {"id": waiting})
    enqueue_sends(console.broker, [waiting], batch_size=1)
    store = QuotaStore(console.redis)
    store.save(Quota(max_send_rate=14, max_24h=50_000, sent_24h=12_000, enabled=True,
                     refreshed_at=time.time() - 30))
    store.record_sent(7)
    FleetPause(console.engine, console.redis).pause("SES refused the credentials (test)")

    with serving(app) as port:
        context = browser.new_context(viewport=DESKTOP, locale="en-US",
                                      extra_http_headers={"Accept-Language": "en-US"})
        page = context.new_page()
        try:
            url = f"http://127.0.0.1:{port}"
            email, password = console.accounts["editor"]
            page.goto(f"{url}/ui/login")
            page.fill("input[name=email]", email)
            page.fill("input[name=password]", password)
            page.click("button[type=submit].primary")
            page.wait_for_url(f"{url}/ui/")
            assert "SES refused the credentials (test)" in page.locator("#paused").inner_text()
            assert page.locator('[data-rate="limit"]').inner_text() == "13.8"
            assert "12,007 / 50,000 · 24.0%" in page.locator("#quota").inner_text()
            assert page.locator('[data-queue="send"]').inner_text() == "1 batch waiting"
            assert page.locator('[data-queue="oldest"]').inner_text() == \
                "queued 2 minutes ago"
            page.locator("#sending").screenshot(path=str(tmp_path / "sending.png"))
        finally:
            context.close()
