"""A key's page lists its webhook endpoints with their latest deliveries (read-only), why an
endpoint is disabled, in English and Korean, at a phone's width too."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from tests.console.conftest import sign_in
from tests.support.console_pages import DESKTOP, PHONE, browser_page

SHOTS = Path("/tmp/mailpipe-shots")
LANGUAGES = {"en": ("en-US", "America/New_York", "en-US,en;q=0.9"),
             "ko": ("ko-KR", "Asia/Seoul", "ko-KR,ko;q=0.9")}
LONG = ("https://hooks.a-rather-long-customer-domain.example.co.kr/services/mailpipe/"
        "webhooks/receive-events-endpoint?token=abcdefghijklmnopqrstuvwxyz0123456789")


def _endpoints(page, console) -> tuple[int, int]:
    """Two endpoints made through the API: one with deliveries in every state, one gone."""
    key = {"x-api-key": console.api_key}

    def made(body: dict) -> int:
        answer = page.request.post(f"{console.url}/v1/webhooks", headers=key, data=body)
        assert answer.status == 201, answer.text()
        return answer.json()["id"]

    busy = made({"url": LONG, "eventTypes": ["message.bounced", "webhook.test"]})
    gone = made({"url": "https://hooks.example.com/old", "topics": ["news"]})
    for _ in range(4):
        assert page.request.post(f"{console.url}/v1/webhooks/{busy}/test",
                                 headers=key).status == 202
    page.request.post(f"{console.url}/v1/webhooks/{gone}/test", headers=key)
    with console.engine.begin() as conn:
        ids = [i for (i,) in conn.execute(text(
            "SELECT id FROM webhook_deliveries WHERE endpoint_id = :e ORDER BY id"),
            {"e": busy})]
        conn.execute(text(
            "UPDATE webhook_deliveries SET state = 'delivered', attempts = 1, last_status = 204,"
            " delivered_at = now() WHERE id = :id"), {"id": ids[0]})
        conn.execute(text(
            "UPDATE webhook_deliveries SET attempts = 3, last_status = 503, due_at = now() + "
            "interval '30 minutes', last_error = 'answered 503' WHERE id = :id"), {"id": ids[1]})
        conn.execute(text(
            "UPDATE webhook_deliveries SET state = 'failed', attempts = 10, last_error = "
            "'no answer within 15 s: the receiver at hooks.a-rather-long-customer-domain."
            "example.co.kr did not answer' WHERE id = :id"), {"id": ids[2]})
        conn.execute(text(
            "UPDATE webhook_endpoints SET enabled = false, disabled_reason = 'gone' "
            "WHERE id = :id"), {"id": gone})
        conn.execute(text(
            "UPDATE webhook_endpoints SET failing_since = now() - interval '2 days' "
            "WHERE id = :id"), {"id": busy})
    return busy, gone


def test_a_keys_page_lists_its_webhooks_with_their_deliveries_in_both_languages(
        browser, console, page):
    sign_in(page, console, "admin")
    busy, gone = _endpoints(page, console)
    SHOTS.mkdir(parents=True, exist_ok=True)
    wide = {}
    for lang, (locale, zone, accept) in LANGUAGES.items():
        for size, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
            with browser_page(browser, viewport, locale, zone, accept) as shown:
                sign_in(shown, console, "admin")
                shown.goto(f"{console.url}/ui/keys/{console.key.id}#webhooks")
                section = shown.locator("#webhooks")
                assert section.locator(f"[data-webhook='{busy}'] code").inner_text() == LONG
                rows = section.locator(f"[data-deliveries='{busy}'] tbody tr")
                assert rows.count() == 4
                states = [rows.nth(i).locator("[data-state]").get_attribute("data-state")
                          for i in range(4)]
                assert states == ["pending", "failed", "pending", "delivered"]  # newest first
                gone_state = section.locator(f"[data-webhook='{gone}'] [data-webhook-state]")
                assert gone_state.get_attribute("data-webhook-state") == "gone"
                said = section.inner_text()
                if lang == "ko":
                    assert "웹훅" in said and "410 Gone으로 응답함" in said
                    assert "전달됨" in said and "실패" in said and "다음 시도" in said
                    assert "부터 실패 중" in said
                else:
                    assert "answered 410 Gone" in said and "Delivered" in said
                    assert "failing since" in said and "HTTP 503" in said
                assert "whsec_" not in shown.content()  # never a secret
                width = shown.evaluate("document.documentElement.scrollWidth")
                if size == "phone" and width > PHONE["width"]:
                    wide[lang] = width
                section.screenshot(path=str(SHOTS / f"key-webhooks-{lang}-{size}.png"))
    assert not wide, f"the key page is wider than a phone: {wide}"


def test_a_key_without_webhooks_says_so(page, console):
    with console.engine.begin() as conn:
        conn.execute(text("DELETE FROM webhook_endpoints"))
    sign_in(page, console, "admin")
    page.goto(f"{console.url}/ui/keys/{console.key.id}")
    assert page.locator("#webhooks-none").is_visible()
