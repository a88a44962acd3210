"""The sign-in page tells how console accounts are made (``mailpipe admins create``) only
where that helps: a console with no account yet, or a password tried where no account has
one. A visitor of a console that has accounts is never told."""

from __future__ import annotations

from contextlib import contextmanager

from sqlalchemy import delete, insert, select, update

from shared.db.tables import console_users


@contextmanager
def accounts_changed(console, *, remove: bool = False, passwords: bool = True):
    """The console's accounts for a while: all removed, or their passwords taken away (as
    where everyone signs in with the company's identity provider); then put back."""
    with console.engine.begin() as conn:
        saved = [dict(row._mapping) for row in conn.execute(select(console_users))]
        if remove:
            conn.execute(delete(console_users))
        elif not passwords:
            conn.execute(update(console_users).values(password_hash=None))
    try:
        yield
    finally:
        with console.engine.begin() as conn:
            conn.execute(delete(console_users))
            conn.execute(insert(console_users), saved)


def _fail_sign_in(page, console) -> None:
    page.goto(f"{console.url}/ui/login")
    page.fill("input[name=email]", console.accounts["editor"][0])
    page.fill("input[name=password]", "not the password")
    page.click("button[type=submit].primary")
    page.locator("p.error").wait_for()


def test_a_visitor_of_a_console_with_accounts_is_not_told(korean_page, console):
    page = korean_page
    page.goto(f"{console.url}/ui/login")
    assert page.locator("#admin-hint").count() == 0
    assert "mailpipe admins" not in page.content()
    _fail_sign_in(page, console)  # a wrong password is no reason to tell either
    assert page.locator(".error").inner_text() == "이메일 또는 비밀번호가 올바르지 않습니다."
    assert page.locator("#admin-hint").count() == 0


def test_a_new_console_without_accounts_says_how_to_make_the_first(page, console):
    with accounts_changed(console, remove=True):
        page.goto(f"{console.url}/ui/login")
        assert page.locator("#admin-hint").inner_text() == (
            "This console has no accounts yet. Make the first administrator on the server "
            "with: mailpipe admins create EMAIL")
    page.goto(f"{console.url}/ui/login")
    assert page.locator("#admin-hint").count() == 0


def test_a_password_tried_where_no_account_has_one_says_how_to_make_one(korean_page,
                                                                         console):
    page = korean_page
    with accounts_changed(console, passwords=False):
        page.goto(f"{console.url}/ui/login")
        assert page.locator("#admin-hint").count() == 0  # accounts exist (company sign-in)
        _fail_sign_in(page, console)
        assert page.locator("#admin-hint").inner_text() == (
            "이 콘솔에는 로컬 계정이 없습니다. 관리자가 서버에서 다음 명령으로 만들 수 "
            "있습니다: mailpipe admins create EMAIL")
