"""A session that ends while a page is open: the page's scripts get 401 JSON with a code and
tell the user, with a link to sign in again; a browser asking for a page is sent to the
sign-in page and comes back where it was."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import requests
from sqlalchemy import text

from shared.db.templates import create_template
from shared.intake.campaigns import create_campaign, json_rows
from shared.intake.requests import CampaignRequest
from shared.rendering.mustache import TemplateSource
from tests.console.conftest import shot, sign_in


@pytest.fixture(scope="module")
def scheduled_plan(console) -> int:
    """A plan due in a day: the plans page keeps polling its progress."""
    with console.engine.begin() as conn:
        template = create_template(conn, console.key.id, "expiry", TemplateSource(
            "hello", "<p>hello</p>", None))
    plan = create_campaign(
        console.engine, console.key,
        CampaignRequest(name="내일 발송", template_id=template.id, topic_id="tomorrow",
                        scheduled_at=datetime.now(UTC) + timedelta(days=1)),
        lambda variables: json_rows([{"email": "t1@example.com"}]), console.settings)
    return plan.id


def _expire_sessions(console, email: str) -> None:
    """What time does to a session: its expiry passes (the row stays until swept)."""
    with console.engine.begin() as conn:
        conn.execute(text("UPDATE console_sessions SET expires_at = now() - interval '1 second' "
                          "WHERE user_id = (SELECT id FROM console_users WHERE email = :e)"),
                     {"e": email})


def test_a_plans_page_polling_when_the_session_expires_says_so_and_signs_in_again(
        korean_page, console, scheduled_plan):
    page = korean_page
    sign_in(page, console, "viewer")
    assert page.locator(f"#plan-{scheduled_plan}").is_visible()
    notice = page.locator("#session-ended")
    assert notice.is_hidden()
    with page.expect_response("**/ui/plans/progress") as polled:
        pass
    assert polled.value.status == 200

    _expire_sessions(console, console.accounts["viewer"][0])
    # The next poll is refused (its JSON: the test below); the page says why.
    with page.expect_response(lambda r: r.url.endswith("/ui/plans/progress")
                              and r.status == 401):
        pass
    notice.wait_for(state="visible")
    assert notice.get_attribute("role") == "alert"
    assert notice.inner_text() == "세션이 만료되었습니다. 다시 로그인하세요. 로그인"
    shot(page, "session-expired-korean")
    # The page stops asking once it knows (no request every 1.5 s for ever).
    calls: list[str] = []
    page.on("request", lambda r: calls.append(r.url) if "/plans/progress" in r.url else None)
    page.wait_for_timeout(3500)
    assert calls == []

    page.click("#session-ended a")
    page.wait_for_url(f"{console.url}/ui/login?next=/ui/plans")
    email, password = console.accounts["viewer"]
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit].primary")
    page.wait_for_url(f"{console.url}/ui/plans")
    assert page.locator("#session-ended").is_hidden()


def test_scripts_get_401_json_and_pages_a_redirect_to_sign_in(page, console):
    sign_in(page, console, "editor")
    cookie = next(c["value"] for c in page.context.cookies() if c["name"] == "mp_session")
    csrf = page.locator('meta[name="csrf-token"]').get_attribute("content")
    _expire_sessions(console, console.accounts["editor"][0])
    url = f"{console.url}/ui/plans/progress"
    jar = {"mp_session": cookie}

    def get(headers: dict, cookies=jar) -> requests.Response:
        return requests.get(url, headers=headers, cookies=cookies, allow_redirects=False,
                            timeout=5)

    # A script: it asks for JSON, sends the CSRF header, or its browser says it is a fetch.
    for headers in ({"Accept": "application/json"}, {"X-CSRF-Token": csrf},
                    {"Sec-Fetch-Mode": "cors", "Accept": "*/*"},
                    {"Sec-Fetch-Mode": "same-origin", "Accept": "*/*"}):
        answer = get(headers)
        assert answer.status_code == 401, headers
        assert answer.json() == {"code": "session_expired",
                                 "message": "Your session has expired. Please sign in again."}
    never_signed_in = get({"Accept": "application/json"}, cookies={})
    assert never_signed_in.status_code == 401
    assert never_signed_in.json()["code"] == "sign_in"

    # A page: the sign-in page, then back here.
    navigation = get({"Accept": "text/html,application/xhtml+xml,*/*;q=0.8",
                      "Sec-Fetch-Mode": "navigate"})
    assert navigation.status_code == 303
    assert navigation.headers["Location"] == "/ui/login?next=/ui/plans/progress"
    # A form sent from a page: back to that page after signing in (a POST cannot be replayed).
    form = requests.post(f"{console.url}/ui/plans/1/pause", data={"csrf": csrf}, cookies=jar,
                         headers={"Referer": f"{console.url}/ui/plans?resumed=1"},
                         allow_redirects=False, timeout=5)
    assert form.status_code == 303
    assert form.headers["Location"] == "/ui/login?next=/ui/plans%3Fresumed%3D1"


def test_a_save_from_the_template_editor_after_expiry_says_so(page, console):
    sign_in(page, console, "editor")
    page.goto(f"{console.url}/ui/templates/new")
    _expire_sessions(console, console.accounts["editor"][0])
    # Any request of mp.send (here the live preview, as the subject is typed) is refused.
    page.fill("#subject", "after expiry")
    page.locator("#session-ended").wait_for(state="visible")
    assert "Your session has expired" in page.locator("#session-ended").inner_text()
