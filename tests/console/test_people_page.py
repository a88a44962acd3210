"""People in the console (admins only): an email invited for OIDC signs in with the role
given; a local account made in the browser (its password shown once) signs in, loses its
session when its role changes and cannot sign in once disabled; the last admin cannot
demote or disable themself; viewers and editors are refused by the server on every
people and audit route. Every change is in the audit log with who made it."""

from __future__ import annotations

import re

from shared.db.audit import entries
from shared.db.console_accounts import find_user
from shared.db.people import find_person
from tests.console.conftest import REFUSED, TEAM, shot, sign_in
from tests.console.test_oidc_sign_in import _sign_in_at_provider


def _audit(console, action: str, target: str):
    with console.engine.connect() as conn:
        return [e for e in entries(conn, action=action, limit=500) if e.target == target]


def _row(page, email: str):
    return page.locator(f'#people tr[data-email="{email}"]')


def _sign_in_with_password(page, console, email: str, password: str) -> None:
    page.goto(f"{console.url}/ui/login?next=/ui/plans")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit].primary")


def _new_browser(browser, locale: str = "en-US"):
    context = browser.new_context(locale=locale, viewport={"width": 1280, "height": 900},
                                  extra_http_headers={"Accept-Language": locale})
    context.set_default_timeout(10_000)
    return context


def test_an_invited_email_signs_in_by_oidc_with_the_role_given(page, browser, console):
    admin = console.accounts["admin"][0]
    sign_in(page, console, "admin")
    page.click("header nav >> text=People")
    page.wait_for_url(f"{console.url}/ui/people")
    page.click("#invite summary")
    page.fill("#invite-form input[name=email]", TEAM.upper())
    page.select_option("#invite-form select[name=role]", "viewer")
    page.click("#invite-person")
    page.wait_for_url(re.compile(r".*/ui/people\?done=invite&id=\d+$"))
    assert page.locator("#notice").inner_text().startswith(f"{TEAM} is invited as viewer.")
    assert _row(page, TEAM).locator(".status").inner_text() == "Invited"
    assert _row(page, TEAM).locator(".not-allowed").count() == 0

    # An email the allowlist does not admit may be invited; the page says it cannot sign in.
    page.click("#invite summary")
    page.fill("#invite-form input[name=email]", REFUSED)
    page.click("#invite-person")
    page.wait_for_url(re.compile(r".*done=invite.*"))
    assert "MAILPIPE_CONSOLE_ALLOW" in _row(page, REFUSED).locator(".not-allowed").inner_text()
    # An email with an account is not invited again (its role stays).
    page.click("#invite summary")
    page.fill("#invite-form input[name=email]", TEAM)
    page.select_option("#invite-form select[name=role]", "admin")
    with page.expect_response(f"{console.url}/ui/people/invite") as answer:
        page.click("#invite-person")
    assert answer.value.status == 409
    assert page.locator("#invite-error").inner_text() == f"{TEAM} already has an account."
    shot(page, "people-invite-error")

    context = _new_browser(browser)
    invited = context.new_page()
    _sign_in_at_provider(invited, console, TEAM)
    invited.wait_for_url(f"{console.url}/ui/templates")
    assert invited.locator(".user").inner_text() == f"{TEAM} · viewer"
    context.close()
    context = _new_browser(browser)
    refused = context.new_page()
    _sign_in_at_provider(refused, console, REFUSED)
    refused.wait_for_selector("#refused")  # invited, but not on the allowlist
    context.close()

    page.goto(f"{console.url}/ui/people")
    row = _row(page, TEAM)
    assert row.locator(".status").inner_text() == "Active"
    assert row.locator(".kind").inner_text() == "Identity provider"
    assert row.locator("time").count() == 1  # its last sign-in
    shot(page, "people")
    invite, = _audit(console, "person.invite", TEAM)
    assert (invite.actor, invite.actor_kind, invite.address) == (admin, "console", "127.0.0.1")
    assert invite.after == {"role": "viewer", "status": "invited", "kind": "oidc"}


