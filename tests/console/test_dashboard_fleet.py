"""The dashboard of a running fleet: mail sent through mailpipe's real processes (api,
scheduler, sender, recorder; ``file`` transport), SES events through the SNS endpoint, an
open and a click through the tracking links; the page read in Chromium, in English and
Korean, on a desktop and a phone.

Its numbers are the API's: a topic's over 30 days are ``GET /v1/topics/{id}``'s, the
fleet's sends of the last hour ``GET /v1/events/counts/sent?hours=1``'s.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import requests

from services.console.admins import create_account
from shared.rendering.tracking import SCANNER_CLICK_SECONDS
from shared.runtime.heartbeat import KINDS, OPTIONAL_KINDS, alive
from shared.runtime.localservers import free_port
from tests.support.sns import TOPIC, ses_event_publishing
from tests.support.stack import running_stack, settings_env, wait_for

SHOTS = Path("/tmp/mailpipe-shots")
RAW_SECRET = "dashboard-raw-secret"
HUMAN = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0"}
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def _ses(url: str, kind: str, provider_id: str, sns_id: str) -> None:
    answer = requests.post(
        f"{url}/v1/events/results", params={"token": RAW_SECRET}, timeout=5,
        data=json.dumps(ses_event_publishing(kind, provider_id, "reader@example.net")),
        headers={"x-amz-sns-message-type": "Notification", "x-amz-sns-message-id": sns_id,
                 "x-amz-sns-topic-arn": TOPIC, "x-amz-sns-rawdelivery": "true"})
    assert answer.status_code == 200, answer.text


def _tracking_links(outbox: Path, address: str) -> tuple[str, str]:
    [eml] = [p for p in outbox.glob("*.eml") if address in p.read_text(errors="replace")]
    raw = eml.read_bytes().decode().replace("=\r\n", "").replace("=\n", "").replace("=3D", "=")
    pixel = re.search(r'src="([^"]*/v1/events/open\?t=[^"]*)"', raw).group(1)
    click = re.search(r'href="([^"]*/v1/events/click\?t=[^"]*)"', raw).group(1)
    return pixel.replace("&amp;", "&"), click.replace("&amp;", "&")


def _page(browser, url: str, account: tuple[str, str], locale: str, viewport: dict):
    context = browser.new_context(locale=locale, viewport=viewport, timezone_id="Asia/Seoul",
                                  is_mobile=viewport is PHONE,
                                  extra_http_headers={"Accept-Language": f"{locale},en;q=0.5"})
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{url}/ui/login")
    page.fill("input[name=email]", account[0])
    page.fill("input[name=password]", account[1])
    page.click("button[type=submit].primary")
    page.wait_for_url(f"{url}/ui/")
    return context, page, errors


def _figures(page) -> dict[str, int]:
    figures = {}
    for name in ("sent", "delivered", "bounced", "hard_bounced", "soft_bounced", "complained",
                 "opened", "clicked", "failed"):
        figures[name] = int(page.locator(f'[data-stat="{name}"]').inner_text().replace(",", ""))
    return figures


def _send(url: str, headers: dict, topic: str, emails: list[str]) -> list[int]:
    answer = requests.post(f"{url}/v1/messages", headers=headers, timeout=10, json={
        "messages": [{"topicId": topic, "emails": emails, "subject": "Dashboard news",
                      "content": '<p>News <a href="https://example.com/news">read</a></p>'}]})
    assert answer.status_code == 200, answer.text
    return [m["id"] for m in answer.json()["messages"]]


def test_the_dashboard_of_a_running_fleet_shows_the_apis_figures(
        browser, settings, engine, redis, api_key, tmp_path):
    SHOTS.mkdir(exist_ok=True)
    port = free_port()
    env = settings_env(settings, MAILPIPE_SECRET_KEY="dashboard-secret",
                       MAILPIPE_PUBLIC_URL=f"http://127.0.0.1:{port}",
                       MAILPIPE_SNS_RAW_SECRET=RAW_SECRET)
    viewer = ("viewer@local.example", create_account(engine, "viewer@local.example", "viewer"))
    headers = {"x-api-key": api_key[1]}
    with running_stack(env, tmp_path / "logs", port=port) as (_, url):
        news = _send(url, headers, "dash-news", [f"r{i}@example.net" for i in range(4)])
        _send(url, headers, "dash-other", ["other@example.net"])

        def message(message_id: int) -> dict:
            return requests.get(f"{url}/v1/messages/{message_id}", headers=headers,
                                timeout=5).json()

        def topic(name: str) -> dict:
            return requests.get(f"{url}/v1/topics/{name}", headers=headers, timeout=5).json()

        wait_for(lambda: topic("dash-news")["stats"]["sent"] == 4
                 and topic("dash-other")["stats"]["sent"] == 1, 60, "five messages sent")
        sent_as = {i: message(i)["providerMessageId"] for i in news}
        _ses(url, "Delivery", sent_as[news[0]], "d0")
        _ses(url, "Delivery", sent_as[news[0]], "d0-cc")  # a second recipient's
        _ses(url, "Delivery", sent_as[news[1]], "d1")
        _ses(url, "Complaint", sent_as[news[1]], "c1")
        _ses(url, "SoftBounce", sent_as[news[2]], "b2-soft")
        _ses(url, "HardBounce", sent_as[news[2]], "b2-hard")
        _ses(url, "Reject", sent_as[news[3]], "r3")
        pixel, click = _tracking_links(settings.file_dir, "r0@example.net")
        wait_for(lambda: message(news[0])["status"] == "delivered", 30, "the delivery")
        delivered_at = time.monotonic()
        for link in (pixel, pixel):
            assert requests.get(link, headers=HUMAN, timeout=5).status_code == 200
        # A click within seconds of the delivery is a link scanner's, not a person's.
        time.sleep(max(0.0, SCANNER_CLICK_SECONDS + 1 - (time.monotonic() - delivered_at)))
        for link in (click,):
            assert requests.get(link, headers=HUMAN, timeout=5,
                                allow_redirects=False).status_code in (200, 302)

        def recorded() -> dict:
            stats = topic("dash-news")["stats"]
            done = (stats["delivered"], stats["bounced"], stats["complained"],
                    stats["opens"]["unique"], stats["clicks"]["unique"]) == (2, 1, 1, 1, 1)
            return done and stats
        stats = wait_for(recorded, 30, f"the events to be recorded: {topic('dash-news')}")
        wait_for(lambda: {a.kind for a in alive(redis)} == set(KINDS) - OPTIONAL_KINDS, 30,
                 "a heartbeat of every kind the stack runs")

        context, page, errors = _page(browser, url, viewer, "en-US", DESKTOP)
        try:
            # Every key, the last hour: the fleet's five sends, as the API counts them.
            page.goto(f"{url}/ui/?period=1h")
            hour = requests.get(f"{url}/v1/events/counts/sent", params={"hours": 1},
                                headers=headers, timeout=5).json()
            assert _figures(page)["sent"] == hour["count"] == 5
            assert page.locator("[data-missing]").count() == 0
            for kind in ("postgresql", "redis", *KINDS):
                assert page.locator(f'[data-health="{kind}"] .chip').inner_text() in (
                    ("none running",) if kind in OPTIONAL_KINDS else ("answers", "1 process")), kind
            assert page.locator('[data-attention="failed"] a').inner_text() == \
                "1 message failed."
            page.screenshot(path=str(SHOTS / "dashboard-en-desktop.png"), full_page=True)

            # One key and topic over 30 days: GET /v1/topics/dash-news's figures.
            page.goto(f"{url}/ui/?period=30d&key={api_key[0].id}&topic=dash-news")
            status = topic("dash-news")["status"]
            assert _figures(page) == {
                "sent": stats["sent"], "delivered": stats["delivered"],
                "bounced": stats["bounced"], "hard_bounced": stats["hardBounced"],
                "soft_bounced": stats["softBounced"], "complained": stats["complained"],
                "opened": stats["opens"]["unique"], "clicked": stats["clicks"]["unique"],
                "failed": status.get("failed", 0)}
            assert page.locator('[data-rate="bounced"]').inner_text() == "25.0%"
            page.screenshot(path=str(SHOTS / "dashboard-en-topic-desktop.png"), full_page=True)
        finally:
            context.close()
        assert not errors, errors

        for locale, viewport, name in (("ko-KR", DESKTOP, "ko-desktop"),
                                       ("ko-KR", PHONE, "ko-phone"),
                                       ("en-US", PHONE, "en-phone")):
            context, page, errors = _page(browser, url, viewer, locale, viewport)
            try:
                page.goto(f"{url}/ui/?period=24h")
                if locale == "ko-KR":
                    assert page.locator("h1").inner_text() == "대시보드"
                    assert page.locator('[data-health="sender"] .chip').inner_text() == \
                        "프로세스 1개"
                assert _figures(page)["sent"] == 5
                # Nothing wider than the screen: the page scrolls only downwards.
                assert page.evaluate("document.documentElement.scrollWidth") <= \
                    viewport["width"]
                page.screenshot(path=str(SHOTS / f"dashboard-{name}.png"), full_page=True)
            finally:
                context.close()
            assert not errors, errors

