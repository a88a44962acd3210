"""A console address with nothing behind it (no such page, or no such message, template,
version, plan or list for the acting key): the console's own 404 page, in the reader's
language, with the menu and a way back; the pages' scripts get JSON instead."""

from __future__ import annotations

import pytest
from falcon import testing

from services.api.app import ApiDeps, create_app
from shared.db.templates import create_template
from shared.rendering.mustache import TemplateSource
from tests.console.conftest import shot, sign_in

MISSING = 99999


@pytest.fixture(scope="module")
def template_id(console) -> int:
    with console.engine.begin() as conn:
        return create_template(conn, console.key.id, "404 test", TemplateSource(
            "subject", "<p>body</p>", None)).id


def test_a_missing_row_or_page_is_the_console_404_page_in_korean(korean_page, console,
                                                                   template_id):
    page = korean_page
    sign_in(page, console, "viewer")
    cases = [  # (path, what the page says, where its link goes back to)
        (f"/ui/messages/{MISSING}", f"{MISSING}번 메시지가 없습니다.", "/ui/messages"),
        (f"/ui/templates/{MISSING}", f"{MISSING}번 템플릿이 없습니다.", "/ui/templates"),
        (f"/ui/templates/{template_id}?version=7",
         f"{template_id}번 템플릿에는 버전 7이(가) 없습니다.", "/ui/templates"),
        (f"/ui/grids/{MISSING}", f"{MISSING}번 대상 목록이 없습니다.", "/ui/grids"),
        (f"/ui/results?plan={MISSING}", f"{MISSING}번 발송 계획이 없습니다.", "/ui/plans"),
        ("/ui/no-such-page", "이 주소에는 페이지가 없습니다.", "/ui/"),
        ("/ui/messages/abc", "이 주소에는 페이지가 없습니다.", "/ui/"),
    ]
    for path, reason, back in cases:
        answer = page.goto(f"{console.url}{path}")
        assert answer.status == 404, path
        assert answer.headers["content-type"].startswith("text/html"), path
        assert page.locator("h1").inner_text() == "페이지를 찾을 수 없습니다", path
        assert page.locator("#not-found p").first.inner_text() == reason, path
        # Signed in: the menu is there, and the page keeps the console's security headers.
        assert {"템플릿", "발송 대상", "발송 계획", "발송 결과"} <= set(
            page.locator("nav a").all_inner_texts()), path
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
        assert page.locator("#back").get_attribute("href") == back, path
    shot(page, "not-found-korean")
    page.goto(f"{console.url}/ui/messages/{MISSING}")
    page.click("#back")
    page.wait_for_url(f"{console.url}/ui/messages")


def test_a_plan_action_on_a_missing_plan_is_the_404_page(page, console):
    sign_in(page, console, "editor")
    csrf = page.locator('meta[name="csrf-token"]').get_attribute("content")
    for path in (f"/ui/plans/{MISSING}/pause", "/ui/plans/1/launch"):
        answer = page.request.post(f"{console.url}{path}", form={"csrf": csrf},
                                   max_redirects=0)
        assert answer.status == 404, path
        assert "<h1>Page not found</h1>" in answer.text(), path


def test_a_visitor_not_signed_in_gets_the_page_without_the_menu(page, console):
    answer = page.goto(f"{console.url}/ui/nothing/here")
    assert answer.status == 404
    assert page.locator("h1").inner_text() == "Page not found"
    assert page.locator("nav").count() == 0
    page.click("#back")  # the console's home: sign-in first
    page.wait_for_url("**/ui/login?next=**")


def test_the_pages_scripts_still_get_json(korean_page, console):
    page = korean_page
    sign_in(page, console, "viewer")
    answers = page.evaluate("""async () => {
        const asked = [
            ["/ui/messages/99999", {headers: {Accept: "application/json"}}],
            ["/ui/messages/99999", {}],  // a fetch says so itself: Sec-Fetch-Mode: cors
            ["/ui/no-such-page", {headers: {Accept: "application/json"}}],
        ];
        const out = [];
        for (const [url, options] of asked) {
            const r = await fetch(url, options);
            out.push([r.status, r.headers.get("content-type"), await r.json()]);
        }
        return out;
    }""")
    for status, content_type, body in answers:
        assert status == 404 and content_type.startswith("application/json")
        assert body["code"] == "not_found"
    assert answers[0][2]["message"] == "99999번 메시지가 없습니다."
    assert answers[2][2]["message"] == "이 주소에는 페이지가 없습니다."


def test_the_api_keeps_its_own_404(page, console):
    answer = page.request.get(f"{console.url}/v1/no-such-thing")
    assert answer.status == 404 and answer.json()["code"] == "not_found"
    missing = page.request.get(f"{console.url}/ui/static/no-such-file.js")
    assert missing.status == 404  # a missing asset is no page


def test_sign_in_with_a_provider_the_console_has_none_of_is_no_page(console):
    settings = console.settings.model_copy(update={"oidc_client_id": None})
    app = create_app(ApiDeps(settings, console.engine, console.broker, console.redis))
    client = testing.TestClient(app)
    for path in ("/ui/auth/oidc", "/ui/auth/callback"):
        answer = client.simulate_get(path, headers={"Accept-Language": "en"})
        assert answer.status_code == 404, path
        assert "Sign-in with an identity provider is not configured here." in answer.text