def test_a_local_account_signs_in_loses_its_session_with_its_role_and_is_disabled(
        korean_page, browser, console):
    page, email = korean_page, "dana@local.example"
    admin = console.accounts["admin"][0]
    sign_in(page, console, "admin", then="/ui/people")
    page.click("#local summary")
    page.fill("#local-form input[name=email]", "Dana@Local.example")
    page.select_option("#local-form select[name=role]", "editor")
    page.click("#create-local")
    assert page.locator("#created h1").inner_text() == f"{email} 계정을 만들었습니다"
    assert "한 번만" in page.locator("#created").inner_text()
    password = page.input_value("#new-password")
    assert len(password) >= 16
    assert "역할은 편집자입니다" in page.locator("#created").inner_text()
    assert page.locator("header .user .role").inner_text() == "관리자"  # still the admin's
    shot(page, "person-created-ko")
    page.click("#all-people")
    assert password not in page.content()
    assert _row(page, email).locator(".kind").inner_text() == "비밀번호"

    context = _new_browser(browser)
    dana = context.new_page()
    _sign_in_with_password(dana, console, email, password)
    dana.wait_for_url(f"{console.url}/ui/plans")
    assert dana.locator(".user").inner_text() == f"{email} · editor"

    # A new role ends the account's open session: its next request lands on sign-in.
    _row(page, email).locator("select[name=role]").select_option("viewer")
    _row(page, email).locator("button[data-role-of]").click()
    page.wait_for_url(re.compile(r".*done=role.*"))
    assert page.locator("#notice").inner_text() == (
        f"{email} 님의 역할이 열람자(으)로 바뀌었습니다. 열려 있던 세션은 모두 종료되었습니다.")
    dana.goto(f"{console.url}/ui/templates")
    assert "/ui/login" in dana.url
    _sign_in_with_password(dana, console, email, password)
    dana.wait_for_url(f"{console.url}/ui/plans")
    assert dana.locator(".user").inner_text() == f"{email} · viewer"

    # Disabled: the session ends and the password no longer signs in.
    page.once("dialog", lambda dialog: dialog.accept())
    _row(page, email).locator("button[data-disable]").click()
    page.wait_for_url(re.compile(r".*done=disable.*"))
    assert _row(page, email).locator(".status").inner_text() == "비활성화됨"
    shot(page, "people-ko")
    dana.goto(f"{console.url}/ui/templates")
    assert "/ui/login" in dana.url
    _sign_in_with_password(dana, console, email, password)
    assert dana.locator(".error").inner_text() == "Wrong email or password."
    assert "/ui/login" in dana.url

    page.click(f'button[data-enable="{email}"]')
    page.wait_for_url(re.compile(r".*done=enable.*"))
    _sign_in_with_password(dana, console, email, password)
    dana.wait_for_url(f"{console.url}/ui/plans")
    context.close()

    steps = [("person.create", None, {"role": "editor", "status": "active", "kind": "local"}),
             ("person.role", {"role": "editor"}, {"role": "viewer"}),
             ("person.disable", {"role": "viewer", "status": "active"},
              {"role": "viewer", "status": "disabled"}),
             ("person.enable", {"role": "viewer", "status": "disabled"},
              {"role": "viewer", "status": "active"})]
    for action, before, after in steps:
        entry, = _audit(console, action, email)
        assert (entry.actor, entry.before, entry.after) == (admin, before, after), action
        assert password not in str(entry.after)


def test_a_new_password_is_shown_once_and_the_old_one_stops_working(page, browser, console):
    sign_in(page, console, "admin", then="/ui/people")
    page.click("#local summary")
    page.fill("#local-form input[name=email]", "erin@local.example")
    page.click("#create-local")
    first = page.input_value("#new-password")
    page.click("#all-people")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click('button[data-password="erin@local.example"]')
    assert page.locator("#created h1").inner_text() == "New password for erin@local.example"
    second = page.input_value("#new-password")
    assert second != first
    context = _new_browser(browser)
    erin = context.new_page()
    _sign_in_with_password(erin, console, "erin@local.example", first)
    assert erin.locator(".error").inner_text() == "Wrong email or password."
    _sign_in_with_password(erin, console, "erin@local.example", second)
    erin.wait_for_url(f"{console.url}/ui/plans")
    context.close()
    assert _audit(console, "person.password", "erin@local.example")


