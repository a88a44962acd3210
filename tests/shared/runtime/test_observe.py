"""JSON log lines carry the context's fields; secrets and bodies never leave a process."""

from __future__ import annotations

import io
import json
import logging

import pytest

from shared.runtime.context import ContextFilter, fields_of, log_context, set_fields
from shared.runtime.observe import dress_handler
from shared.runtime.scrub import REDACTED, Scrubber, secret_values

SECRET_KEY = "s3cret-hmac-key-value"
SMTP_PASSWORD = "smtp-pa55word-value"
SNS_SECRET = "sns-raw-token-value"
API_KEY = "mp_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"


@pytest.fixture
def secret_settings(settings):
    return settings.model_copy(update={
        "secret_key": SECRET_KEY, "sns_raw_secret": SNS_SECRET, "log_format": "json",
        "smtp_password": __import__("pydantic").SecretStr(SMTP_PASSWORD)})


@pytest.fixture
def json_log(secret_settings):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    dress_handler(handler, "sender", secret_settings, Scrubber(secret_values(secret_settings)))
    logger = logging.getLogger("mailpipe.test.json")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)
    set_fields()


def lines(stream) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_every_json_line_has_the_standard_fields_and_the_context(json_log):
    logger, stream = json_log
    set_fields(message_ids=[1, 2, 3], event="delivered")
    logger.info("claimed %d rows", 3)
    with log_context(topic="news", key_id=7):
        logger.info("message %d to %s sent as %s (attempt %d)", 2, "a@example.com", "p", 1)
    logger.warning("plain", extra={"message_id": 99})
    first, second, third = lines(stream)
    for line in (first, second, third):
        assert {"timestamp", "level", "process", "pid", "logger", "message"} <= line.keys()
        assert line["process"] == "sender" and line["logger"] == "mailpipe.test.json"
    assert first["message_ids"] == [1, 2, 3] and first["event"] == "delivered"
    assert "message_id" not in first
    assert second["message_id"] == 2 and second["topic"] == "news" and second["key_id"] == 7
    assert third["message_id"] == 99 and third["level"] == "WARNING"


def test_json_lines_hold_tracebacks_and_no_secrets(json_log):
    logger, stream = json_log
    try:
        raise RuntimeError(f"login failed with {SMTP_PASSWORD} for {API_KEY}")
    except RuntimeError:
        logger.exception("GET /v1/events/open?t=%s&x=1 and ?token=%s", "tracktoken", SNS_SECRET)
    [line] = lines(stream)
    assert "RuntimeError" in line["exc_info"]
    text = json.dumps(line)
    for secret in (SMTP_PASSWORD, API_KEY, SNS_SECRET, "tracktoken"):
        assert secret not in text
    assert f"t={REDACTED}&x=1" in line["message"]


def test_scrubber_removes_keys_passwords_tokens_and_bodies(secret_settings):
    scrubber = Scrubber(secret_values(secret_settings))
    event = {
        "request": {
            "url": f"http://h/v1/events/results?token={SNS_SECRET}",
            "query_string": "t=opaque-tracking-token",
            "headers": [["X-Api-Key", API_KEY], ["Content-Type", "application/json"]],
            "data": {"key": "fureweb-key-123", "content": "<p>body</p>"},
        },
        "extra": {"html": "<p>private</p>", "text": "private", "nested": [{"password": "x1"}],
                  "note": f"secret {SECRET_KEY} in prose, smtp://u:{SMTP_PASSWORD}@host"},
        "exception": {"values": [{"value": f"bad key {API_KEY}"}]},
        "tags": {"process": "sender", "message_id": 5},
    }
    clean = scrubber.event(event)
    text = json.dumps(clean)
    for leak in (SNS_SECRET, "opaque-tracking-token", API_KEY, "fureweb-key-123", "<p>body</p>",
                 "<p>private</p>", "x1", SECRET_KEY, SMTP_PASSWORD):
        assert leak not in text, leak
    assert clean["request"]["headers"][1] == ["Content-Type", "application/json"]
    assert clean["tags"] == {"process": "sender", "message_id": 5}


def test_queue_payloads_name_their_messages_and_events():
    assert fields_of({"v": 1, "kind": "send", "ids": [4]}) == {"message_id": 4}
    assert fields_of({"v": 1, "kind": "send", "ids": list(range(30))})["message_ids"] == list(
        range(20))
    assert fields_of({"events": [{"message_id": 1, "type": "opened"},
                                 {"message_id": 2, "type": "clicked"}]}) == {
        "message_ids": [1, 2], "event": "clicked,opened"}
    assert fields_of("garbage") == {}


def test_context_filter_leaves_records_alone_without_context():
    set_fields()
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello %s", ("w",), None)
    assert ContextFilter().filter(record) and not hasattr(record, "topic")
