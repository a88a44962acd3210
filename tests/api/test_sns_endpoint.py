"""``POST /v1/events/results``: verified SNS messages reach the recorder, nothing else does."""

from __future__ import annotations

import base64
import json

import falcon.testing
import pytest

from services.api.app import ApiDeps, create_app
from shared.broker.payloads import EventType, decode_events
from shared.broker.queues import EVENT_QUEUE
from shared.settings import load_settings
from tests.support.settings import changed
from tests.support.sns import (
    EVENT_PUBLISHING,
    IDENTITY_NOTIFICATIONS,
    TOPIC,
    SigningAuthority,
    notification,
    ses_event_publishing,
    ses_identity_notification,
    subscription,
)

URL = "/v1/events/results"
EXPECTED_TYPES = {
    "Send": EventType.SENT, "Delivery": EventType.DELIVERED, "HardBounce": EventType.BOUNCED,
    "SoftBounce": EventType.BOUNCED, "Complaint": EventType.COMPLAINED,
    "Reject": EventType.REJECTED, "Open": EventType.OPENED, "Click": EventType.CLICKED,
    "Rendering Failure": EventType.RENDERING_FAILED, "DeliveryDelay": EventType.DELAYED,
    "Subscription": EventType.SUBSCRIPTION,
}


@pytest.fixture
def make_client(settings, engine, broker, redis, sns_http):
    def make(**overrides):
        app = create_app(ApiDeps(changed(settings, **overrides), engine, broker, redis,
                                 sns_http=sns_http))
        return falcon.testing.TestClient(app)

    return make


@pytest.fixture
def client(make_client):
    return make_client()


def queued_events(redis) -> list:
    key = f"dramatiq:{EVENT_QUEUE}"
    return [e for queue_id in redis.lrange(key, 0, -1)
            for e in decode_events(json.loads(redis.hget(f"{key}.msgs", queue_id))["args"][0]
                                   ).events]


def post(client, message, headers=None, **kwargs):
    body = message if isinstance(message, str | bytes) else json.dumps(message)
    headers = {"Content-Type": "text/plain; charset=UTF-8",
               "x-amz-sns-message-type": "Notification", **(headers or {})}
    return client.simulate_post(URL, body=body, headers=headers, **kwargs)


@pytest.mark.parametrize("version", ["1", "2"])
@pytest.mark.parametrize("kind", EVENT_PUBLISHING)
def test_every_event_publishing_type_is_queued_for_the_recorder(
    client, ca, redis, kind, version
):
    message = ca.sign(notification(ses_event_publishing(kind, "ses-1")), version)
    answer = post(client, message)
    assert answer.status_code == 200, answer.text
    [event] = queued_events(redis)
    assert event.type is EXPECTED_TYPES[kind]
    assert event.provider_message_id == "ses-1" and event.sns_message_id == message["MessageId"]
    assert event.payload["mail"]["messageId"] == "ses-1"
    if kind in ("HardBounce", "SoftBounce"):
        assert event.detail == ("hard" if kind == "HardBounce" else "soft")


@pytest.mark.parametrize("kind", IDENTITY_NOTIFICATIONS)
def test_every_identity_notification_type_is_queued_for_the_recorder(client, ca, redis, kind):
    answer = post(client, ca.sign(notification(ses_identity_notification(kind, "ses-2"))))
    assert answer.status_code == 200, answer.text
    [event] = queued_events(redis)
    assert event.type is EXPECTED_TYPES[kind] and event.provider_message_id == "ses-2"


@pytest.mark.parametrize("kind", ["Delivery", "HardBounce", "Complaint"])
def test_raw_delivery_with_the_secret_is_queued(make_client, redis, kind):
    client = make_client(sns_raw_secret="raw-s3cret")
    headers = {"x-amz-sns-message-id": "raw-1", "x-amz-sns-topic-arn": TOPIC,
               "x-amz-sns-rawdelivery": "true"}
    body = json.dumps(ses_event_publishing(kind, "ses-3"))
    assert post(client, body, headers, params={"token": "raw-s3cret"}).status_code == 200
    basic = base64.b64encode(b"sns:raw-s3cret").decode()
    assert post(client, body, {**headers, "Authorization": f"Basic {basic}",
                               "x-amz-sns-message-id": "raw-2"}).status_code == 200
    events = queued_events(redis)
    assert [e.sns_message_id for e in events] == ["raw-1", "raw-2"]
    assert {e.type for e in events} == {EXPECTED_TYPES[kind]}


def test_raw_delivery_without_the_secret_is_refused(make_client, redis):
    headers = {"x-amz-sns-message-id": "raw-1", "x-amz-sns-topic-arn": TOPIC}
    body = json.dumps(ses_event_publishing("Delivery", "ses-3"))
    assert post(make_client(), body, headers, params={"token": "x"}).status_code == 403
    client = make_client(sns_raw_secret="raw-s3cret")
    assert post(client, body, headers).status_code == 403
    assert post(client, body, headers, params={"token": "wrong"}).status_code == 403
    assert queued_events(redis) == []