def test_the_last_admin_cannot_demote_or_disable_themself(page, browser, console):
    admin = console.accounts["admin"][0]
    sign_in(page, console, "admin", then="/ui/people")
    row = _row(page, admin)
    assert row.locator(".chip", has_text="you").count() == 1
    row.locator("select[name=role]").select_option("editor")
    row.locator("button[data-role-of]").click()
    assert page.locator("#people-error").inner_text() == (
        "The console would have no admin left: make another account an admin first.")
    page.once("dialog", lambda dialog: dialog.accept())
    _row(page, admin).locator("button[data-disable]").click()
    assert "no admin left" in page.locator("#people-error").inner_text()
    shot(page, "people-last-admin")
    with console.engine.connect() as conn:
        assert find_user(conn, admin).role == "admin"

    # With another admin, an admin may step down: their own session ends.
    page.click("#local summary")
    page.fill("#local-form input[name=email]", "second-admin@local.example")
    page.select_option("#local-form select[name=role]", "admin")
    page.click("#create-local")
    password = page.input_value("#new-password")
    context = _new_browser(browser)
    second = context.new_page()
    _sign_in_with_password(second, console, "second-admin@local.example", password)
    second.goto(f"{console.url}/ui/people")
    mine = _row(second, "second-admin@local.example")
    mine.locator("select[name=role]").select_option("editor")
    mine.locator("button[data-role-of]").click()
    second.wait_for_url(re.compile(r".*/ui/login\?next=.*"))
    context.close()
    with console.engine.connect() as conn:
        assert find_person(conn, "second-admin@local.example").role == "editor"


def test_viewers_and_editors_are_refused_every_people_and_audit_route(page, console):
    with console.engine.connect() as conn:
        target = find_person(conn, console.accounts["viewer"][0])
    for role in ("viewer", "editor"):
        sign_in(page, console, role)
        assert page.locator("header nav >> text=People").count() == 0
        assert page.locator("header nav >> text=Audit log").count() == 0
        for path in ("/ui/people", "/ui/audit", "/ui/audit/export?charset=cp949"):
            assert page.goto(f"{console.url}{path}").status == 403, (role, path)
        assert "does not allow you to see this page" in page.locator("main").inner_text()
        csrf = page.locator('meta[name="csrf-token"]').get_attribute("content")
        posts = [("/ui/people/invite", {"email": "sneaky@team.example", "role": "admin"}),
                 ("/ui/people/local", {"email": "sneaky@local.example", "role": "admin"}),
                 (f"/ui/people/{target.id}/role", {"role": "admin"}),
                 (f"/ui/people/{target.id}/disable", {}),
                 (f"/ui/people/{target.id}/enable", {}),
                 (f"/ui/people/{target.id}/password", {})]
        for path, data in posts:
            answer = page.request.post(f"{console.url}{path}", form={**data, "csrf": csrf},
                                       max_redirects=0)
            assert answer.status == 403, (role, path)
        page.context.clear_cookies()
    with console.engine.connect() as conn:
        assert find_person(conn, "sneaky@team.example") is None
        assert find_person(conn, "sneaky@local.example") is None
        after = find_person(conn, target.email)
    assert (after.role, after.status, after.local) == ("viewer", "active", True)


def test_an_account_that_is_not_there_is_the_consoles_404(page, console):
    sign_in(page, console, "admin")
    csrf = page.locator('meta[name="csrf-token"]').get_attribute("content")
    answer = page.request.post(f"{console.url}/ui/people/987654/disable",
                               form={"csrf": csrf})
    assert answer.status == 404
    assert "There is no account 987654." in answer.text()
