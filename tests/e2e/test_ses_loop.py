"""SES's feedback loop end to end, as far as moto emulates it, over HTTP throughout.

``mailpipe ses setup`` makes the configuration set and its event destination in the
suite's scripted SES (moto's sesv2 keeps no event destinations) and the SNS topic and its
subscription to the api's /v1/events/results in moto's SNS. A message to SES's bounce
simulator goes through mailpipe's own path (the REST intake, the sender's claim and
SesTransport) to moto's SES, whose SNS signs and POSTs what it publishes to the api
(served from a thread), which verifies the signature with the certificate moto's SNS
serves and queues it for the recorder.

What moto does not do, and so what is not exercised here: SES publishing through a
configuration set's event destination (moto's SES publishes only identity notifications:
a fixed template naming a fixed messageId and recipient1@example.com, never the message
sent, and handed to its SNS as an object, so the SNS message's Message is not a string
and the api rightly refuses it as unsigned); EmailTags (moto drops them); SNS's
SubscriptionConfirmation (moto confirms HTTP subscriptions at once, so the api's
confirmation is proven in tests/api instead). So the bounce SES would publish for this
message (its MessageId and tags, as event publishing writes them) is published to the
topic by the test, and moto's SNS carries it like any other: signed with its own key,
to the subscription, through the api (which fetches moto's certificate to verify it)
to the recorder, which suppresses the address.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import boto3
import pytest
import requests
from sqlalchemy import text

from services.api.app import ApiDeps, create_app
from services.recorder.events import record_events
from services.ses import sns_client
from shared.broker.payloads import decode_events
from shared.broker.queues import EVENT_QUEUE
from shared.runtime.localservers import free_port
from shared.ses import setup as loop
from shared.transports.ses import SesTransport, ses_client
from tests.recorder.test_record_events import events_of, state, suppressed
from tests.support.browser import serving
from tests.support.pump import Pump, drain
from tests.support.sns import ses_event_publishing

BOUNCE = "bounce@simulator.amazonses.com"


class MotoSnsHttp:
    """SNS's HTTPS side, as moto's SNS serves it: the signing certificate at its path."""

    def __init__(self, moto_url: str) -> None:
        self.moto_url = moto_url
        self.fetched: list[str] = []

    def certificate(self, url: str) -> bytes:
        self.fetched.append(url)
        # moto's server picks the service of an unsigned GET by the credential scope an
        # Authorization header names (without one it answers as S3).
        scope = "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/sns/aws4_request"
        answer = requests.get(self.moto_url + urlsplit(url).path, timeout=5,
                              headers={"Authorization": scope})
        answer.raise_for_status()
        return answer.content

    def confirm_subscription(self, url: str) -> None:
        raise AssertionError(f"moto confirms subscriptions itself; asked to visit {url}")


@pytest.fixture
def moto_ses(ses_endpoint):
    """boto3's SES v2 client on moto, the sender's domain verified."""
    v2 = boto3.client("sesv2", endpoint_url=ses_endpoint, region_name="us-east-1")
    v2.create_email_identity(EmailIdentity="example.com")
    return v2


def v2_sent(ses_endpoint) -> list:
    """What moto's SES accepted (its backend, in this process)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    return ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages


def test_setup_then_a_bounce_simulator_send_comes_back_signed_and_suppresses(
        settings, engine, broker, redis, api_key, fake_ses, aws_env, ses_endpoint,
        monkeypatch, moto_ses):
    monkeypatch.setenv("AWS_ENDPOINT_URL_SNS", ses_endpoint)
    port = free_port()
    public_url = f"http://127.0.0.1:{port}"
    steps, topic = loop.setup(ses_client(settings), sns_client(settings),
                              loop.Plan(public_url, topic="loop-events"))
    assert [s.outcome for s in steps] == ["created"] * 4
    v2 = moto_ses
    api_settings = settings.model_copy(update={"sns_topic_arns": topic,
                                               "public_url": public_url})
    sns_http = MotoSnsHttp(ses_endpoint)
    app = create_app(ApiDeps(api_settings, engine, broker, redis, sns_http=sns_http))
    with serving(app, port):
        answer = requests.post(f"{public_url}/v1/messages", headers={"x-api-key": api_key[1]},
                               json={"messages": [{"topicId": "loop", "emails": [BOUNCE],
                                                   "subject": "s", "content": "<p>c</p>"}]},
                               timeout=10)
        assert answer.status_code == 200, answer.text
        (message_id,) = [m["id"] for m in answer.json()["messages"]]
        transport = SesTransport(v2, bulk=False)
        Pump(api_settings, engine, broker, redis, transport).run()
        assert state(engine, message_id) == "sent"
        (sent,) = [m for m in v2_sent(ses_endpoint) if BOUNCE in str(m.destinations)]
        assert sent.id == _provider_id(engine, message_id)
        # The bounce SES publishes through the event destination, by the test for moto.
        provider_id = _provider_id(engine, message_id)
        bounce = ses_event_publishing("HardBounce", provider_id, BOUNCE)
        bounce["mail"]["tags"] = {"mailpipe-message": [str(message_id)]}
        sns_client(settings).publish(TopicArn=topic, Message=json.dumps(bounce))
        (batch,) = drain(redis, EVENT_QUEUE, decode_events)
    assert sns_http.fetched and sns_http.fetched[0].startswith("https://sns.us-east-1.")
    record_events(engine, batch)
    assert state(engine, message_id) == "bounced"
    assert [e[1:3] for e in events_of(engine, message_id)] == [("bounced", "hard")]
    assert suppressed(engine) == [(BOUNCE, "bounce")]


def _provider_id(engine, message_id: int) -> str:
    with engine.connect() as conn:
        return conn.execute(text("SELECT provider_message_id FROM messages WHERE id = :id"),
                            {"id": message_id}).scalar_one()
