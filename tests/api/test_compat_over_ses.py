"""The compat APIs with the default transport, SES (moto's server): one send whose
destinations are To, Cc and Bcc, with Bcc in no header; and the Biz answer names the
Message-ID SES gives the mail (it replaces the one mailpipe wrote)."""

from __future__ import annotations

import boto3
import falcon.testing
import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from services.api.app import ApiDeps, create_app
from shared.settings import load_settings
from shared.transports import make_transport
from tests.support.pump import Pump


@pytest.fixture
def ses(aws_env):
    backend = ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
    backend.sent_messages.clear()
    boto3.client("sesv2").create_email_identity(EmailIdentity="nexus.co.kr")
    return backend


@pytest.fixture
def ses_settings(settings, api_key, aws_env):
    return load_settings(**{**settings.model_dump(), "transport": "ses", "aws_region": "us-east-1",
                            "biz_api_key": api_key[1], "default_from": "nexus@nexus.co.kr"},
                         _env_file=None)


def test_biz_send_with_cc_and_bcc_is_one_ses_send(ses_settings, engine, broker, redis, ses):
    client = falcon.testing.TestClient(create_app(ApiDeps(ses_settings, engine, broker, redis)))
    with Pump(ses_settings, engine, broker, redis, make_transport(ses_settings)).running():
        result = client.simulate_post("/email/send", json={
            "to": "<tony@nexus.co.kr>", "cc": "<kenneth@nexus.co.kr>,<amy@nexus.co.kr>,",
            "bcc": "<hidden@nexus.co.kr>", "subject": "타이틀", "body": "본문",
            "use_html": False,
        })
    assert (result.status_code, result.json["code"]) == (200, "200"), result.text
    [sent] = ses.sent_messages  # Raw: the Biz API fixes the Message-ID, Simple cannot
    assert set(sent.destinations) == {"tony@nexus.co.kr", "kenneth@nexus.co.kr",
                                      "amy@nexus.co.kr", "hidden@nexus.co.kr"}
    assert "hidden" not in sent.raw_data
    assert sent.source == "nexus@nexus.co.kr"


@pytest.mark.parametrize(("region", "host"), [("us-east-1", "email.amazonses.com"),
                                              ("eu-west-2", "eu-west-2.amazonses.com")])
def test_biz_answer_is_the_message_id_ses_gives_the_mail(ses_settings, engine, broker, redis,
                                                         aws_env, region, host):
    backend = ses_backends[DEFAULT_ACCOUNT_ID][region]
    backend.sent_messages.clear()
    boto3.client("sesv2", region_name=region).create_email_identity(EmailIdentity="nexus.co.kr")
    in_region = ses_settings.model_copy(update={"aws_region": region})
    client = falcon.testing.TestClient(create_app(ApiDeps(in_region, engine, broker, redis)))
    with Pump(in_region, engine, broker, redis, make_transport(in_region)).running():
        result = client.simulate_post("/email/send", json={
            "to": "<tony@nexus.co.kr>", "subject": "s", "body": "b"})
    assert result.status_code == 200, result.text
    [sent] = backend.sent_messages
    # SES writes <{its MessageId}@{host}>: that is what a later reply_id names.
    assert result.json == {"code": "200", "message_id": f"{sent.id}@{host}",
                           "id": result.json["id"]}


def test_biz_answer_before_ses_sent_it_has_no_message_id(ses_settings, engine, broker, redis,
                                                          ses):
    quick = ses_settings.model_copy(update={"max_sync_wait": 0.3})
    client = falcon.testing.TestClient(create_app(ApiDeps(quick, engine, broker, redis)))
    result = client.simulate_post("/email/send", json={"to": "<tony@nexus.co.kr>",
                                                       "subject": "s", "body": "b"})
    # Still sent later: code 200 (a Biz client must not send it again), HTTP 202, and no
    # Message-ID yet (SES will choose it).
    assert (result.status_code, result.json["code"], result.json["message_id"]) == (
        202, "200", ""), result.text
    assert result.json["message"].startswith("[Pending]")
    Pump(quick, engine, broker, redis, make_transport(quick)).run()
    assert len(ses.sent_messages) == 1
