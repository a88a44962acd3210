"""The console under test: the real API app (falcon, served by wsgiref in a thread) on the
suite's PostgreSQL and Redis, a real OIDC provider (tests/support/oidc_provider.py), and
Debian's chromium driven by Playwright.

Tests fail, never skip, when chromium is missing: scripts/test installs it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis as redis_lib
from sqlalchemy import text

from services.api.app import ApiDeps, create_app
from services.console.admins import create_account
from shared.broker.queues import make_broker
from shared.db.audit import entries
from shared.db.engine import make_engine
from shared.db.keys import create_key
from shared.runtime.localservers import free_port
from shared.settings import load_settings
from tests.support.browser import chromium, serving
from tests.support.oidc_provider import OidcProvider

SCREENSHOTS = Path(__file__).resolve().parents[1] / "results" / "screenshots"
#: A message's body as its page frames it (services/console/pages/messages.py).
MESSAGE_BODY = re.compile(r"https?://[^/]+/ui/messages/\d+/body")

#: Identities at the test OIDC provider, and who the console admits.
ALLOWED = "alice@allowed.example"
TEAM = "bob@team.example"
REFUSED = "mallory@elsewhere.example"
OIDC_PASSWORD = "provider-password"
ALLOW = f"{ALLOWED}, @team.example"


@dataclass
class ConsoleUnderTest:
    url: str
    settings: object
    engine: object
    broker: object
    redis: object
    provider: OidcProvider
    key: object
    #: ``key`` itself, for the REST API (x-api-key), as a producer calls it.
    api_key: str
    #: role → (email, password) of local accounts.
    accounts: dict[str, tuple[str, str]] = field(default_factory=dict)


@pytest.fixture(scope="session")
def browser():
    with chromium() as browser:
        yield browser


@pytest.fixture(scope="module")
def console(postgres, redis_server, tmp_path_factory):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    provider = OidcProvider({ALLOWED: OIDC_PASSWORD, TEAM: OIDC_PASSWORD,
                             REFUSED: OIDC_PASSWORD}, "console-test", "console-secret",
                            f"{url}/ui/auth/callback").start()
    settings = load_settings(
        database_url=postgres.url, redis_url=redis_server.url, transport="file",
        file_dir=tmp_path_factory.mktemp("outbox"), default_from="sender@example.com",
        send_rate=1, public_url=url, secret_key="console-test-secret",
        oidc_issuer=provider.url, oidc_client_id="console-test",
        oidc_client_secret="console-secret", console_allow=ALLOW,
        console_default_role="editor", _env_file=None,
    )
    engine = make_engine(settings.database_url)
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE events, messages, contents, api_keys, console_users "
                          "RESTART IDENTITY CASCADE"))
        key, api_key = create_key(conn, "console tests", [])
    client = redis_lib.Redis.from_url(settings.redis_url)
    client.flushall()
    broker = make_broker(settings)
    app = create_app(ApiDeps(settings, engine, broker, client))
    with serving(app, port):
        under_test = ConsoleUnderTest(url, settings, engine, broker, client, provider, key,
                                      api_key)
        for role in ("admin", "editor", "viewer"):
            email = f"{role}@local.example"
            under_test.accounts[role] = (email, create_account(engine, email, role))
        yield under_test
    provider.stop()
    broker.close()
    client.close()
    engine.dispose()


@pytest.fixture
def page(browser, console):
    """A fresh browser (no cookies) that speaks English, at desktop size."""
    yield from _fresh_page(browser, "en-US", "en-US,en;q=0.9")


@pytest.fixture
def korean_page(browser, console):
    """A fresh browser (no cookies) that speaks Korean, at desktop size."""
    yield from _fresh_page(browser, "ko-KR", "ko-KR,ko;q=0.9")


def _fresh_page(browser, locale: str, accept_language: str):
    context = browser.new_context(locale=locale, viewport={"width": 1280, "height": 900},
                                  extra_http_headers={"Accept-Language": accept_language})
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # Refused requests (401, 403) are expected in tests; script errors and CSP violations not,
    # but in a message's framed body, whose policy refuses what the message would load.
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error"
            and not msg.text.startswith("Failed to load resource")
            and not MESSAGE_BODY.fullmatch(msg.location.get("url", "")) else None)
    yield page
    context.close()
    # A script error or a CSP violation in the console is a failure, even if the test passed.
    assert not errors, errors


def shot(page, name: str, full_page: bool = True) -> Path:
    """Save a screenshot under tests/results/screenshots/ (looked at by a person)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def sign_in(page, console: ConsoleUnderTest, role: str, then: str = "/ui/plans") -> None:
    """Sign in with the local account of ``role``, landing on ``then`` ("/ui/": the
    console's home, the dashboard)."""
    email, password = console.accounts[role]
    page.goto(f"{console.url}/ui/login?next={then}")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit].primary")
    page.wait_for_url(f"{console.url}{then}")


@pytest.fixture
def audit_since(console) -> int:
    """The audit log's last id before the test: the log outlives the tables, and key ids
    start again with each test module, so a test reads only the entries after it."""
    with console.engine.connect() as conn:
        return conn.execute(text("SELECT coalesce(max(id), 0) FROM audit_log")).scalar()


def audited(console, action: str, target: str, since: int) -> list:
    """The audit entries of ``action`` on ``target`` written after id ``since``
    (``audit_since``), newest first."""
    with console.engine.connect() as conn:
        return [e for e in entries(conn, action=action, limit=500)
                if e.target == target and e.id > since]
