"""The SES account page in Chromium, in Korean and English, on a desktop and a phone: read
through boto3 over HTTP from the suite's scripted SES (moto's sesv2 has no GetAccount and
keeps no event destinations), with the client the sender uses (``ses_client``).

A new account shows the sandbox with what it means, its small quota, the sender with no
identity and the configuration set without an event destination, each with what to do; a
production account with everything in place shows no problem; an SES nobody answers for
is said on a 200 page. Screenshots go to /tmp/mailpipe-shots/ses-*.png.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from sqlalchemy import text

from services.api.app import ApiDeps, create_app
from shared.runtime.localservers import free_port
from shared.transports.ses import ses_client
from tests.support.browser import serving
from tests.support.console_pages import DESKTOP, PHONE
from tests.support.fake_ses import ScriptedSes
from tests.support.fake_ses_account import TOPIC

SHOTS = Path("/tmp/mailpipe-shots")
LOCALES = {"en": "en-US", "ko": "ko-KR"}


@pytest.fixture(scope="module")
def fake_ses_account():
    ses = ScriptedSes()
    yield ses
    ses.close()


def client_for(endpoint: str, settings):
    """``ses_client`` (the sender's and the scheduler's) as the environment would make it."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_ENDPOINT_URL_SESV2", endpoint)
        env.setenv("AWS_ACCESS_KEY_ID", "testing")
        env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        return ses_client(settings.model_copy(update={"aws_region": "us-east-1"}))


@contextmanager
def ses_console(console, endpoint: str, sns=None, subscribed: bool = True) -> Iterator[str]:
    """The console with SES at ``endpoint``, sending from news@example.com through the
    configuration set ``mailpipe``: a new app each time, so nothing read before is kept.
    ``sns`` (moto's): the destination topic there, its subscription to this console's api
    made when ``subscribed``."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = console.settings.model_copy(update={
        "transport": "ses", "ses_configuration_set": "mailpipe", "public_url": url,
        "default_from": "Shop <news@example.com>", "sns_topic_arns": TOPIC})
    if sns is not None:
        topic = sns.create_topic(Name=TOPIC.rpartition(":")[2])["TopicArn"]
        assert topic == TOPIC
        if subscribed:
            sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=f"{url}/v1/events/results")
    deps = ApiDeps(settings, console.engine, console.broker, console.redis,
                   ses=client_for(endpoint, settings), sns=sns)
    with serving(create_app(deps), port):
        yield url


@contextmanager
def ses_page(browser, console, url: str, lang: str, viewport: dict,
             role: str = "viewer") -> Iterator:
    """A browser in ``lang`` at ``viewport``, signed in as ``role``, on the SES page."""
    context = browser.new_context(locale=LOCALES[lang], viewport=viewport,
                                  timezone_id="Asia/Seoul", is_mobile=viewport is PHONE,
                                  extra_http_headers={"Accept-Language": LOCALES[lang]})
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    email, password = console.accounts[role]
    page.goto(f"{url}/ui/login?next=/ui/ses")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit].primary")
    page.wait_for_url(f"{url}/ui/ses")
    try:
        yield page
    finally:
        context.close()
    assert not errors, errors


def look(page, name: str, viewport: dict) -> None:
    """Save the page for a person to look at; on a phone, nothing scrolls sideways."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    size = "phone" if viewport is PHONE else "desktop"
    page.screenshot(path=str(SHOTS / f"ses-{name}-{size}.png"), full_page=True)
    if viewport is PHONE:
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def problems(page) -> list[str]:
    return page.eval_on_selector_all("[data-problem]", "els => els.map(e => e.dataset.problem)")


def fact(page, name: str) -> str:
    return page.inner_text(f'[data-fact="{name}"]')


