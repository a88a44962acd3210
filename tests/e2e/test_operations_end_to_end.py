"""The real processes with JSON logs and Sentry on, secrets in play: every log line is JSON,
no log line and no error report holds a secret, and a sender's error reaches Sentry tagged."""

from __future__ import annotations

import json

import pytest
import requests

from shared.db.keys import create_key
from tests.support.sentry_server import SentryServer
from tests.support.sns import TOPIC, ses_event_publishing
from tests.support.stack import running_stack, settings_env, wait_for

SECRET_KEY = "hmac-Secret-Key-4711"
SMTP_PASSWORD = "outbox-Pa55-0815"
TENANT_PASSWORD = "tenant-Pa55-62402580"
SNS_SECRET = "sns-Raw-Token-9931"
BODY = "private-body-marker-2718"


@pytest.fixture
def sentry():
    server = SentryServer().start()
    yield server
    server.stop()


@pytest.fixture
def outbox(smtp_servers):
    return smtp_servers("starttls", users={"mailer": SMTP_PASSWORD})


@pytest.fixture
def stack(settings, engine, redis, smtp_cert, outbox, sentry, tmp_path):
    with engine.begin() as conn:
        _, api_key = create_key(conn, "ops", [])
    env = settings_env(
        settings, MAILPIPE_TRANSPORT="smtp", MAILPIPE_SMTP_URL=outbox.url,
        MAILPIPE_SMTP_USERNAME="mailer", MAILPIPE_SMTP_PASSWORD=SMTP_PASSWORD,
        MAILPIPE_SMTP_CA_FILE=str(smtp_cert[0]), MAILPIPE_SECRET_KEY=SECRET_KEY,
        MAILPIPE_SNS_RAW_SECRET=SNS_SECRET, MAILPIPE_TENANT_SMTP_PRIVATE="true",
        MAILPIPE_LOG_FORMAT="json", SENTRY_DSN=sentry.dsn, MAILPIPE_LOG_LEVEL="DEBUG",
    )
    with running_stack(env, tmp_path / "logs") as (_, url):
        yield url, api_key, tmp_path / "logs"


def send(url: str, api_key: str, topic: str, to: str) -> int:
    answer = requests.post(f"{url}/v1/messages", headers={"x-api-key": api_key}, timeout=10,
                           json={"messages": [{"topicId": topic, "emails": [to],
                                               "subject": "s", "content": f"<p>{BODY}</p>"}]})
    assert answer.status_code == 200, answer.text
    return answer.json()["messages"][0]["id"]


def test_logs_are_json_without_secrets_and_sender_errors_reach_sentry(
        stack, outbox, smtp_servers, sentry):
    url, api_key, log_dir = stack
    send(url, api_key, "ops", "first@example.net")
    wait_for(lambda: outbox.received, 60, "the first message at the SMTP server")

    # A Biz tenant send: the tenant's SMTP password comes in the request.
    tenant = smtp_servers("tls", users={"tenant@nexus.co.kr": TENANT_PASSWORD})
    answer = requests.post(f"{url}/email/multipart/tenant/send", headers={"x-api-key": api_key},
                           # A Biz send answers once sent (MAILPIPE_MAX_SYNC_WAIT at most).
                           files={"body": (None, BODY)}, timeout=40, data={
                               "smtp_url": f"smtps://127.0.0.1:{tenant.port}",
                               "user": "tenant@nexus.co.kr", "password": TENANT_PASSWORD,
                               "ssl": "true", "to": "<t@nexus.co.kr>", "subject": "s"})
    assert answer.json()["code"] == "200", answer.text
    # SNS raw delivery carries its secret in the URL (access log).
    headers = {"x-amz-sns-message-id": "raw-1", "x-amz-sns-topic-arn": TOPIC,
               "x-amz-sns-rawdelivery": "true", "x-amz-sns-message-type": "Notification",
               "Content-Type": "text/plain; charset=UTF-8"}
    answer = requests.post(f"{url}/v1/events/results", params={"token": SNS_SECRET},
                           data=json.dumps(ses_event_publishing("Delivery", "ses-x")),
                           headers=headers, timeout=10)
    assert answer.status_code == 200, answer.text
    # A message whose send ends ambiguous: the sender reports an error.
    outbox.behaviour.drop_after_data = True
    lost = send(url, api_key, "ops", "lost@example.net")

    def reported():
        return [e for e in sentry.events()
                if e.get("tags", {}).get("message_id") in (lost, str(lost))]

    [event] = wait_for(reported, 60, "the sender's error report at the Sentry server")
    wait_for(lambda: tenant.received, 60, "the tenant send")
    assert event["tags"]["process"] == "sender" and event["level"] == "error"
    assert "outcome unknown" in json.dumps(event)

    secrets = (api_key, SECRET_KEY, SMTP_PASSWORD, TENANT_PASSWORD, SNS_SECRET)
    for body in sentry.raw:
        for secret in (*secrets, BODY):
            assert secret.encode() not in body, secret
    logs = {path.name: path.read_text() for path in log_dir.glob("*.log")}
    assert set(logs) == {"api.log", "scheduler.log", "sender.log", "recorder.log"}
    for name, text in logs.items():
        for line in text.splitlines():
            record = json.loads(line)  # every line is one JSON object
            assert {"timestamp", "level", "process", "pid", "message"} <= record.keys(), line
        for secret in secrets:
            assert secret not in text, (name, secret)
    assert '"message_id"' in logs["sender.log"] and '"key_id"' in logs["api.log"]
