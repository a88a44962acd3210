"""OIDC sign-in through a real provider (Authlib's server parts) in a real browser."""

from __future__ import annotations

from tests.console.conftest import ALLOWED, OIDC_PASSWORD, REFUSED, TEAM, shot


def _sign_in_at_provider(page, console, email: str) -> None:
    page.goto(f"{console.url}/ui/login?next=/ui/templates")
    page.click("#oidc-sign-in")
    page.wait_for_url(f"{console.url.rsplit(':', 1)[0]}:{console.provider.port}/authorize*")
    assert "code_challenge_method=S256" in page.url and "nonce=" in page.url
    page.fill("#op-email", email)
    page.fill("#op-password", OIDC_PASSWORD)
    page.click("#op-submit")


def test_an_allowed_account_signs_in_with_oidc(page, console):
    _sign_in_at_provider(page, console, ALLOWED)
    page.wait_for_url(f"{console.url}/ui/templates")
    assert page.locator(".user").inner_text() == f"{ALLOWED} · editor"
    shot(page, "oidc-signed-in")


def test_an_account_of_an_allowed_domain_signs_in(page, console):
    _sign_in_at_provider(page, console, TEAM)
    page.wait_for_url(f"{console.url}/ui/templates")
    assert TEAM in page.locator(".user").inner_text()


def test_an_account_not_on_the_allowlist_is_turned_away(page, console):
    logins = console.provider.logins
    _sign_in_at_provider(page, console, REFUSED)
    page.wait_for_selector("#refused")
    assert console.provider.logins == logins + 1  # the provider did sign it in
    assert REFUSED in page.locator("#refused").inner_text()
    assert not [c for c in page.context.cookies() if c["name"] == "mp_session"]
    shot(page, "oidc-refused")
    page.goto(f"{console.url}/ui/plans")
    assert "/ui/login" in page.url


def test_a_callback_with_a_state_this_browser_did_not_start_is_refused(page, console):
    answer = page.goto(f"{console.url}/ui/auth/callback?state=forged&code=whatever")
    assert answer.status == 400
    assert not [c for c in page.context.cookies() if c["name"] == "mp_session"]
