"""The unauthenticated SNS endpoint under malformed input: each is a 403 refusal naming
what is wrong, never a 500, and nothing reaches the recorder's queue."""

from __future__ import annotations

import json

import falcon.testing
import pytest

from services.api.app import ApiDeps, create_app
from shared.broker.queues import EVENT_QUEUE
from tests.support.settings import changed
from tests.support.sns import (
    CERT_URL,
    notification,
    ses_event_publishing,
)

URL = "/v1/events/results"


@pytest.fixture
def client(settings, engine, broker, redis, sns_http):
    app = create_app(ApiDeps(changed(settings, sns_raw_secret="raw-s3cret"), engine, broker,
                             redis, sns_http=sns_http))
    return falcon.testing.TestClient(app)


def refused(client, redis, body: bytes | str, **headers) -> dict:
    answer = client.simulate_post(URL, body=body, params={"token": "raw-s3cret"}, headers={
        "Content-Type": "text/plain; charset=UTF-8", "x-amz-sns-message-type": "Notification",
        "x-amz-sns-message-id": "m-1", "x-amz-sns-topic-arn": "arn:aws:sns:x:1:t", **headers})
    assert answer.status_code == 403, answer.text
    assert answer.json["code"] == "sns_not_verified"
    assert redis.llen(f"dramatiq:{EVENT_QUEUE}") == 0
    return answer.json


@pytest.mark.parametrize("field", ["Type", "SignatureVersion"])
@pytest.mark.parametrize("value", [["x"], {"a": 1}])
def test_unhashable_type_or_signature_version_is_refused(client, ca, redis, field, value):
    message = {**ca.sign(notification(ses_event_publishing("Delivery", "s"))), field: value}
    answer = refused(client, redis, json.dumps(message))
    assert field in answer["message"]


def test_bare_unhashable_type_is_refused(client, redis):
    refused(client, redis, json.dumps({"Type": ["x"], "Signature": "x"}))
    refused(client, redis, json.dumps({"SignatureVersion": ["1"]}))


@pytest.mark.parametrize("port", ["99999", "abc", "-1", ""])
def test_certificate_url_with_a_bad_port_is_refused_without_fetching(
    client, ca, redis, sns_http, port,
):
    url = CERT_URL.replace(".com/", f".com:{port}/")
    message = ca.sign({**notification(ses_event_publishing("Delivery", "s")),
                       "SigningCertURL": url})
    refused(client, redis, json.dumps(message))
    assert sns_http.fetched == []


@pytest.mark.parametrize("url", [["x"], "https://[::1/SimpleNotificationService-x.pem"])
def test_certificate_url_that_is_not_a_url_is_refused(client, ca, redis, url):
    message = {**ca.sign(notification(ses_event_publishing("Delivery", "s")))}
    message["SigningCertURL"] = url
    refused(client, redis, json.dumps(message))


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32", "utf-16-le"])
def test_a_body_in_another_encoding_than_utf8_is_refused(client, ca, redis, encoding):
    signed = json.dumps(ca.sign(notification(ses_event_publishing("Delivery", "s"))))
    raw = json.dumps(ses_event_publishing("Delivery", "s"))
    for body in (signed, raw):
        answer = refused(client, redis, body.encode(encoding))
        assert "UTF-8" in answer["message"] or "JSON" in answer["message"]


def test_raw_delivery_with_an_unhashable_event_type_is_acknowledged_and_ignored(client, redis):
    answer = client.simulate_post(URL, body=json.dumps({"eventType": ["Bounce"]}),
                                  params={"token": "raw-s3cret"}, headers={
                                      "x-amz-sns-message-type": "Notification",
                                      "x-amz-sns-message-id": "m-1",
                                      "x-amz-sns-topic-arn": "arn:aws:sns:x:1:t"})
    assert answer.status_code == 200, answer.text
    assert answer.json == {"accepted": 0}
    assert redis.llen(f"dramatiq:{EVENT_QUEUE}") == 0
