"""The outbox: events written with the change that causes them, one delivery per endpoint."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, text

from shared.db.outbox import MessageEvent, OutboundEvent, emit, emit_message_events
from shared.db.tables import webhook_endpoints
from shared.webhooks.events import OutboundEventType as T
from tests.support.stored_messages import store_messages

AT = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def endpoint(engine, key_id: int, **values) -> int:
    with engine.begin() as conn:
        return conn.execute(insert(webhook_endpoints).values(
            api_key_id=key_id, url="https://hooks.example.com/in", secret="x", **values,
        ).returning(webhook_endpoints.c.id)).scalar_one()


def outbox(engine) -> list[tuple]:
    """(type, message id, data) of every outbox row, in order."""
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(
            "SELECT type, message_id, data FROM webhook_events ORDER BY id"))]


def deliveries(engine) -> list[tuple]:
    """(endpoint id, event type) of every delivery, in order."""
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(
            "SELECT d.endpoint_id, e.type FROM webhook_deliveries d"
            " JOIN webhook_events e ON e.id = d.event_id WHERE d.state = 'pending'"
            " ORDER BY d.id"))]


def event(key_id: int, type: T = T.CAMPAIGN_COMPLETED, topic: str | None = "t") -> OutboundEvent:
    return OutboundEvent(type, key_id, AT, {"campaignId": 1}, topic_id=topic, campaign_id=1)


def test_no_event_is_written_for_a_key_without_an_endpoint(engine, api_key):
    with engine.begin() as conn:
        assert emit(conn, [event(api_key[0].id)]).events == 0
    assert outbox(engine) == []


def test_a_delivery_per_endpoint_whose_types_and_topics_match(engine, api_key):
    key_id = api_key[0].id
    every = endpoint(engine, key_id)
    sent_only = endpoint(engine, key_id, event_types=[T.MESSAGE_SENT.value])
    other_topic = endpoint(engine, key_id, topics=["other"])
    this_topic = endpoint(engine, key_id, topics=["t"],
                          event_types=[T.CAMPAIGN_COMPLETED.value])
    endpoint(engine, key_id, enabled=False, disabled_reason="manual")
    with engine.begin() as conn:
        written = emit(conn, [event(key_id), event(key_id, T.MESSAGE_SENT, topic=None)])
    assert (written.events, written.deliveries) == (2, 4)
    assert deliveries(engine) == [(every, "campaign.completed"), (this_topic, "campaign.completed"),
                                  (every, "message.sent"), (sent_only, "message.sent")]
    assert other_topic not in {d[0] for d in deliveries(engine)}


def test_a_rolled_back_transaction_leaves_no_event(engine, api_key):
    endpoint(engine, api_key[0].id)
    with pytest.raises(RuntimeError), engine.begin() as conn:
        emit(conn, [event(api_key[0].id)])
        raise RuntimeError("the change failed")
    assert outbox(engine) == [] and deliveries(engine) == []


def test_message_events_carry_the_rows_data(engine, api_key):
    key_id = api_key[0].id
    endpoint(engine, key_id)
    [mid] = store_messages(engine, key_id, ["a@example.com"], provider_message_id="p-1")
    with engine.begin() as conn:
        emit_message_events(conn, T.MESSAGE_BOUNCED,
                            [MessageEvent(mid, AT, {"bounceType": "hard"})])
    assert outbox(engine) == [("message.bounced", mid, {
        "messageId": mid, "topicId": "t", "recipient": "a@example.com",
        "providerMessageId": "p-1", "campaignId": None, "bounceType": "hard"})]