@pytest.fixture
def moto_sns(ses_endpoint):
    """SNS: moto's server."""
    import boto3

    return boto3.client("sns", endpoint_url=ses_endpoint, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


@pytest.fixture
def no_events(console):
    with console.engine.begin() as conn:
        conn.execute(text("DELETE FROM events"))


def test_a_new_account_shows_the_sandbox_its_quota_and_what_is_missing_in_english(
        browser, console, fake_ses_account, no_events):
    fake_ses_account.reads.sandbox()
    with ses_console(console, fake_ses_account.url) as url:
        for viewport in (DESKTOP, PHONE):
            with ses_page(browser, console, url, "en", viewport) as page:
                assert problems(page) == ["sandbox", "identity_missing",
                                          "no_event_destination"]
                assert fact(page, "access") == "Sandbox"
                sandbox = page.inner_text("#sandbox")
                assert "only to addresses and domains verified in SES" in sandbox
                assert "at most 200 messages in 24 hours" in sandbox
                assert "at most 1 message per second" in sandbox
                assert "Account dashboard → Request production access" in sandbox
                assert fact(page, "quota").startswith("40 of 200 sent · 20%")
                assert fact(page, "rate") == "1 message per second"
                destination = page.inner_text('[data-problem="no_event_destination"]')
                assert "The configuration set mailpipe has no SNS event destination" \
                    in destination
                assert f"HTTPS subscription to {url}/v1/events/results" in destination
                assert "Amazon SNS" in destination
                missing = page.inner_text('[data-problem="identity_missing"]')
                assert "news@example.com" in missing and "Create identity" in missing
                row = page.inner_text('[data-sender="news@example.com"]')
                assert "the default From" in row and "none" in row
                assert fact(page, "destinations") == "none"
                assert fact(page, "last-event") == "none yet"
                look(page, "sandbox-en", viewport)
    # Two browsers, two page loads each: SES was asked once (the 30 s cache).
    assert fake_ses_account.reads.calls.count("GetAccount") == 1


def test_a_new_account_in_korean(browser, console, fake_ses_account, no_events):
    fake_ses_account.reads.sandbox()
    with ses_console(console, fake_ses_account.url) as url:
        for viewport in (DESKTOP, PHONE):
            with ses_page(browser, console, url, "ko", viewport) as page:
                assert problems(page) == ["sandbox", "identity_missing",
                                          "no_event_destination"]
                assert page.inner_text("h1") == "SES 계정"
                assert fact(page, "access") == "샌드박스"
                sandbox = page.inner_text("#sandbox")
                assert "샌드박스" in sandbox and "200" in sandbox and "1통" in sandbox
                assert "프로덕션 액세스" in sandbox
                assert "200" in fact(page, "quota") and "40" in fact(page, "quota")
                destination = page.inner_text('[data-problem="no_event_destination"]')
                assert "SNS" in destination and f"{url}/v1/events/results" in destination
                assert "해야 할 일" in destination
                look(page, "sandbox-ko", viewport)


def test_a_production_account_with_everything_in_place_has_no_problem(
        browser, console, fake_ses_account, no_events, moto_sns):
    fake_ses_account.reads.production()
    fake_ses_account.account["SendQuota"]["SentLast24Hours"] = 1234.0
    arrived = datetime.now(UTC) - timedelta(minutes=5)
    with console.engine.begin() as conn:
        conn.execute(text("INSERT INTO events (type, occurred_at, provider_message_id, "
                          "sns_message_id) VALUES ('delivered', :at, 'ses-1', 'sns-1')"),
                     {"at": arrived})
    with ses_console(console, fake_ses_account.url, moto_sns) as url:
        for lang in ("en", "ko"):
            for viewport in (DESKTOP, PHONE):
                with ses_page(browser, console, url, lang, viewport, role="admin") as page:
                    assert problems(page) == []
                    assert page.is_visible("#no-problems")
                    assert ("confirmed" if lang == "en" else "확인됨") in fact(
                        page, "subscriptions")
                    assert page.get_attribute('[data-fact="last-event"] time',
                                              "datetime") == arrived.isoformat()
                    assert "to-mailpipe" in fact(page, "destinations")
                    if lang == "en":
                        assert fact(page, "access") == "Production"
                        assert fact(page, "enforcement") == "Healthy"
                        assert fact(page, "quota").startswith("1,234 of 50,000 sent · 2%")
                        assert "Delivered" in fact(page, "last-event")
                    else:
                        assert fact(page, "access") == "프로덕션"
                    look(page, f"production-{lang}", viewport)


def test_an_ses_nobody_answers_for_is_said_on_the_page_not_a_500(browser, console,
                                                                  no_events):
    with ses_console(console, f"http://127.0.0.1:{free_port()}") as url:
        cookies = _signed_in_cookies(console, url)
        answer = requests.get(f"{url}/ui/ses", cookies=cookies, timeout=30)
        assert answer.status_code == 200 and 'id="ses-error"' in answer.text
        for lang in ("en", "ko"):
            for viewport in (DESKTOP, PHONE):
                with ses_page(browser, console, url, lang, viewport) as page:
                    error = page.inner_text("#ses-error")
                    if lang == "en":
                        assert "SES could not be read" in error
                        assert "SES could not be reached." in error
                        assert "AWS_ENDPOINT_URL_SESV2" in error
                    else:
                        assert "SES를 읽지 못했습니다" in error
                    assert "Could not connect to the endpoint URL" in error  # botocore's words
                    assert problems(page) == []
                    assert fact(page, "last-event")  # what mailpipe knows is still shown
                    look(page, f"unreachable-{lang}", viewport)


def test_access_denied_says_which_permission_is_missing(browser, console, fake_ses_account,
                                                        no_events):
    fake_ses_account.reads.production()
    fake_ses_account.reads.refuse("GetAccount")
    with ses_console(console, fake_ses_account.url) as url:
        with ses_page(browser, console, url, "en", DESKTOP) as page:
            error = page.inner_text("#ses-error")
            assert "may not read the SES account (GetAccount was denied)" in error
            assert "ses:GetAccount" in error and "not authorized" in error
    fake_ses_account.reads.refused.clear()


def _signed_in_cookies(console, url: str) -> dict:
    session = requests.Session()
    login = session.get(f"{url}/ui/login", timeout=10)
    csrf = login.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    email, password = console.accounts["viewer"]
    session.post(f"{url}/ui/login", data={"csrf": csrf, "email": email, "password": password},
                 timeout=30)
    return session.cookies.get_dict()


def test_a_destination_topic_not_subscribed_to_the_api_says_to_run_setup(
        browser, console, fake_ses_account, no_events, moto_sns):
    fake_ses_account.reads.production()
    with ses_console(console, fake_ses_account.url, moto_sns, subscribed=False) as url:
        for lang in ("en", "ko"):
            for viewport in (DESKTOP, PHONE):
                with ses_page(browser, console, url, lang, viewport) as page:
                    assert problems(page) == ["subscription_missing"]
                    problem = page.inner_text('[data-problem="subscription_missing"]')
                    assert "mailpipe ses setup --public-url" in problem
                    assert TOPIC in problem and f"{url}/v1/events/results" in problem
                    if lang == "en":
                        assert "has no subscription to" in problem
                        assert fact(page, "subscriptions").endswith("none to mailpipe")
                    else:
                        assert "구독이 없습니다" in problem and "해야 할 일" in problem
                    look(page, f"unsubscribed-{lang}", viewport)
