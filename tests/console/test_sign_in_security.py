"""Sign-in cannot guess passwords fast or fill the API's memory; sessions end when they must."""

from __future__ import annotations

import http.client
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from urllib.parse import urlsplit

import requests
from sqlalchemy import text

from services.api.app import ApiDeps, create_app
from shared.db.console_accounts import create_session, oidc_user
from tests.console.conftest import ALLOWED
from tests.support.browser import serving

LOGIN = "/ui/login"


def _browser(url: str) -> tuple[requests.Session, str]:
    """A client holding the sign-in page's pre-session cookie, and its CSRF token."""
    client = requests.Session()
    page = client.get(f"{url}{LOGIN}", timeout=30).text
    return client, re.search(r'name="csrf" value="([^"]+)"', page).group(1)


def _sign_in(url: str, email: str, password: str) -> requests.Response:
    client, csrf = _browser(url)
    return client.post(f"{url}{LOGIN}",
                       data={"email": email, "password": password, "csrf": csrf},
                       allow_redirects=False, timeout=30)


@contextmanager
def _console_with(console, **settings) -> Iterator[str]:
    """The console under test, restarted with other settings on another port; its URL."""
    changed = console.settings.model_copy(update=settings)
    with serving(create_app(ApiDeps(changed, console.engine, console.broker,
                                    console.redis))) as port:
        yield f"http://127.0.0.1:{port}"


def test_failed_sign_ins_are_charged_to_the_addresss_failure_budget(console):
    email, password = console.accounts["viewer"]
    # A budget that does not refill during the test, however slow a verify is here.
    with _console_with(console, auth_failure_burst=5, auth_failure_rate=0.001) as url:
        try:
            answers = [_sign_in(url, email, "guess").status_code for _ in range(8)]
            assert answers == [401] * 5 + [429] * 3
            # Past the budget even the right password waits: nothing is verified.
            refused = _sign_in(url, email, password)
            assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
            assert "Too many failed sign-ins" in refused.text
        finally:
            for name in console.redis.scan_iter("*authfail*"):
                console.redis.delete(name)
        assert _sign_in(url, email, password).status_code == 303


def test_a_form_body_over_the_limit_is_refused_before_it_is_read(console):
    limit = console.settings.max_body_bytes
    parts = urlsplit(console.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    connection.putrequest("POST", LOGIN)
    connection.putheader("Content-Type", "application/x-www-form-urlencoded")
    connection.putheader("Content-Length", str(400 * 1024 * 1024))
    connection.endheaders()
    connection.send(b"email=a%40b.example&password=" + b"x" * 65536)
    answer = connection.getresponse()
    assert answer.status == 413, answer.read()
    assert b"body_too_large" in answer.read()
    connection.close()
    # A form at the limit is still read.
    client, csrf = _browser(console.url)
    small = client.post(f"{console.url}{LOGIN}", data={
        "email": "a@b.example", "password": "x" * (limit // 2), "csrf": csrf},
        allow_redirects=False, timeout=30)
    assert small.status_code == 401


def _session_count(console, email: str) -> int:
    with console.engine.connect() as conn:
        return conn.execute(text(
            "SELECT count(*) FROM console_sessions s JOIN console_users u ON u.id = s.user_id "
            "WHERE u.email = :email"), {"email": email}).scalar_one()


def test_sign_out_everywhere_ends_every_session_of_the_account(console):
    email, password = console.accounts["editor"]
    first, second = _browser(console.url), _browser(console.url)
    for client, csrf in (first, second):
        assert client.post(f"{console.url}{LOGIN}", data={
            "email": email, "password": password, "csrf": csrf},
            allow_redirects=False, timeout=30).status_code == 303
    assert _session_count(console, email) >= 2
    client = first[0]
    page = client.get(f"{console.url}/ui/templates", timeout=30).text
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    client.post(f"{console.url}/ui/logout", data={"csrf": csrf, "everywhere": "1"},
                allow_redirects=False, timeout=30)
    assert _session_count(console, email) == 0
    other = second[0].get(f"{console.url}/ui/templates", allow_redirects=False, timeout=30)
    assert other.status_code == 303 and "/ui/login" in other.headers["Location"]


def test_an_oidc_session_ends_when_the_allowlist_no_longer_admits_it(console):
    with console.engine.begin() as conn:
        user = oidc_user(conn, ALLOWED, f"{console.provider.url} alice", "editor")
        session_id = create_session(conn, user, None, timedelta(hours=1))
    cookies = {"mp_session": session_id}
    assert requests.get(f"{console.url}/ui/templates", cookies=cookies, allow_redirects=False,
                        timeout=30).status_code == 200
    # The operator removes alice from MAILPIPE_CONSOLE_ALLOW and restarts the API.
    with _console_with(console, console_allow="@team.example") as url:
        answer = requests.get(f"{url}/ui/templates", cookies=cookies, allow_redirects=False,
                              timeout=30)
    assert answer.status_code == 303 and "/ui/login" in answer.headers["Location"]
    assert _session_count(console, ALLOWED) == 0
