"""The compat APIs with the default transport, SES (moto's server): one send whose
destinations are To, Cc and Bcc, with Bcc in no header."""

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
    result = client.simulate_post("/email/send", json={
        "to": "<tony@nexus.co.kr>", "cc": "<kenneth@nexus.co.kr>,<amy@nexus.co.kr>,",
        "bcc": "<hidden@nexus.co.kr>", "subject": "타이틀", "body": "본문", "use_html": False,
    })
    assert result.json["code"] == "200", result.text
    Pump(ses_settings, engine, broker, redis, make_transport(ses_settings)).run()
    [sent] = ses.sent_messages  # Raw: the Biz API fixes the Message-ID, Simple cannot
    assert set(sent.destinations) == {"tony@nexus.co.kr", "kenneth@nexus.co.kr",
                                      "amy@nexus.co.kr", "hidden@nexus.co.kr"}
    assert "hidden" not in sent.raw_data
    assert sent.source == "nexus@nexus.co.kr"
