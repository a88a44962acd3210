"""Sender identities in the console (admins only), read from an SES endpoint over HTTP:
moto's for verified identities and their DKIM, a small endpoint of our own for the states
moto never reports (pending, failed) and for throttling; an SES that cannot answer is a
message on the page with what to do, never a 500."""

from __future__ import annotations

import boto3
import pytest

from shared.db.keys import create_key
from tests.console.conftest import shot, sign_in
from tests.support.fake_identities import FakeIdentities, identity


def _row(page, name: str):
    return page.locator(f'#identities tr[data-identity="{name}"]')


def test_identities_show_their_verification_and_dkim_from_ses(page, console, aws_env):
    ses = boto3.client("sesv2", region_name="us-east-1")
    ses.create_email_identity(EmailIdentity="console-identities.example",
                              DkimSigningAttributes={"NextSigningKeyLength": "RSA_2048_BIT"})
    ses.create_email_identity(EmailIdentity="ops@console-identities.example")
    with console.engine.begin() as conn:
        key, _ = create_key(conn, "identities shop", ["console-identities.example"])
        create_key(conn, "identities nowhere", ["unverified-identities.example"])
    sign_in(page, console, "admin")
    page.click("header nav >> text=Sender identities")
    page.wait_for_url(f"{console.url}/ui/identities")
    domain = _row(page, "console-identities.example")
    assert domain.locator(".verification .chip").get_attribute("data-status") == "SUCCESS"
    assert domain.locator(".verification").inner_text() == "Verified"
    assert domain.locator(".dkim .chip").get_attribute("data-status") == "SUCCESS"
    assert "identities shop" in domain.locator(".keys").inner_text()
    address = _row(page, "ops@console-identities.example")
    assert address.locator(".dkim").inner_text() == "Not started"
    assert address.locator("td").nth(1).inner_text() == "Address"
    unserved = page.locator("#unserved").inner_text()
    assert "unverified-identities.example" in unserved and "identities nowhere" in unserved
    assert page.locator(f'#identities a[href="/ui/keys/{key.id}"]').count() == 2
    shot(page, "identities-moto")


@pytest.fixture
def fake_identities(monkeypatch):
    fake = FakeIdentities({
        "shop.example": identity(),
        "news.example": identity(verification="PENDING", dkim="PENDING"),
        "old.example": identity(verification="FAILED", dkim="FAILED"),
        "ops@shop.example": identity(kind="EMAIL_ADDRESS", dkim="NOT_STARTED", tokens=()),
    })
    for name, value in {"AWS_ENDPOINT_URL_SESV2": fake.url, "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    yield fake
    fake.close()


def test_pending_and_failed_identities_show_the_records_to_publish(korean_page, console,
                                                                    fake_identities):
    page = korean_page
    sign_in(page, console, "admin")
    page.goto(f"{console.url}/ui/identities")
    news = _row(page, "news.example")
    assert news.locator(".verification").inner_text() == "확인 중"
    assert news.locator(".dkim").inner_text() == "확인 중"
    assert _row(page, "old.example").locator(".dkim").inner_text() == "실패"
    assert _row(page, "shop.example").locator(".verification").inner_text() == "인증됨"
    news.locator("details.records summary").click()
    assert "tok1._domainkey.news.example → tok1.dkim.amazonses.com" in news.inner_text()
    assert _row(page, "shop.example").locator("details.records").count() == 0  # DKIM done
    shot(page, "identities-ko")


@pytest.mark.parametrize(("change", "words"), [
    ("throttle", "SES is throttling requests to read the account."),
    ("no_credentials", "mailpipe has no AWS credentials to read SES with."),
    ("wrong_key", "AWS refused mailpipe's credentials"),
])
def test_an_ses_that_cannot_answer_is_said_plainly(page, console, fake_identities,
                                                   monkeypatch, change, words):
    if change == "throttle":
        fake_identities.throttle = 1
    elif change == "no_credentials":
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                     "AWS_PROFILE"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
        monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    else:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIASOMEONEELSE")
    sign_in(page, console, "admin")
    answer = page.goto(f"{console.url}/ui/identities")
    assert answer.status == 200
    problem = page.locator("#ses-problem").inner_text()
    assert "SES could not be asked for the identities." in problem and words in problem
    assert page.locator("#identities").count() == 0
    if change == "throttle":
        shot(page, "identities-throttled")
