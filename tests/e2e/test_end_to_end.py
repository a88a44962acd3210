"""The four real processes, SES through moto's server over HTTP."""

from __future__ import annotations

from collections import Counter

import boto3
import pytest
import requests
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends
from sqlalchemy import text

from tests.support.stack import running_stack, settings_env, wait_for

SENDER = "sender@example.com"


def recipients_of(message) -> set[str]:
    """A moto message's recipients: a Simple one's Destination, or a raw one's envelope."""
    found = message.destinations
    return ({a for addresses in found.values() for a in addresses} if isinstance(found, dict)
            else set(found))


@pytest.fixture
def ses(aws_env):
    """moto's SES backend with the sender verified; reset between tests."""
    backend = ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
    backend.sent_messages.clear()
    boto3.client("sesv2").create_email_identity(EmailIdentity=SENDER)
    return backend


@pytest.fixture
def stack(settings, aws_env, engine, redis, tmp_path):
    # engine and redis first: an earlier test's rows and queue are gone before the
    # processes start (else this stack sends them, and an outcome of a truncated row
    # lands on the new row that got its id after RESTART IDENTITY).
    # moto's sesv2 has no SendBulkEmail: bulk sends are proven against the
    # suite's own SES endpoint (tests/sender/test_bulk.py).
    env = settings_env(settings, MAILPIPE_TRANSPORT="ses", MAILPIPE_SES_BULK="false")
    with running_stack(env, tmp_path / "logs", processes=2, threads=4) as (_, url):
        yield url


def _states(engine) -> Counter:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT state, count(*) FROM messages GROUP BY 1")).all()
    return Counter(dict(rows))


def test_each_posted_message_reaches_ses_exactly_once(stack, ses, engine, api_key):
    _, plain = api_key
    recipients = [f"user{i}@example.net" for i in range(60)]
    answer = requests.post(
        f"{stack}/v1/messages",
        headers={"x-api-key": plain},
        json={"messages": [
            {"topicId": "e2e", "emails": recipients[:30], "subject": "One", "content": "<p>1</p>"},
            {"topicId": "e2e", "emails": recipients[30:], "subject": "Two", "content": "<p>2</p>",
             "from": SENDER},
        ]},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    ids = [m["id"] for m in answer.json()["messages"]]
    assert len(ids) == 60

    wait_for(lambda: _states(engine)["sent"] == 60, 60, "60 messages sent")

    per_recipient = Counter(d for m in ses.sent_messages for d in recipients_of(m))
    assert len(ses.sent_messages) == 60
    assert per_recipient == Counter(recipients)
    ses_ids = {m.id for m in ses.sent_messages}
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT provider_message_id, attempts FROM messages")).all()
    assert {r.provider_message_id for r in rows} == ses_ids
    assert {r.attempts for r in rows} == {1}

    topic = requests.get(f"{stack}/v1/topics/e2e", headers={"x-api-key": plain}, timeout=5).json()
    assert topic["total"] == 60 and topic["status"] == {"sent": 60}
    one = requests.get(f"{stack}/v1/messages/{ids[0]}", headers={"x-api-key": plain}, timeout=5)
    assert one.json()["providerMessageId"] in ses_ids


def test_scheduled_message_is_sent_by_the_scheduler(stack, ses, engine, api_key):
    _, plain = api_key
    answer = requests.post(
        f"{stack}/v1/messages",
        headers={"x-api-key": plain},
        json={"messages": [{"topicId": "later", "emails": ["later@example.net"],
                            "subject": "Later", "content": "<p>later</p>",
                            "scheduledAt": "2000-01-01T00:00:00Z"}]},
        timeout=10,
    )
    assert answer.status_code == 200
    wait_for(lambda: _states(engine)["sent"] == 1, 30, "the scheduled message to be sent")
    assert [recipients_of(m) for m in ses.sent_messages] == [{"later@example.net"}]


def test_unverified_sender_ends_failed_with_ses_reason(stack, ses, engine, api_key):
    _, plain = api_key
    answer = requests.post(
        f"{stack}/v1/messages",
        headers={"x-api-key": plain},
        json={"messages": [{"topicId": "bad", "emails": ["x@example.net"], "subject": "S",
                            "content": "<p>c</p>", "from": "nobody@unverified.example"}]},
        timeout=10,
    )
    message_id = answer.json()["messages"][0]["id"]
    wait_for(lambda: _states(engine)["failed"] == 1, 30, "the message to fail")
    shown = requests.get(f"{stack}/v1/messages/{message_id}", headers={"x-api-key": plain},
                         timeout=5).json()
    assert shown["status"] == "failed" and shown["statusCode"] == 3
    assert "MessageRejected" in shown["error"]
    assert ses.sent_messages == []
