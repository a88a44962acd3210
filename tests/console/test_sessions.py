"""Console infrastructure in a real browser: sessions, CSRF, CSP, sign-out, roles."""

from __future__ import annotations

import requests

from tests.console.conftest import shot, sign_in


def test_pages_need_a_session_and_a_local_account_signs_in_and_out(page, console):
    page.goto(f"{console.url}/ui/templates")
    assert "/ui/login?next=/ui/templates" in page.url
    shot(page, "login")
    email, password = console.accounts["editor"]
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", "not the password")
    page.click("button[type=submit].primary")
    assert page.locator(".error").inner_text() == "Wrong email or password."
    page.fill("input[name=password]", password)
    page.click("button[type=submit].primary")
    page.wait_for_url(f"{console.url}/ui/templates")
    cookie = next(c for c in page.context.cookies() if c["name"] == "mp_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and cookie["path"] == "/ui"
    assert not cookie["secure"]  # the public URL is http here
    page.click("#sign-out")
    page.wait_for_url(f"{console.url}/ui/login")
    assert not [c for c in page.context.cookies() if c["name"] == "mp_session"]
    # The old session id is gone on the server too, not only from the browser.
    answer = requests.get(f"{console.url}/ui/templates", cookies={"mp_session": cookie["value"]},
                          allow_redirects=False, timeout=5)
    assert answer.status_code == 303 and "/ui/login" in answer.headers["Location"]


def test_every_console_answer_has_a_content_security_policy(page, console):
    answer = page.goto(f"{console.url}/ui/login")
    policy = answer.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert answer.headers["x-frame-options"] == "DENY"


def test_a_state_changing_request_without_the_csrf_token_is_refused(page, console):
    sign_in(page, console, "editor")
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    form = {"name": "x", "subject": "s", "html": "<p>h</p>"}
    answer = requests.post(f"{console.url}/ui/templates/new", data=form, cookies=cookies,
                           allow_redirects=False, timeout=5)
    assert answer.status_code == 403
    csrf = page.locator('meta[name="csrf-token"]').get_attribute("content")
    answer = requests.post(f"{console.url}/ui/templates/new", data={**form, "csrf": csrf},
                           cookies=cookies, allow_redirects=False, timeout=5)
    assert answer.status_code == 303


def test_a_viewer_reads_but_the_server_refuses_every_change(page, console):
    sign_in(page, console, "viewer")
    page.goto(f"{console.url}/ui/templates")
    assert page.locator("#new-template").count() == 0
    shot(page, "viewer-templates")
    csrf = page.locator('meta[name="csrf-token"]').get_attribute("content")
    attempts = [
        ("/ui/templates/new", {"name": "v", "subject": "s", "html": "<p>h</p>"}),
        ("/ui/plans/1/cancel", {}),
        ("/ui/key", {"key": str(console.key.id)}),
    ]
    for path, data in attempts:
        answer = page.request.post(f"{console.url}{path}", form={**data, "csrf": csrf},
                                   max_redirects=0)
        assert answer.status == 403, path
    grid = page.request.post(f"{console.url}/ui/grids", headers={"X-CSRF-Token": csrf},
                             data={"name": "g", "columns": ["email"], "rows": []})
    assert grid.status == 403
    # Read-only helpers stay open to viewers.
    preview = page.request.post(f"{console.url}/ui/templates/preview",
                                headers={"X-CSRF-Token": csrf},
                                data={"subject": "Hi {{name}}", "html": "<p>x</p>"})
    assert preview.status == 200 and preview.json()["variables"] == ["name"]


def test_korean_is_chosen_from_the_browser_and_the_switch_changes_it(browser, console):
    context = browser.new_context(locale="ko-KR",
                                  extra_http_headers={"Accept-Language": "ko-KR,ko;q=0.9"})
    page = context.new_page()
    page.goto(f"{console.url}/ui/login?next=/ui/plans")
    assert page.locator("h1").inner_text() == "mailpipe 로그인"
    email, password = console.accounts["editor"]
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit].primary")
    page.wait_for_url(f"{console.url}/ui/plans")
    assert page.locator("nav a").all_inner_texts()[:5] == ["대시보드", "템플릿", "발송 대상",
                                                           "발송 계획", "발송 결과"]
    shot(page, "plans-korean")
    with page.expect_navigation(url=f"{console.url}/ui/plans"):  # back to this same page
        page.click("text=EN")
    assert page.locator("h1").inner_text() == "Send plans"
    context.close()


def test_pages_fit_a_phone(browser, console):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True,
                                  has_touch=True, locale="ko-KR")
    page = context.new_page()
    sign_in(page, console, "editor")
    for path, name in (("/ui/plans", "phone-plans"), ("/ui/templates/new", "phone-template"),
                       ("/ui/grids", "phone-grid")):
        page.goto(f"{console.url}{path}")
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 390, f"{path} is {width}px wide on a 390px phone"
        shot(page, name)
    context.close()