def assert_refused(answer, redis) -> None:
    assert answer.status_code == 403, answer.text
    assert answer.json["code"] == "sns_not_verified"
    assert queued_events(redis) == []


def test_tampered_message_is_refused_and_nothing_queued(client, ca, redis):
    message = ca.sign(notification(ses_event_publishing("Delivery", "ses-1")))
    tampered = {**message, "Message": message["Message"].replace("Delivery", "Bounce")}
    assert_refused(post(client, tampered), redis)


def test_message_signed_by_another_key_is_refused(client, redis):
    forged = SigningAuthority().sign(notification(ses_event_publishing("Complaint", "ses-1")))
    assert_refused(post(client, forged), redis)


def test_certificate_url_off_sns_is_refused_without_fetching(client, ca, redis, sns_http):
    evil = "https://evil.example/SimpleNotificationService-x.pem"
    sns_http.certificates[evil] = ca.pem
    message = ca.sign({**notification(ses_event_publishing("Delivery", "s")),
                       "SigningCertURL": evil})
    assert_refused(post(client, message), redis)
    assert sns_http.fetched == []


@pytest.mark.parametrize("body", ["", "not json", "[]", '{"Type": "Notification"}'])
def test_junk_is_refused(client, redis, body):
    assert_refused(post(client, body), redis)


def test_topic_outside_the_allowlist_is_refused(make_client, ca, redis):
    client = make_client(sns_topic_arns="arn:aws:sns:us-east-1:1:other, arn:aws:sns:x:1:y")
    assert_refused(post(client, ca.sign(notification(ses_event_publishing("Send", "s")))), redis)
    allowed = notification(ses_event_publishing("Send", "s"), topic="arn:aws:sns:x:1:y")
    assert post(client, ca.sign(allowed)).status_code == 200


def test_replayed_message_is_queued_again_but_keeps_its_sns_id(client, ca, redis):
    # The recorder drops the second copy (same SNS MessageId): the endpoint need not know.
    message = ca.sign(notification(ses_event_publishing("Delivery", "ses-1")))
    assert post(client, message).status_code == 200
    assert post(client, message).status_code == 200
    assert {e.sns_message_id for e in queued_events(redis)} == {message["MessageId"]}


def test_subscription_is_confirmed_once_verified(client, ca, redis, sns_http):
    message = ca.sign(subscription(), "2")
    answer = post(client, message, {"x-amz-sns-message-type": "SubscriptionConfirmation"})
    assert answer.status_code == 200, answer.text
    assert sns_http.confirmed == [message["SubscribeURL"]]
    assert queued_events(redis) == []


def test_forged_subscription_is_not_confirmed(client, redis, sns_http):
    forged = SigningAuthority().sign(subscription())
    assert_refused(post(client, forged), redis)
    assert sns_http.confirmed == []


def test_unsubscribe_confirmation_is_acknowledged_and_not_acted_on(client, ca, redis, sns_http):
    answer = post(client, ca.sign(subscription("UnsubscribeConfirmation")))
    assert answer.status_code == 200 and sns_http.confirmed == []
    assert queued_events(redis) == []


def test_verified_message_that_is_not_from_ses_is_acknowledged_and_ignored(client, ca, redis):
    for body in ("hello from the console", {"notificationType": "AmazonSnsSubscriptionSucceeded"}):
        answer = post(client, ca.sign(notification(body)))
        assert answer.status_code == 200 and answer.json == {"accepted": 0}
    assert queued_events(redis) == []


def test_endpoint_needs_no_api_key(client, ca):
    # SNS cannot send one: the signature is the authentication.
    message = ca.sign(notification(ses_event_publishing("Send", "s")))
    assert post(client, message).status_code == 200


def test_failed_confirmation_answers_503_so_sns_sends_it_again(client, ca, sns_http):
    def unreachable(url):
        raise OSError("connection refused")

    sns_http.confirm_subscription = unreachable
    answer = post(client, ca.sign(subscription()))
    assert answer.status_code == 503 and answer.json["code"] == "confirmation_failed"


def test_notification_that_cannot_be_queued_answers_503_so_sns_retries(
    settings, engine, redis, ca, sns_http
):
    from shared.broker.queues import make_broker
    from shared.runtime.localservers import free_port

    dead = load_settings(**{**settings.model_dump(),
                            "redis_url": f"redis://127.0.0.1:{free_port()}/0"}, _env_file=None)
    broker = make_broker(dead)
    client = falcon.testing.TestClient(
        create_app(ApiDeps(dead, engine, broker, redis, sns_http=sns_http)))
    answer = post(client, ca.sign(notification(ses_event_publishing("Delivery", "ses-1"))))
    assert answer.status_code == 503, answer.text
