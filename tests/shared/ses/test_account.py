"""The account read through boto3 over HTTP from the suite's scripted SES (moto's sesv2 has no
GetAccount and keeps no event destinations), and every way reading it can fail."""

from __future__ import annotations

import threading

import pytest

from shared.runtime.localservers import free_port
from shared.ses.account import AccountReader, SesUnavailable, read
from shared.settings import load_settings
from shared.transports.ses import ses_client
from tests.support.fake_ses_account import TOPIC

SETTINGS = load_settings(database_url="postgresql://unused/db", aws_region="us-east-1",
                         _env_file=None)


def fresh_client():
    """The client the sender and the scheduler use (``ses_client``), as the environment
    configures it now (fake_ses: the scripted SES)."""
    return ses_client(SETTINGS)


@pytest.fixture
def client(fake_ses):
    return fresh_client()


def test_a_new_account_reads_as_sandboxed_with_its_small_quota(client, fake_ses):
    fake_ses.reads.sandbox()
    reading = read(client, "mailpipe")
    account = reading.account
    assert not account.production and account.sending_enabled
    assert account.enforcement == "HEALTHY"
    assert (account.max_send_rate, account.max_24h, account.sent_24h) == (1, 200, 40)
    assert account.quota_used == pytest.approx(0.2)
    assert [(i.name, i.kind, i.verified) for i in reading.identities] == [
        ("me@elsewhere.example", "EMAIL_ADDRESS", True)]
    assert reading.configuration_set.name == "mailpipe"
    assert reading.configuration_set.destinations == ()
    assert reading.region == "us-east-1" and reading.errors == {}
    assert fake_ses.refused_signatures == []


def test_a_production_account_reads_with_its_sns_destination(client, fake_ses):
    fake_ses.reads.production()
    fake_ses.account["Details"] = {"ReviewDetails": {"Status": "GRANTED", "CaseId": "1234"}}
    reading = read(client, "mailpipe")
    assert reading.account.production and reading.account.review == "GRANTED"
    (destination,) = reading.configuration_set.destinations
    assert destination.kind == "SNS" and destination.enabled and destination.topic_arn == TOPIC
    assert {"DELIVERY", "BOUNCE", "COMPLAINT"} <= destination.types


def test_a_configuration_set_ses_does_not_have_reads_as_none(client, fake_ses):
    fake_ses.reads.production()
    reading = read(client, "not-there")
    assert reading.configuration_set_name == "not-there"
    assert reading.configuration_set is None and reading.errors == {}
    assert "GetConfigurationSetEventDestinations" not in fake_ses.reads.calls


def test_no_configuration_set_named_asks_for_none(client, fake_ses):
    reading = read(client, None)
    assert reading.configuration_set is None
    assert fake_ses.reads.calls == ["GetAccount", "ListEmailIdentities"]


def test_a_part_the_credentials_may_not_read_is_that_parts_error(client, fake_ses):
    fake_ses.reads.production()
    fake_ses.reads.refuse("ListEmailIdentities")
    fake_ses.reads.refuse("GetConfigurationSetEventDestinations")
    reading = read(client, "mailpipe")
    assert reading.account.production and reading.identities is None
    assert reading.errors["identities"].reason == "access_denied"
    assert "ses:ListEmailIdentities" in reading.errors["identities"].detail
    assert reading.errors["configuration_set"].operation == "GetConfigurationSetEventDestinations"


@pytest.mark.parametrize(("status", "code", "reason"), [
    (403, "AccessDeniedException", "access_denied"),
    (429, "TooManyRequestsException", "throttled"),
    (400, "ThrottlingException", "throttled"),
    (403, "UnrecognizedClientException", "credentials_refused"),
    (503, "ServiceUnavailable", "unreachable"),
    (500, "InternalFailure", "error"),
])
def test_get_account_refused_says_why(client, fake_ses, status, code, reason):
    fake_ses.reads.refuse("GetAccount", status, code, "no")
    with pytest.raises(SesUnavailable) as caught:
        read(client, "mailpipe")
    assert caught.value.reason == reason and caught.value.operation == "GetAccount"
    assert fake_ses.reads.calls == ["GetAccount"]  # nothing more is asked


def test_a_wrong_secret_reads_as_credentials_refused(fake_ses, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    with pytest.raises(SesUnavailable) as caught:
        read(fresh_client(), None)
    assert caught.value.reason == "credentials_refused"


def test_an_endpoint_nobody_answers_on_reads_as_unreachable(monkeypatch, fake_ses):
    monkeypatch.setenv("AWS_ENDPOINT_URL_SESV2", f"http://127.0.0.1:{free_port()}")
    with pytest.raises(SesUnavailable) as caught:
        read(fresh_client(), None)
    assert caught.value.reason == "unreachable"


def test_no_credentials_and_no_region_say_so(monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                 "AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ENDPOINT_URL_SESV2", f"http://127.0.0.1:{free_port()}")
    settings = SETTINGS.model_copy(update={"aws_region": None})
    with pytest.raises(SesUnavailable) as caught:
        AccountReader(lambda: ses_client(settings), None).reading()
    assert caught.value.reason == "no_region"
    with pytest.raises(SesUnavailable) as caught:
        AccountReader(lambda: ses_client(settings.model_copy(
            update={"aws_region": "eu-west-1"})), None).reading()
    assert caught.value.reason == "no_credentials"


def test_the_reader_asks_ses_at_most_once_per_ttl_even_when_it_fails(client, fake_ses):
    now = [1000.0]
    reader = AccountReader(lambda: client, "mailpipe", ttl=30, clock=lambda: now[0])
    fake_ses.reads.production()
    first = reader.reading()
    now[0] += 29
    assert reader.reading() is first
    assert fake_ses.reads.calls.count("GetAccount") == 1
    fake_ses.reads.refuse("GetAccount", 429, "TooManyRequestsException", "slow down")
    now[0] += 1
    for _ in range(3):
        with pytest.raises(SesUnavailable, match="slow down"):
            reader.reading()
    assert fake_ses.reads.calls.count("GetAccount") == 2


def test_readers_at_once_share_one_reading(client, fake_ses):
    reader = AccountReader(lambda: client, "mailpipe")
    threads = [threading.Thread(target=reader.reading) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert fake_ses.reads.calls.count("GetAccount") == 1
