"""What the pipeline does with each SMTP answer: 4xx retried, 5xx failed, a drop after
the message unknown and never resent."""

from __future__ import annotations

import falcon.testing
import pytest
from sqlalchemy import select, text

from services.api.app import ApiDeps, create_app
from services.scheduler.dispatch import dispatch_due
from shared.db.tables import messages
from shared.settings import load_settings
from shared.transports import make_transport
from tests.support.pump import Pump


@pytest.fixture
def outbox(smtp_servers):
    return smtp_servers("plain")


@pytest.fixture
def smtp_settings(settings, outbox):
    return load_settings(**{**settings.model_dump(), "transport": "smtp",
                            "smtp_url": outbox.url}, _env_file=None)


@pytest.fixture
def send(smtp_settings, engine, broker, redis, api_key):
    client = falcon.testing.TestClient(create_app(ApiDeps(smtp_settings, engine, broker, redis)))
    pump = Pump(smtp_settings, engine, broker, redis, make_transport(smtp_settings))

    def post_and_pump() -> None:
        result = client.simulate_post("/v1/messages", headers={"x-api-key": api_key[1]}, json={
            "messages": [{"topicId": "t", "emails": ["a@example.net"], "subject": "s",
                          "content": "<p>c</p>"}]})
        assert result.status_code == 200, result.text
        pump.run()

    post_and_pump.pump = pump
    return post_and_pump


def row(engine):
    with engine.connect() as conn:
        return conn.execute(select(messages.c.state, messages.c.attempts,
                                   messages.c.error)).one()


def redispatch(engine, broker, settings):
    """The retry backoff or queue timeout has passed: the scheduler takes the row again."""
    with engine.begin() as conn:
        conn.execute(text("UPDATE messages SET due_at = now() - interval '1 second'"))
    dispatch_due(engine, broker, settings)


def test_temporary_refusal_is_retried_and_then_sent(send, outbox, engine, broker,
                                                     smtp_settings):
    outbox.behaviour.data_reply = "451 4.3.0 Try again later"
    send()
    state, attempts, error = row(engine)
    assert (state, attempts) == ("queued", 1) and "451" in error
    outbox.behaviour.data_reply = "250 OK"
    redispatch(engine, broker, smtp_settings)
    send.pump.run()
    assert row(engine)[:2] == ("sent", 2)
    assert len(outbox.received) == 2  # the refused attempt, then the accepted one


def test_permanent_refusal_fails_the_message(send, outbox, engine):
    outbox.behaviour.data_reply = "550 5.7.1 Relaying denied"
    send()
    state, attempts, error = row(engine)
    assert (state, attempts) == ("failed", 1) and "550" in error


def test_drop_after_the_message_is_unknown_and_not_resent(send, outbox, engine, broker,
                                                          smtp_settings):
    outbox.behaviour.drop_after_data = True
    send()
    assert row(engine)[0] == "unknown"
    outbox.behaviour.drop_after_data = False
    redispatch(engine, broker, smtp_settings)
    send.pump.run()
    assert row(engine)[:2] == ("unknown", 1)
    assert len(outbox.received) == 1
